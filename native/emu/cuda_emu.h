// CPU emulator for the CUDA subset used by native/kernels/*.cu (contract: docs/kernel-interface.md;
// emulator: native/emu/README.md). Compiled with g++ -std=c++20 -DDFER_EMULATE; common.cuh includes this
// header for its wrapper section, so the kernel sources compile unchanged on the host.
//
// Model:
//  - blocks run one after another; the threads of a block are user-level fibers on ONE OS thread
//    (own x86-64 context switch; ucontext elsewhere). A fiber runs until it blocks at __syncthreads
//    or a warp-collective op, so the run is deterministic. Threads run in order 0,1,2,... up to their
//    next barrier, which exposes missing barriers (a reader runs before the writers of later threads).
//  - __shared__ is `static` placed in the ELF section "dfer_shared" (bounds known, poisoned with 0xFF
//    bytes = NaN in f32/bf16/f16 at every block start); DFER_DYNAMIC_SMEM gives the per-launch dynamic
//    buffer, also poisoned at every block start.
//  - warp collectives (mma, ldmatrix, shfl): every lane posts its operands; the last lane to arrive
//    performs the op for the whole warp exactly as the PTX ISA defines it, then all continue.
//  - cp.async is asynchronous: cp_async_16 poisons its destination (contents undefined while in flight)
//    and queues the copy in the thread's open group; commit closes it; wait<N> performs all but the
//    newest N committed groups of the calling thread. __syncthreads completes nothing.
//  - global atomics (atom_add_acq_rel_gpu, atomic_add_f32, ld_acquire_gpu, st_release_gpu, fence_acq_rel_gpu) act at once on
//    the one memory; a thread that re-reads the same address with ld_acquire_gpu while no atomic write happened
//    anywhere since its last read is spinning: it yields until some atomic write happens. launch() runs blocks
//    one after another, so a grid-wide barrier there deadlocks (reported as such); launch_coresident() runs every
//    block of the grid at once (each with its own fibers, dynamic smem and a private copy of static smem, swapped
//    in when the scheduler turns to the block), as a grid that fits co-resident on the GPU does.
//  - errors (deadlock, divergent barrier, misaligned/out-of-range ldmatrix or cp.async, segfault in a
//    guard page of a harness buffer, fiber stack overflow) end the launch: launch() throws
//    dfer_emu::KernelError with a message naming block, thread and site.
#pragma once
#ifndef DFER_EMULATE
#error "cuda_emu.h is the host emulator; compile with -DDFER_EMULATE"
#endif

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <math.h>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

// ---------------------------------------------------------------------------------------------
// CUDA keywords
// mutants.py builds a harness once and links it with each mutated kernel file compiled on its own:
// with -DDFER_EMU_WEAK_KERNELS the harness's own copies of the kernels are weak and never inlined or
// specialised (noipa), so the separately compiled kernel object's definitions are the ones that run.
#ifdef DFER_EMU_WEAK_KERNELS
#define __global__ __attribute__((weak, noipa))
#else
#define __global__
#endif
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Function-scope `static` = one copy per block (blocks run one at a time). The emulator finds every
// __shared__ variable for its bounds checks and per-block poisoning in two ways: the ELF section
// "dfer_shared" (GCC honours it in plain functions, linker symbols __start_/__stop_dfer_shared), and
// the executable's symbol table (function-local statics, `_ZZ...`: GCC drops the section attribute
// for statics of template functions). So kernel sources must not keep other function-local statics.
#define __shared__ static __attribute__((section("dfer_shared")))
#define __syncthreads() ::dfer_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::dfer_emu::syncwarp(__FILE__, __LINE__)
#ifndef DFER_DYNAMIC_SMEM
#define DFER_DYNAMIC_SMEM(name) unsigned char* name = ::dfer_emu::dynamic_smem()
#endif

extern "C" char __start_dfer_shared[] __attribute__((weak));
extern "C" char __stop_dfer_shared[] __attribute__((weak));

// ---------------------------------------------------------------------------------------------
// CUDA built-in types and variables
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// Set by the scheduler before it switches to a fiber (one OS thread, so plain globals suffice).
inline uint3 threadIdx{0, 0, 0};
inline uint3 blockIdx{0, 0, 0};
inline dim3 blockDim{1, 1, 1};
inline dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

// CUDA's overloaded min/max (mixed arguments use the common type, as nvcc's overloads do).
template <class A, class B>
inline typename std::common_type<A, B>::type min(A a, B b) {
  using T = typename std::common_type<A, B>::type;
  if constexpr (std::is_floating_point_v<T>) return std::fmin(T(a), T(b));
  else return T(b) < T(a) ? T(b) : T(a);
}
template <class A, class B>
inline typename std::common_type<A, B>::type max(A a, B b) {
  using T = typename std::common_type<A, B>::type;
  if constexpr (std::is_floating_point_v<T>) return std::fmax(T(a), T(b));
  else return T(a) < T(b) ? T(b) : T(a);
}
inline unsigned int __float_as_uint(float v) { unsigned int u; std::memcpy(&u, &v, 4); return u; }
inline float __uint_as_float(unsigned int u) { float v; std::memcpy(&v, &u, 4); return v; }
inline int __float_as_int(float v) { int u; std::memcpy(&u, &v, 4); return u; }
inline float __int_as_float(int u) { float v; std::memcpy(&v, &u, 4); return v; }
inline float __expf(float v) { return expf(v); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
inline float __saturatef(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : (v == v ? v : 0.f)); }

// ---------------------------------------------------------------------------------------------
// Emulator runtime
#if defined(__x86_64__)
// switch(save_sp, new_sp): push callee-saved registers, save rsp, load the other rsp, pop, ret.
asm(R"(
    .text
    .weak dfer_emu_switch
    .type dfer_emu_switch,@function
dfer_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size dfer_emu_switch, .-dfer_emu_switch
)");
extern "C" void dfer_emu_switch(void** save_sp, void* new_sp);
#endif

