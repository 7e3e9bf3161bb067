// One kernel file of native/kernels compiled on its own, for mutants.py: linked with a harness object built
// with -DDFER_EMU_WEAK_KERNELS, its (strong) kernels replace the harness's weak copies, so a mutated kernel
// file costs one small compile instead of a whole harness build.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -DDFER_KERNEL_SOURCE='"/tmp/m/conv3d.cu"' \
//       -c -o kernel.o native/emu/kernel_object.cpp
#include "cuda_emu.h"

#ifndef DFER_KERNEL_SOURCE
#error "name the kernel file: -DDFER_KERNEL_SOURCE='\"path/to/file.cu\"'"
#endif
#include DFER_KERNEL_SOURCE