namespace dfer_emu {

struct KernelError : std::runtime_error { using std::runtime_error::runtime_error; };

enum FiberState { kRunnable, kAtBarrier, kAtWarpOp, kSpin, kDone };

struct CpCopy { unsigned char* dst; const unsigned char* src; bool valid; };

struct Fiber {
  void* sp = nullptr;
#if !defined(__x86_64__)
  ucontext_t uc;
#endif
  unsigned char* stack_lo = nullptr;  // lowest usable byte (a guard page lies below)
  int state = kRunnable;
  unsigned int tid = 0;  // linear thread index in the block
  uint3 idx{0, 0, 0};
  const char* site_file = nullptr;  // where it waits
  int site_line = 0;
  std::vector<CpCopy> open_group;
  std::deque<std::vector<CpCopy>> groups;  // committed, oldest first
  // ld_acquire_gpu spin detection: the address and write epoch of its last acquire load; spin_epoch is
  // the epoch it waits to see change while in kSpin.
  const void* acq_addr = nullptr;
  unsigned long long acq_epoch = 0, spin_epoch = 0;
};

enum WarpOp { kOpNone, kOpMmaBf16, kOpMmaF16, kOpMmaTf32, kOpLdx4, kOpLdx2, kOpShfl, kOpSyncwarp };
inline const char* warp_op_name(int k) {
  static const char* n[] = {"none", "mma_bf16_16816", "mma_f16_16816", "mma_tf32_1688", "ldmatrix_x4",
                            "ldmatrix_x2", "shfl_xor", "__syncwarp"};
  return n[k];
}

struct LanePost {
  void* out = nullptr;        // d[4] / r[n] / float result
  const void* in0 = nullptr;  // a[4] / row address
  const void* in1 = nullptr;  // b[2]
  float fv = 0;
  int iv = 0;
  unsigned int mask = 0;
};

struct WarpState {
  int count = 0;
  int op = kOpNone;
  const char* file = nullptr;
  int line = 0;
  LanePost lane[32];
};

struct Allocation { const unsigned char* lo; const unsigned char* hi; std::string name; unsigned char* guard; size_t guard_bytes; };

struct State {
  // launch
  std::vector<Fiber> fibers;
  std::vector<WarpState> warps;
  unsigned char* stacks = nullptr;
  size_t stacks_bytes = 0, stack_bytes = 0;
  int nthreads = 0;
  int current = -1;
  void* main_sp = nullptr;
#if !defined(__x86_64__)
  ucontext_t main_uc;
#endif
  void (*invoke)(void*) = nullptr;
  void* invoke_ctx = nullptr;
  // block barrier
  int bar_count = 0;
  const char* bar_file = nullptr;
  int bar_line = 0;
  // shared memory
  std::vector<unsigned char> dyn_storage;
  unsigned char* dyn = nullptr;
  size_t dyn_bytes = 0;
  // errors
  bool in_launch = false;
  bool failed = false;
  std::string error;
  sigjmp_buf jb;
  // global memory registry
  std::vector<Allocation> allocs;
  // counters
  unsigned long long n_mma = 0, n_ldmatrix = 0, n_cp_async = 0, n_barriers = 0, n_atomics = 0;
  // global atomics: bumped by every atomic write (atom_*, st_release_gpu); spinning fibers wait for a change
  unsigned long long write_epoch = 0;
  // whether all blocks of the launch run at once (launch_coresident)
  bool coresident = false;
};
inline State& S() { static State s; return s; }

inline std::string vformat(const char* fmt, va_list ap) {
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  return buf;
}
inline std::string format(const char* fmt, ...) {
  va_list ap; va_start(ap, fmt); std::string s = vformat(fmt, ap); va_end(ap); return s;
}

inline void switch_to_main();

// Reports a kernel error. Inside a launch it ends the launch (launch() throws KernelError);
// outside one it throws directly.
[[noreturn]] inline void fail(const char* fmt, ...) {
  State& s = S();
  va_list ap; va_start(ap, fmt); std::string msg = vformat(fmt, ap); va_end(ap);
  if (s.in_launch && s.current >= 0) {
    const Fiber& f = s.fibers[s.current];
    s.error = format("block (%u,%u,%u) thread (%u,%u,%u) [tid %u, warp %u, lane %u]: %s", blockIdx.x, blockIdx.y,
                     blockIdx.z, f.idx.x, f.idx.y, f.idx.z, f.tid, f.tid / 32, f.tid % 32, msg.c_str());
    s.failed = true;
    switch_to_main();
    __builtin_unreachable();
  }
  throw KernelError(msg);
}

inline Fiber& cur() { return S().fibers[S().current]; }

inline void switch_to_main() {
  State& s = S();
  Fiber& f = s.fibers[s.current];
#if defined(__x86_64__)
  dfer_emu_switch(&f.sp, s.main_sp);
#else
  swapcontext(&f.uc, &s.main_uc);
#endif
}

// ---- shared / global memory checks ----
struct Region { unsigned char* lo; unsigned char* hi; };

// Static shared memory: the dfer_shared section plus every function-local static object in the
// executable's ELF symbol table, except the emulator's and the standard library's own.
inline int phdr_cb(struct dl_phdr_info* info, size_t, void* data) {
  *static_cast<uintptr_t*>(data) = info->dlpi_addr;
  return 1;  // the first object is the executable
}
inline std::vector<Region> find_static_smem() {
  std::vector<Region> r;
  if (__start_dfer_shared && +__stop_dfer_shared > +__start_dfer_shared)
    r.push_back({reinterpret_cast<unsigned char*>(__start_dfer_shared), reinterpret_cast<unsigned char*>(__stop_dfer_shared)});
  uintptr_t bias = 0;
  dl_iterate_phdr(phdr_cb, &bias);
  int fd = open("/proc/self/exe", O_RDONLY);
  if (fd < 0) return r;
  struct stat st{};
  fstat(fd, &st);
  void* map = mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return r;
  auto* base = static_cast<const unsigned char*>(map);
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if ((size_t)st.st_size >= sizeof(Elf64_Ehdr) && std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64) {
    auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
      if (sh[i].sh_type != SHT_SYMTAB) continue;
      auto* syms = reinterpret_cast<const Elf64_Sym*>(base + sh[i].sh_offset);
      const char* strtab = reinterpret_cast<const char*>(base + sh[sh[i].sh_link].sh_offset);
      size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
      for (size_t j = 0; j < n; j++) {
        const Elf64_Sym& sy = syms[j];
        if (ELF64_ST_TYPE(sy.st_info) != STT_OBJECT || sy.st_size == 0 || sy.st_shndx == SHN_UNDEF || sy.st_shndx >= eh->e_shnum) continue;
        if (!(sh[sy.st_shndx].sh_flags & SHF_WRITE)) continue;
        const char* nm = strtab + sy.st_name;
        if (std::strncmp(nm, "_ZZ", 3) != 0) continue;
        if (std::strstr(nm, "dfer_emu") || std::strncmp(nm, "_ZZNSt", 6) == 0 || std::strncmp(nm, "_ZZSt", 5) == 0 ||
            std::strncmp(nm, "_ZZN9__gnu_cxx", 14) == 0 || std::strncmp(nm, "_ZZNKSt", 7) == 0)
          continue;
        auto* lo = reinterpret_cast<unsigned char*>(bias + sy.st_value);
        r.push_back({lo, lo + sy.st_size});
      }
    }
  }
  munmap(map, (size_t)st.st_size);
  std::sort(r.begin(), r.end(), [](const Region& a, const Region& b) { return a.lo < b.lo; });
  std::vector<Region> merged;
  for (const Region& x : r) {
    if (!merged.empty() && x.lo <= merged.back().hi) merged.back().hi = std::max(merged.back().hi, x.hi);
    else merged.push_back(x);
  }
  return merged;
}
inline std::vector<Region>& static_smem() {
  static std::vector<Region> r = find_static_smem();
  return r;
}
inline bool in_static_smem(const void* p, size_t n) {
  auto* c = static_cast<const unsigned char*>(p);
  for (const Region& r : static_smem())
    if (c >= r.lo && c + n <= r.hi) return true;
  return false;
}
inline bool in_dynamic_smem(const void* p, size_t n) {
  State& s = S();
  auto* c = static_cast<const unsigned char*>(p);
  return s.dyn && c >= s.dyn && c + n <= s.dyn + s.dyn_bytes;
}
inline bool in_smem(const void* p, size_t n) { return in_static_smem(p, n) || in_dynamic_smem(p, n); }
inline std::string describe_smem() {
  size_t total = 0;
  for (const Region& r : static_smem()) total += (size_t)(r.hi - r.lo);
  return format("static: %zu region(s), %zu bytes; dynamic: [%p, +%zu)", static_smem().size(), total, (void*)S().dyn, S().dyn_bytes);
}
inline const Allocation* find_alloc(const void* p) {
  auto* c = static_cast<const unsigned char*>(p);
  for (const Allocation& a : S().allocs)
    if (c >= a.lo && c < a.hi) return &a;
  return nullptr;
}
inline std::string describe_global(const void* p) {
  auto* c = static_cast<const unsigned char*>(p);
  const Allocation* best = nullptr;
  long long bestd = 0;
  for (const Allocation& a : S().allocs) {
    long long d = c < a.lo ? (long long)(a.lo - c) : (long long)(c - a.hi);
    if (c >= a.lo && c < a.hi) d = 0;
    if (!best || d < bestd) { best = &a; bestd = d; }
  }
  if (!best) return format("%p (no registered buffers)", p);
  if (c < best->lo) return format("%p = %lld bytes before buffer '%s' [%zu bytes]", p, (long long)(best->lo - c), best->name.c_str(), (size_t)(best->hi - best->lo));
  return format("%p = byte %lld of buffer '%s' [%zu bytes]", p, (long long)(c - best->lo), best->name.c_str(), (size_t)(best->hi - best->lo));
}

// Register a host buffer as "global memory" (cp.async sources are checked against these).
inline void register_global(const void* p, size_t bytes, const char* name) {
  S().allocs.push_back({static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + bytes, name, nullptr, 0});
}
inline void unregister_global(const void* p) {
  auto& v = S().allocs;
  v.erase(std::remove_if(v.begin(), v.end(), [&](const Allocation& a) { return a.lo == p; }), v.end());
}

// A global buffer whose end abuts a PROT_NONE guard page (reads or writes past the end fault and
// are reported), 16-byte aligned start, the slack before it filled with 0xFF (NaN), registered.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t bytes, const char* name) { alloc(bytes, name); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { release(); }
  void alloc(size_t bytes, const char* name) {
    release();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (bytes + 15) / 16 * 16;
    if (rounded == 0) rounded = 16;
    size_t data_pages = (rounded + page - 1) / page * page;
    map_bytes_ = data_pages + page;
    base_ = static_cast<unsigned char*>(mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) { base_ = nullptr; throw std::runtime_error("mmap failed"); }
    unsigned char* guard = base_ + data_pages;
    mprotect(guard, page, PROT_NONE);
    std::memset(base_, 0xFF, data_pages);
    data_ = guard - rounded;
    bytes_ = bytes;
    S().allocs.push_back({data_, data_ + bytes, name, guard, page});
  }
  void release() {
    if (!base_) return;
    unregister_global(data_);
    munmap(base_, map_bytes_);
    base_ = data_ = nullptr;
  }
  template <class T> T* as() const { return reinterpret_cast<T*>(data_); }
  unsigned char* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  unsigned char* base_ = nullptr;
  unsigned char* data_ = nullptr;
  size_t map_bytes_ = 0, bytes_ = 0;
};

inline unsigned char* dynamic_smem() {
  State& s = S();
  if (!s.in_launch) fail("DFER_DYNAMIC_SMEM outside a launch");
  return s.dyn;
}

// ---- block barrier ----
inline void block_yield(int state) {
  cur().state = state;
  switch_to_main();
}

inline void syncthreads(const char* file, int line) {
  State& s = S();
  if (!s.in_launch) fail("__syncthreads outside a launch");
  Fiber& f = cur();
  if (s.warps[f.tid / 32].count != 0)
    fail("__syncthreads at %s:%d while lanes of this warp wait in %s at %s:%d (divergent warp)", file, line,
         warp_op_name(s.warps[f.tid / 32].op), s.warps[f.tid / 32].file, s.warps[f.tid / 32].line);
  if (s.bar_count == 0) { s.bar_file = file; s.bar_line = line; }
  else if (line != s.bar_line || std::strcmp(file, s.bar_file) != 0)
    fail("divergent __syncthreads: this thread is at %s:%d while %d thread(s) wait at %s:%d", file, line, s.bar_count,
         s.bar_file, s.bar_line);
  f.site_file = file; f.site_line = line;
  s.bar_count++;
  if (s.bar_count == s.nthreads) {
    s.bar_count = 0;
    s.n_barriers++;
    for (Fiber& o : s.fibers)
      if (o.state == kAtBarrier) o.state = kRunnable;
    return;
  }
  block_yield(kAtBarrier);
}

// ---- warp collectives ----
template <class Complete>
inline void warp_collective(int op, const LanePost& post, const char* file, int line, Complete complete) {
  State& s = S();
  if (!s.in_launch) fail("%s outside a launch", warp_op_name(op));
  Fiber& f = cur();
  unsigned int w = f.tid / 32, lane = f.tid % 32;
  if ((w + 1) * 32 > (unsigned)s.nthreads) fail("%s in a partial warp (blockDim not a multiple of 32)", warp_op_name(op));
  WarpState& ws = s.warps[w];
  if (ws.count == 0) { ws.op = op; ws.file = file; ws.line = line; }
  else if (ws.op != op)
    fail("lanes of warp %u diverge: this lane calls %s while %d lane(s) wait in %s", w, warp_op_name(op), ws.count,
         warp_op_name(ws.op));
  ws.lane[lane] = post;
  f.site_file = file; f.site_line = line;
  if (++ws.count == 32) {
    ws.count = 0;
    complete(ws);
    for (unsigned i = w * 32; i < w * 32 + 32; i++)
      if (s.fibers[i].state == kAtWarpOp) s.fibers[i].state = kRunnable;
    return;
  }
  block_yield(kAtWarpOp);
}

inline void syncwarp(const char* file, int line) {
  warp_collective(kOpSyncwarp, LanePost{}, file, line, [](WarpState&) {});
}

// ---- fibers and launch ----
inline void fiber_main() {
  State& s = S();
  s.invoke(s.invoke_ctx);
  Fiber& f = cur();
  f.state = kDone;
  switch_to_main();
  std::abort();  // never resumed
}
#if defined(__x86_64__)
inline void fiber_trampoline() { fiber_main(); }
#endif

inline void segv_handler(int sig, siginfo_t* si, void*) {
  State& s = S();
  auto* a = static_cast<unsigned char*>(si->si_addr);
  std::string what = sig == SIGSEGV ? "segmentation fault" : sig == SIGBUS ? "bus error" : sig == SIGFPE ? "arithmetic exception (integer division by zero?)" : "signal";
  std::string where;
  for (const Allocation& al : s.allocs)
    if (al.guard && a >= al.guard && a < al.guard + al.guard_bytes)
      where = format(": access %lld bytes past the end of buffer '%s' [%zu bytes]", (long long)(a - al.hi), al.name.c_str(), (size_t)(al.hi - al.lo));
  if (where.empty() && s.stacks && a >= s.stacks && a < s.stacks + s.stacks_bytes) {
    size_t per = s.stack_bytes;
    size_t off = (size_t)(a - s.stacks) % per;
    if (off < (size_t)sysconf(_SC_PAGESIZE)) where = format(": fiber stack overflow (thread %zu)", (size_t)(a - s.stacks) / per);
  }
  if (where.empty()) where = format(" at address %p", (void*)a);
  if (s.in_launch) {
    if (s.current >= 0) {
      const Fiber& f = s.fibers[s.current];
      s.error = format("block (%u,%u,%u) thread (%u,%u,%u) [tid %u]: %s%s", blockIdx.x, blockIdx.y, blockIdx.z, f.idx.x,
                       f.idx.y, f.idx.z, f.tid, what.c_str(), where.c_str());
    } else {
      s.error = what + where + " (in the emulator's scheduler)";
    }
    s.failed = true;
    siglongjmp(s.jb, 1);
  }
  std::string m = "dfer_emu: " + what + where + "\n";
  if (write(2, m.data(), m.size()) < 0) {}
  _exit(2);
}

inline void install_signal_handlers() {
  static bool done = false;
  if (done) return;
  done = true;
  static std::vector<unsigned char> altstack(1 << 16);
  stack_t ss{};
  ss.ss_sp = altstack.data();
  ss.ss_size = altstack.size();
  sigaltstack(&ss, nullptr);
  struct sigaction sa{};
  sa.sa_sigaction = segv_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  sigaction(SIGFPE, &sa, nullptr);
}

inline size_t& stack_kib() { static size_t k = 128; return k; }

inline void ensure_stacks(int n) {
  State& s = S();
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t per = stack_kib() * 1024 + page;
  if (s.stacks && s.stacks_bytes >= per * n && s.stack_bytes == per) return;
  if (s.stacks) munmap(s.stacks, s.stacks_bytes);
  s.stack_bytes = per;
  s.stacks_bytes = per * n;
  s.stacks = static_cast<unsigned char*>(mmap(nullptr, s.stacks_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (s.stacks == MAP_FAILED) { s.stacks = nullptr; throw std::runtime_error("mmap of fiber stacks failed"); }
  for (int i = 0; i < n; i++) mprotect(s.stacks + per * i, page, PROT_NONE);
}

inline void reset_fiber(Fiber& f, int i) {
  State& s = S();
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  f.stack_lo = s.stacks + s.stack_bytes * i + page;  // i = stack index (block slot * threads + thread)
  unsigned char* top = s.stacks + s.stack_bytes * (i + 1);
#if defined(__x86_64__)
  auto* t = reinterpret_cast<void**>(top);
  t[-1] = nullptr;                                              // fake return address of the trampoline
  t[-2] = reinterpret_cast<void*>(&fiber_trampoline);           // popped by `ret`
  for (int r = 3; r <= 8; r++) t[-r] = nullptr;                 // rbp rbx r12 r13 r14 r15
  f.sp = &t[-8];
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = f.stack_lo;
  f.uc.uc_stack.ss_size = s.stack_bytes - page;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, (void (*)())fiber_main, 0);
#endif
  f.state = kRunnable;
  f.site_file = nullptr; f.site_line = 0;
  f.open_group.clear();
  f.groups.clear();
  f.acq_addr = nullptr;
  f.acq_epoch = f.spin_epoch = 0;
}

// A spinning fiber (kSpin) may run again once some atomic write happened after it started to wait.
inline bool runnable(const Fiber& f) { return f.state == kRunnable || (f.state == kSpin && f.spin_epoch != S().write_epoch); }

inline std::string deadlock_report() {
  State& s = S();
  int at_bar = 0, done = 0, at_warp = 0, spinning = 0;
  std::string warp_detail, spin_detail;
  for (const Fiber& f : s.fibers) {
    if (f.state == kAtBarrier) at_bar++;
    else if (f.state == kDone) done++;
    else if (f.state == kAtWarpOp) at_warp++;
    else if (f.state == kSpin && spinning++ == 0)
      spin_detail = format(" %%d spin on ld_acquire_gpu (first: thread %u at %s:%d; %s);", f.tid, f.site_file, f.site_line,
                           s.coresident ? "no block of the grid can make progress"
                                        : "blocks run one after another in launch(): a grid-wide barrier needs launch_coresident()");
  }
  if (spinning) spin_detail = format(spin_detail.c_str(), spinning);
  for (size_t w = 0; w < s.warps.size(); w++)
    if (s.warps[w].count)
      warp_detail += format(" warp %zu: %d of 32 lanes in %s at %s:%d;", w, s.warps[w].count, warp_op_name(s.warps[w].op),
                            s.warps[w].file, s.warps[w].line);
  return format("deadlock in block (%u,%u,%u): %d thread(s) wait at __syncthreads (%s:%d), %d in warp collectives,%s%s %d exited "
                "(a barrier that can never complete: divergent or skipped __syncthreads / warp op%s)",
                blockIdx.x, blockIdx.y, blockIdx.z, at_bar, at_bar ? s.bar_file : "-", at_bar ? s.bar_line : 0, at_warp,
                warp_detail.c_str(), spin_detail.c_str(), done, spinning ? ", or a spin wait nobody releases" : "");
}

inline void poison_smem() {
  State& s = S();
  for (const Region& r : static_smem()) std::memset(r.lo, 0xFF, (size_t)(r.hi - r.lo));
  if (s.dyn_bytes) std::memset(s.dyn, 0xFF, s.dyn_bytes);
}

// Runs the active block's fibers until every one has exited or waits on something that cannot complete
// now; returns whether any fiber ran. `remaining` counts the block's fibers not yet exited.
inline bool run_fibers(int& remaining) {
  State& s = S();
  bool any = false;
  while (remaining > 0) {
    bool progressed = false;
    for (int i = 0; i < s.nthreads; i++) {
      Fiber& f = s.fibers[i];
      if (!runnable(f)) continue;
      f.state = kRunnable;
      s.current = i;
      threadIdx = f.idx;
#if defined(__x86_64__)
      dfer_emu_switch(&s.main_sp, f.sp);
#else
      swapcontext(&s.main_uc, &f.uc);
#endif
      s.current = -1;
      if (s.failed) throw KernelError(s.error);
      progressed = true;
      if (f.state == kDone) remaining--;
    }
    if (!progressed) break;
    any = true;
  }
  return any;
}

inline void run_block() {
  State& s = S();
  for (int i = 0; i < s.nthreads; i++) reset_fiber(s.fibers[i], i);
  for (WarpState& w : s.warps) w.count = 0;
  s.bar_count = 0;
  poison_smem();
  int remaining = s.nthreads;
  run_fibers(remaining);
  if (remaining > 0) throw KernelError(deadlock_report());
}

// One block of a co-resident launch while the scheduler works on another: its fibers, warp and barrier
// state, dynamic shared memory and a private copy of the static shared memory regions.
struct BlockSlot {
  uint3 idx{0, 0, 0};
  std::vector<Fiber> fibers;
  std::vector<WarpState> warps;
  int bar_count = 0;
  const char* bar_file = nullptr;
  int bar_line = 0;
  std::vector<unsigned char> dyn_storage;
  unsigned char* dyn = nullptr;
  std::vector<unsigned char> static_copy;
  int remaining = 0;
};

inline size_t static_smem_bytes() {
  size_t n = 0;
  for (const Region& r : static_smem()) n += (size_t)(r.hi - r.lo);
  return n;
}
// Swaps a slot's state with the emulator's active block state (vectors swap in O(1); static shared
// memory is copied: the kernels hold little of it).
inline void swap_in_out(BlockSlot& b, bool in) {
  State& s = S();
  std::swap(s.fibers, b.fibers);
  std::swap(s.warps, b.warps);
  std::swap(s.bar_count, b.bar_count);
  std::swap(s.bar_file, b.bar_file);
  std::swap(s.bar_line, b.bar_line);
  size_t off = 0;
  for (const Region& r : static_smem()) {
    size_t n = (size_t)(r.hi - r.lo);
    if (in) std::memcpy(r.lo, b.static_copy.data() + off, n);
    else std::memcpy(b.static_copy.data() + off, r.lo, n);
    off += n;
  }
  s.dyn = in ? b.dyn : nullptr;
  if (in) blockIdx = b.idx;
}

// All blocks at once: the scheduler turns to each unfinished block in grid order and runs its fibers
// until they all wait (barrier, warp op, spin) or exit; a full round in which no block runs is a deadlock.
inline void run_grid_coresident(dim3 grid, dim3 block, size_t dyn_bytes, unsigned long long& blocks_done) {
  State& s = S();
  unsigned nb = grid.x * grid.y * grid.z;
  std::vector<BlockSlot> slots(nb);
  size_t sbytes = static_smem_bytes();
  for (unsigned b = 0; b < nb; b++) {
    BlockSlot& sl = slots[b];
    sl.idx = uint3{b % grid.x, (b / grid.x) % grid.y, b / (grid.x * grid.y)};
    sl.fibers.resize(s.nthreads);
    for (int i = 0; i < s.nthreads; i++) {
      Fiber& f = sl.fibers[i];
      f.tid = i;
      f.idx = uint3{(unsigned)i % block.x, ((unsigned)i / block.x) % block.y, (unsigned)i / (block.x * block.y)};
      reset_fiber(f, (int)b * s.nthreads + i);
    }
    sl.warps.assign((s.nthreads + 31) / 32, WarpState{});
    sl.dyn_storage.assign(dyn_bytes + 128, 0xFF);
    sl.dyn = dyn_bytes ? reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(sl.dyn_storage.data()) + 127) & ~uintptr_t(127)) : nullptr;
    sl.static_copy.assign(sbytes, 0xFF);
    sl.remaining = s.nthreads;
  }
  unsigned live = nb;
  while (live > 0) {
    bool any = false;
    for (unsigned b = 0; b < nb; b++) {
      BlockSlot& sl = slots[b];
      if (sl.remaining == 0) continue;
      swap_in_out(sl, true);
      bool ran = false;
      try {
        ran = run_fibers(sl.remaining);
      } catch (...) {
        swap_in_out(sl, false);
        throw;
      }
      any |= ran;
      if (sl.remaining == 0) { live--; blocks_done++; }
      swap_in_out(sl, false);
    }
    if (!any && live > 0) {
      // report on the first stuck block
      for (unsigned b = 0; b < nb; b++)
        if (slots[b].remaining > 0) {
          swap_in_out(slots[b], true);
          std::string msg = format("grid deadlock (%u of %u blocks unfinished): ", live, nb) + deadlock_report();
          swap_in_out(slots[b], false);
          throw KernelError(msg);
        }
    }
  }
}

struct LaunchStats { unsigned long long blocks = 0, mma = 0, ldmatrix = 0, cp_async = 0, barriers = 0, atomics = 0; };
inline LaunchStats& last_stats() { static LaunchStats st; return st; }

inline void launch_erased(void (*invoke)(void*), void* ctx, dim3 grid, dim3 block, size_t dyn_bytes, bool coresident = false) {
  State& s = S();
  if (s.in_launch) throw KernelError("nested launch");
  unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
  if (nt == 0 || nt > 1024 || block.z > 64) throw KernelError(format("invalid block (%u,%u,%u)", block.x, block.y, block.z));
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535)
    throw KernelError(format("invalid grid (%u,%u,%u)", grid.x, grid.y, grid.z));
  if (dyn_bytes > 227 * 1024) throw KernelError(format("dynamic shared memory %zu bytes exceeds 227 KiB", dyn_bytes));
  static_smem();
  install_signal_handlers();
  s.nthreads = (int)nt;
  unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
  if (coresident && nblocks * nt > 65536)
    throw KernelError(format("launch_coresident: %llu blocks x %llu threads is more fibers than the emulator keeps at once (65536)", nblocks, nt));
  ensure_stacks(coresident ? (int)(nblocks * nt) : s.nthreads);
  s.fibers.resize(s.nthreads);
  s.warps.assign((s.nthreads + 31) / 32, WarpState{});
  for (int i = 0; i < s.nthreads; i++) {
    Fiber& f = s.fibers[i];
    f.tid = i;
    f.idx = uint3{(unsigned)i % block.x, ((unsigned)i / block.x) % block.y, (unsigned)i / (block.x * block.y)};
  }
  s.dyn_storage.assign(dyn_bytes + 128, 0);
  s.dyn = dyn_bytes ? reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(s.dyn_storage.data()) + 127) & ~uintptr_t(127)) : nullptr;
  s.dyn_bytes = dyn_bytes;
  s.invoke = invoke;
  s.invoke_ctx = ctx;
  s.failed = false;
  s.error.clear();
  s.n_mma = s.n_ldmatrix = s.n_cp_async = s.n_barriers = s.n_atomics = 0;
  s.coresident = coresident;
  blockDim = block;
  gridDim = grid;
  s.in_launch = true;
  s.current = -1;
  unsigned long long blocks = 0;
  std::string err;
  if (sigsetjmp(s.jb, 1) != 0) {
    err = s.error;
  } else {
    try {
      if (coresident) {
        run_grid_coresident(grid, block, dyn_bytes, blocks);
      } else {
        for (unsigned bz = 0; bz < grid.z; bz++)
          for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
              blockIdx = uint3{bx, by, bz};
              run_block();
              blocks++;
            }
      }
    } catch (const KernelError& e) {
      err = e.what();
    }
  }
  s.in_launch = false;
  s.coresident = false;
  s.current = -1;
  s.dyn = nullptr;
  s.dyn_bytes = 0;
  LaunchStats& st = last_stats();
  st.blocks = blocks; st.mma = s.n_mma; st.ldmatrix = s.n_ldmatrix; st.cp_async = s.n_cp_async; st.barriers = s.n_barriers;
  st.atomics = s.n_atomics;
  if (!err.empty()) throw KernelError(err);
}

// launch(kernel, grid, block, dynamic_smem_bytes, args...): runs every block; throws KernelError.
template <class... P, class... A>
inline void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t dyn_bytes, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "launch: argument count differs from the kernel's parameters");
  struct Ctx { void (*k)(P...); std::tuple<std::decay_t<P>...> args; };
  Ctx ctx{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  launch_erased([](void* c) {
    Ctx& x = *static_cast<Ctx*>(c);
    std::tuple<std::decay_t<P>...> copy = x.args;  // each thread receives its own by-value copy
    std::apply(x.k, copy);
  }, &ctx, grid, block, dyn_bytes);
}

// launch_coresident(...): as launch, but every block of the grid is resident at once (what a host that
// sizes the grid to the GPU's co-resident block count relies on for a grid-wide barrier). At most 65536
// threads in all.
template <class... P, class... A>
inline void launch_coresident(void (*kernel)(P...), dim3 grid, dim3 block, size_t dyn_bytes, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "launch_coresident: argument count differs from the kernel's parameters");
  struct Ctx { void (*k)(P...); std::tuple<std::decay_t<P>...> args; };
  Ctx ctx{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  launch_erased([](void* c) {
    Ctx& x = *static_cast<Ctx*>(c);
    std::tuple<std::decay_t<P>...> copy = x.args;
    std::apply(x.k, copy);
  }, &ctx, grid, block, dyn_bytes, true);
}

// ---- number formats ----
inline uint32_t f32_bits(float v) { uint32_t u; std::memcpy(&u, &v, 4); return u; }
inline float bits_f32(uint32_t u) { float v; std::memcpy(&v, &u, 4); return v; }

// float -> bf16, round to nearest even; NaN -> quiet NaN (cvt.rn.bf16.f32).
inline uint16_t f32_to_bf16_bits(float v) {
  uint32_t u = f32_bits(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fffu);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
inline float bf16_bits_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

// float -> f16 (binary16), round to nearest even, subnormals, overflow to inf (cvt.rn.f16.f32).
inline uint16_t f32_to_f16_bits(float v) {
  uint32_t u = f32_bits(v);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7fffu);   // NaN
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // >= 65520 rounds to inf (and inf)
  if (a < 0x38800000u) {                                     // below 2^-14: subnormal result
    if (a <= 0x33000000u) return (uint16_t)sign;            // <= 2^-25 rounds to zero (tie -> even 0)
    uint32_t e = a >> 23, mant = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;                                // value*2^24 = mant * 2^(e-126)
    uint32_t m = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (m & 1u))) m++;
    return (uint16_t)(sign | m);
  }
  uint32_t t = a - 0x38000000u;  // rebias exponent 127 -> 15
  uint32_t h = t >> 13, rem = t & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}
inline float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return bits_f32(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    if (m == 0) return bits_f32(sign);
    float v = std::ldexp((float)m, -24);
    return sign ? -v : v;
  }
  return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}
// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero; result is a float bit pattern.
inline uint32_t f32_to_tf32_bits(float v) {
  uint32_t u = f32_bits(v);
  if ((u & 0x7f800000u) == 0x7f800000u) {  // inf / NaN
    if (u & 0x7fffffu) return 0x7fffffffu;
    return u;
  }
  return (u + 0x1000u) & 0xffffe000u;
}
// The value an mma.tf32 operand register holds: its low 13 mantissa bits are not read by the
// tensor core, so they are dropped here (a kernel that skips to_tf32 is truncated as on the GPU).
inline float tf32_operand(uint32_t u) { return bits_f32(u & 0xffffe000u); }

inline float lo_f16(uint32_t u) { return f16_bits_to_f32((uint16_t)(u & 0xffff)); }
inline float hi_f16(uint32_t u) { return f16_bits_to_f32((uint16_t)(u >> 16)); }
inline float lo_bf16(uint32_t u) { return bf16_bits_to_f32((uint16_t)(u & 0xffff)); }
inline float hi_bf16(uint32_t u) { return bf16_bits_to_f32((uint16_t)(u >> 16)); }

// ---- mma ----
// D(16x8) = A(16xK) * B(Kx8) + C, fp32, products summed in k order (exact products for 16-bit and
// tf32 inputs; one rounding per addition).
template <int K>
inline void mma_complete(WarpState& ws, int kind) {
  float A[16][16], B[16][8], C[16][8];
  for (int lane = 0; lane < 32; lane++) {
    const LanePost& p = ws.lane[lane];
    auto* a = static_cast<const uint32_t*>(p.in0);
    auto* b = static_cast<const uint32_t*>(p.in1);
    auto* d = static_cast<const float*>(p.out);
    int g = lane >> 2, q = lane & 3;
    if (kind == kOpMmaTf32) {
      A[g][q] = tf32_operand(a[0]); A[g + 8][q] = tf32_operand(a[1]);
      A[g][q + 4] = tf32_operand(a[2]); A[g + 8][q + 4] = tf32_operand(a[3]);
      B[q][g] = tf32_operand(b[0]); B[q + 4][g] = tf32_operand(b[1]);
    } else {
      auto lo = kind == kOpMmaBf16 ? lo_bf16 : lo_f16;
      auto hi = kind == kOpMmaBf16 ? hi_bf16 : hi_f16;
      A[g][2 * q] = lo(a[0]); A[g][2 * q + 1] = hi(a[0]);
      A[g + 8][2 * q] = lo(a[1]); A[g + 8][2 * q + 1] = hi(a[1]);
      A[g][2 * q + 8] = lo(a[2]); A[g][2 * q + 9] = hi(a[2]);
      A[g + 8][2 * q + 8] = lo(a[3]); A[g + 8][2 * q + 9] = hi(a[3]);
      B[2 * q][g] = lo(b[0]); B[2 * q + 1][g] = hi(b[0]);
      B[2 * q + 8][g] = lo(b[1]); B[2 * q + 9][g] = hi(b[1]);
    }
    C[g][2 * q] = d[0]; C[g][2 * q + 1] = d[1]; C[g + 8][2 * q] = d[2]; C[g + 8][2 * q + 1] = d[3];
  }
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      float acc = C[i][j];
      for (int k = 0; k < K; k++) acc += A[i][k] * B[k][j];
      C[i][j] = acc;
    }
  for (int lane = 0; lane < 32; lane++) {
    auto* d = static_cast<float*>(ws.lane[lane].out);
    int g = lane >> 2, q = lane & 3;
    d[0] = C[g][2 * q]; d[1] = C[g][2 * q + 1]; d[2] = C[g + 8][2 * q]; d[3] = C[g + 8][2 * q + 1];
  }
  S().n_mma++;
}

inline void mma_impl(int kind, float d[4], const uint32_t a[4], const uint32_t b[2], const char* file, int line) {
  LanePost p;
  p.out = d; p.in0 = a; p.in1 = b;
  warp_collective(kind, p, file, line, [kind](WarpState& ws) {
    if (kind == kOpMmaTf32) mma_complete<8>(ws, kind);
    else mma_complete<16>(ws, kind);
  });
}

// ---- ldmatrix ----
inline void ldmatrix_impl(int nmat, uint32_t* r, const void* row, const char* file, int line) {
  LanePost p;
  p.out = r; p.in0 = row;
  // check this lane's row address (lanes >= 8*nmat are ignored by the instruction)
  if (cur().tid % 32 < (unsigned)(8 * nmat)) {
    if (reinterpret_cast<uintptr_t>(row) % 16 != 0)
      fail("ldmatrix_x%d: row address %p (matrix %u, row %u) is not 16-byte aligned", nmat, row, (cur().tid % 32) / 8, cur().tid % 8);
    if (!in_smem(row, 16))
      fail("ldmatrix_x%d: row address %p (matrix %u, row %u): its 16 bytes are not inside shared memory (%s)",
           nmat, row, (cur().tid % 32) / 8, cur().tid % 8, describe_smem().c_str());
  }
  warp_collective(nmat == 4 ? kOpLdx4 : kOpLdx2, p, file, line, [nmat](WarpState& ws) {
    for (int lane = 0; lane < 32; lane++) {
      auto* out = static_cast<uint32_t*>(ws.lane[lane].out);
      for (int i = 0; i < nmat; i++) {
        auto* rowp = static_cast<const unsigned char*>(ws.lane[8 * i + lane / 4].in0);
        uint32_t v;
        std::memcpy(&v, rowp + 4 * (lane % 4), 4);
        out[i] = v;
      }
    }
    S().n_ldmatrix++;
  });
}

// ---- cp.async ----
inline void cp_async_16_impl(void* smem, const void* gmem, bool valid) {
  State& s = S();
  if (!s.in_launch) fail("cp_async_16 outside a launch");
  if (reinterpret_cast<uintptr_t>(smem) % 16 != 0) fail("cp_async_16: shared address %p is not 16-byte aligned", smem);
  if (!in_smem(smem, 16)) fail("cp_async_16: destination %p: its 16 bytes are not inside shared memory (%s)", smem, describe_smem().c_str());
  if (valid) {
    if (reinterpret_cast<uintptr_t>(gmem) % 16 != 0)
      fail("cp_async_16: global address %s is not 16-byte aligned", describe_global(gmem).c_str());
    const Allocation* a = find_alloc(gmem);
    if (!a || static_cast<const unsigned char*>(gmem) + 16 > a->hi)
      fail("cp_async_16: global read of 16 bytes at %s is outside every registered buffer", describe_global(gmem).c_str());
  }
  std::memset(smem, 0xFF, 16);  // undefined while in flight
  cur().open_group.push_back({static_cast<unsigned char*>(smem), static_cast<const unsigned char*>(gmem), valid});
  s.n_cp_async++;
}
inline void cp_async_commit_impl() {
  if (!S().in_launch) fail("cp_async_commit outside a launch");
  Fiber& f = cur();
  f.groups.push_back(std::move(f.open_group));
  f.open_group.clear();
}
inline void cp_async_wait_impl(int n) {
  if (!S().in_launch) fail("cp_async_wait outside a launch");
  Fiber& f = cur();
  while ((int)f.groups.size() > n) {
    for (const CpCopy& c : f.groups.front()) {
      if (c.valid) std::memcpy(c.dst, c.src, 16);
      else std::memset(c.dst, 0, 16);
    }
    f.groups.pop_front();
  }
}

inline float shfl_xor_impl(float v, int lane_mask, unsigned mask, const char* file, int line) {
  if (mask != 0xffffffffu) fail("__shfl_xor_sync with mask %08x: the emulator supports full warps only", mask);
  float result = 0;
  LanePost p;
  p.out = &result; p.fv = v; p.iv = lane_mask;
  warp_collective(kOpShfl, p, file, line, [](WarpState& ws) {
    float vals[32];
    for (int l = 0; l < 32; l++) vals[l] = ws.lane[l].fv;
    for (int l = 0; l < 32; l++) {
      int src = l ^ (ws.lane[l].iv & 31);
      *static_cast<float*>(ws.lane[l].out) = vals[src];
    }
  });
  return result;
}

// ---- global atomics (gpu scope) ----
inline void check_atomic_address(const void* p, const char* what) {
  if (!S().in_launch) fail("%s outside a launch", what);
  if (reinterpret_cast<uintptr_t>(p) % 4 != 0) fail("%s: address %s is not 4-byte aligned", what, describe_global(p).c_str());
  const Allocation* a = find_alloc(p);
  if (!a || static_cast<const unsigned char*>(p) + 4 > a->hi)
    fail("%s: address %s is outside every registered global buffer", what, describe_global(p).c_str());
}
inline uint32_t atom_add_impl(uint32_t* p, uint32_t v, const char* file, int line) {
  check_atomic_address(p, "atom_add_acq_rel_gpu");
  State& s = S();
  Fiber& f = cur();
  f.site_file = file; f.site_line = line;
  uint32_t old = *p;
  *p = old + v;
  s.write_epoch++;
  s.n_atomics++;
  return old;
}
inline void atomic_add_f32_impl(float* p, float v, const char* file, int line) {
  check_atomic_address(p, "atomic_add_f32");
  cur().site_file = file; cur().site_line = line;
  *p += v;
  S().write_epoch++;
  S().n_atomics++;
}
inline void st_release_impl(uint32_t* p, uint32_t v, const char* file, int line) {
  check_atomic_address(p, "st_release_gpu");
  cur().site_file = file; cur().site_line = line;
  *p = v;
  S().write_epoch++;
  S().n_atomics++;
}
// A re-read of the address of this thread's previous acquire load with no atomic write anywhere in
// between cannot see a new value: the thread spins, so it yields until some atomic write happens.
inline uint32_t ld_acquire_impl(const uint32_t* p, const char* file, int line) {
  check_atomic_address(p, "ld_acquire_gpu");
  State& s = S();
  Fiber& f = cur();
  f.site_file = file; f.site_line = line;
  if (f.acq_addr == p && f.acq_epoch == s.write_epoch) {
    f.spin_epoch = s.write_epoch;
    block_yield(kSpin);
  }
  f.acq_addr = p;
  f.acq_epoch = s.write_epoch;
  s.n_atomics++;
  return *p;
}

}  // namespace dfer_emu

inline float __shfl_xor_sync(unsigned mask, float v, int lane_mask, int width = 32) {
  if (width != 32) ::dfer_emu::fail("__shfl_xor_sync width %d unsupported", width);
  return ::dfer_emu::shfl_xor_impl(v, lane_mask, mask, "__shfl_xor_sync", 0);
}
inline int __shfl_xor_sync(unsigned mask, int v, int lane_mask, int width = 32) {
  if (width != 32) ::dfer_emu::fail("__shfl_xor_sync width %d unsupported", width);
  float f; std::memcpy(&f, &v, 4);
  f = ::dfer_emu::shfl_xor_impl(f, lane_mask, mask, "__shfl_xor_sync", 0);
  std::memcpy(&v, &f, 4);
  return v;
}

// ---------------------------------------------------------------------------------------------
// The dfer wrapper section of common.cuh (docs/kernel-interface.md). The storage types bf16/f16 may be
// defined by common.cuh before or after this header: they are only forward-declared here and used
// through templates, so either order compiles. Define DFER_EMU_DEFINE_TYPES to have them defined here.
namespace dfer {
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;
#ifdef DFER_EMU_DEFINE_TYPES
struct bf16 { u16 bits; };
struct f16 { u16 bits; };
#else
struct bf16;
struct f16;
#endif

__device__ __forceinline__ float to_float(float v) { return v; }
template <class T, std::enable_if_t<std::is_same_v<T, bf16> || std::is_same_v<T, f16>, int> = 0>
__device__ __forceinline__ float to_float(T v) {
  if constexpr (std::is_same_v<T, bf16>) return ::dfer_emu::bf16_bits_to_f32(v.bits);
  else return ::dfer_emu::f16_bits_to_f32(v.bits);
}
template <class T>
__device__ __forceinline__ T from_float(float v) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, f16>, "from_float<T>: T = float|bf16|f16");
  if constexpr (std::is_same_v<T, float>) return v;
  else if constexpr (std::is_same_v<T, bf16>) { T r; r.bits = ::dfer_emu::f32_to_bf16_bits(v); return r; }
  else { T r; r.bits = ::dfer_emu::f32_to_f16_bits(v); return r; }
}
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
  return (u32)::dfer_emu::f32_to_bf16_bits(lo) | ((u32)::dfer_emu::f32_to_bf16_bits(hi) << 16);
}
__device__ __forceinline__ u32 pack_f16x2(float lo, float hi) {
  return (u32)::dfer_emu::f32_to_f16_bits(lo) | ((u32)::dfer_emu::f32_to_f16_bits(hi) << 16);
}
__device__ __forceinline__ u32 to_tf32(float v) { return ::dfer_emu::f32_to_tf32_bits(v); }

#define DFER_EMU_SITE __builtin_FILE(), __builtin_LINE()
__device__ __forceinline__ void mma_bf16_16816(float d[4], const u32 a[4], const u32 b[2],
                                               const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::mma_impl(::dfer_emu::kOpMmaBf16, d, a, b, file, line);
}
__device__ __forceinline__ void mma_f16_16816(float d[4], const u32 a[4], const u32 b[2],
                                              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::mma_impl(::dfer_emu::kOpMmaF16, d, a, b, file, line);
}
__device__ __forceinline__ void mma_tf32_1688(float d[4], const u32 a[4], const u32 b[2],
                                              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::mma_impl(::dfer_emu::kOpMmaTf32, d, a, b, file, line);
}
__device__ __forceinline__ void ldmatrix_x4(u32 r[4], const void* smem_row,
                                            const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::ldmatrix_impl(4, r, smem_row, file, line);
}
__device__ __forceinline__ void ldmatrix_x2(u32 r[2], const void* smem_row,
                                            const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::ldmatrix_impl(2, r, smem_row, file, line);
}
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  ::dfer_emu::cp_async_16_impl(smem, gmem, valid);
}
__device__ __forceinline__ void cp_async_commit() { ::dfer_emu::cp_async_commit_impl(); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { ::dfer_emu::cp_async_wait_impl(N); }
__device__ __forceinline__ void cp_async_wait_all() { ::dfer_emu::cp_async_wait_impl(0); }
__device__ __forceinline__ float shfl_xor(float v, int lane_mask,
                                          const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::dfer_emu::shfl_xor_impl(v, lane_mask, 0xffffffffu, file, line);
}
// Global atomics at gpu scope (common.cuh: atom.add.acq_rel.gpu, ld.acquire.gpu, st.release.gpu,
// fence.acq_rel.gpu). The emulator has one memory and runs one thread at a time, so ordering is
// trivially sequential; what it models is progress: see ld_acquire_impl and launch_coresident.
__device__ __forceinline__ u32 atom_add_acq_rel_gpu(u32* p, u32 v, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::dfer_emu::atom_add_impl(p, v, file, line);
}
__device__ __forceinline__ u32 ld_acquire_gpu(const u32* p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::dfer_emu::ld_acquire_impl(p, file, line);
}
__device__ __forceinline__ void st_release_gpu(u32* p, u32 v, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::st_release_impl(p, v, file, line);
}
__device__ __forceinline__ void fence_acq_rel_gpu() {}
// common.cuh: red.global.add.f32 (no result). Checked like the other atomics: 4-byte aligned, inside a
// registered global buffer. Subnormal flushing is not modelled.
__device__ __forceinline__ void atomic_add_f32(float* p, float v, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::dfer_emu::atomic_add_f32_impl(p, v, file, line);
}
}  // namespace dfer
