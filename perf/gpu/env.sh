# Shared setup of the one-call GPU scripts (run.sh, workbench.sh, compare.sh); source it, don't run it.
# The caller sets HERE (this folder), sources this file and calls start_run first. This file only
# defines functions; the caller runs them:
#   start_run BUDGET TAG "$@"                --cpu-dry-run (or DRY_RUN=1) -> DRY; OUT, DIST, DFER_DLL and
#                                            WORKBENCH_DLL made absolute; BUDGET (BUDGET_S overrides),
#                                            START, ROOT (cwd: the cuda backend finds build/kernels there),
#                                            WORK and RAW (/tmp/dfer-TAG.*), STATUS=(); output to $OUT/run.log
#   step NAME TIMEOUT STDOUT_FILE|- CMD...   a logged step with a timeout, cut to the time left
#   find_python                              PY = the first python3 with torch and numpy (or empty)
#   setup_dotnet                             DOTNET_ROOT, PATH and DOTNET_* from dist/ or the machine
#   setup_cli                                setup_dotnet + DFER_DLL/DFER + (GPU runs) driver aliases, NVRTC fallback
#   cuda_driver_aliases                      libcuda.so.1 also as libcuda.so/libnvcuda.so/nvcuda.so
#   build_kernels BUILD_DIR                  cmake build of native/kernels/*.cu (the cuda backend)
# shellcheck shell=bash disable=SC2012,SC2034  # ls on a few known paths; start_run sets variables its caller uses

# start_run DEFAULT_BUDGET_S TAG ARGS...: the common start of every one-call script (see the header).
start_run() {
  local budget=$1 tag=$2 a v; shift 2
  ROOT=$(cd "$HERE/../.." && pwd)
  DRY=${DRY_RUN:-0}
  for a in "$@"; do
    case $a in
      --cpu-dry-run) DRY=1 ;;
      *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
  done
  OUT=${OUT:-$HERE/out}
  DIST=${DIST:-$HERE/dist}
  BUDGET=${BUDGET_S:-$budget}
  START=$SECONDS
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  case $DIST in /*) ;; *) DIST=$(pwd)/$DIST ;; esac
  for v in DFER_DLL WORKBENCH_DLL; do
    case ${!v:-} in '' | /*) ;; *) printf -v "$v" '%s' "$(pwd)/${!v}" ;; esac
  done
  cd "$ROOT" || exit 2   # the cuda backend finds its prebuilt kernels under build/kernels
  WORK=$(mktemp -d "/tmp/dfer-$tag.XXXXXX")
  RAW=$WORK/raw
  mkdir -p "$RAW"
  exec > >(tee -a "$OUT/run.log") 2>&1
  STATUS=()
}

# setup_cli: the .NET runtime, DFER_DLL (default dist/dfer/dfer.dll) and the DFER command array, and on
# a GPU run the driver aliases and the NVRTC fallback (run after find_python: nvrtc_fallback looks in its wheels).
setup_cli() {
  setup_dotnet
  DFER_DLL=${DFER_DLL:-$DIST/dfer/dfer.dll}
  [ -f "$DFER_DLL" ] || echo "!! $DFER_DLL missing"
  DFER=(dotnet "$DFER_DLL")
  if [ "$DRY" != 1 ]; then
    cuda_driver_aliases
    nvrtc_fallback
  fi
}

# step NAME TIMEOUT STDOUT_FILE|- CMD...   (stderr -> $RAW/NAME.err and the log)
step() {
  local name=$1 t=$2 so=$3; shift 3
  local left=$((BUDGET - (SECONDS - START)))
  if ((left < 10)); then
    echo "== SKIP $name: time budget spent"; STATUS+=("$name: skipped (budget)"); return 99
  fi
  ((t > left)) && t=$left
  echo "== [$((SECONDS - START))s] $name (timeout ${t}s): $*"
  local t0=$SECONDS rc
  if [ "$so" = - ]; then
    timeout -k 5 "$t" "$@" 2> >(tee "$RAW/$name.err" >&2)
  else
    timeout -k 5 "$t" "$@" > "$so" 2> >(tee "$RAW/$name.err" >&2)
  fi
  rc=$?
  [ "$so" != - ] && { head -c 2000 "$so"; echo; }
  ((rc == 124 || rc == 137)) && echo "!! $name timed out"
  echo "== $name: rc=$rc in $((SECONDS - t0))s"
  STATUS+=("$name: rc=$rc $((SECONDS - t0))s")
  return $rc
}

find_python() {
  PY=
  local c
  for c in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$c" -c 'import torch, numpy' 2>/dev/null; then PY=$c; break; fi
  done
  if [ -n "$PY" ]; then
    "$PY" -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "cuda", torch.cuda.is_available())'
  else
    echo "!! no python3 with torch and numpy found"
  fi
}

# The runtime, in this order: dist/dotnet/dotnet; dist/dotnet*.tar.xz or dist/dotnet/*.tar.xz
# (unpacked into /tmp/dfer-dotnet); a dotnet on PATH.
setup_dotnet() {
  if [ -x "$DIST/dotnet/dotnet" ] || [ -f "$DIST/dotnet/dotnet" ]; then
    export DOTNET_ROOT=$DIST/dotnet
  else
    local tarball
    tarball=$(ls "$DIST"/dotnet*.tar.xz "$DIST"/dotnet/*.tar.xz 2>/dev/null | head -n 1)
    if [ -n "$tarball" ]; then
      mkdir -p /tmp/dfer-dotnet && tar -xJf "$tarball" -C /tmp/dfer-dotnet && export DOTNET_ROOT=/tmp/dfer-dotnet
      echo "unpacked $tarball into /tmp/dfer-dotnet"
    elif command -v dotnet >/dev/null; then
      DOTNET_ROOT=$(dirname "$(readlink -f "$(command -v dotnet)")"); export DOTNET_ROOT
      echo "no runtime in $DIST: using this machine's dotnet at $DOTNET_ROOT"
    else
      echo "!! no .NET runtime: neither $DIST/dotnet/dotnet nor $DIST/dotnet*.tar.xz nor dotnet on PATH"
    fi
  fi
  chmod +x "${DOTNET_ROOT:-/nonexistent}/dotnet" 2>/dev/null
  export PATH=${DOTNET_ROOT:-/nonexistent}:$PATH DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
}

# ILGPU binds the CUDA driver by name; where the image has only libcuda.so.1, offer the usual names.
cuda_driver_aliases() {
  local lib n
  lib=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')
  [ -z "$lib" ] && lib=$(ls /usr/local/nvidia/lib64/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libcuda.so.1 2>/dev/null | head -n 1)
  if [ -n "$lib" ]; then
    mkdir -p /tmp/dfer-cudalib
    for n in libcuda.so libnvcuda.so nvcuda.so libnvcuda; do ln -sf "$lib" "/tmp/dfer-cudalib/$n"; done
    export LD_LIBRARY_PATH=/tmp/dfer-cudalib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "CUDA driver: $lib (aliases in /tmp/dfer-cudalib)"
  else
    echo "!! libcuda.so.1 not found by ldconfig"
  fi
}

# build_kernels BUILD_DIR: cmake configure + build of the repository's CMakeLists.txt (PTX and cubins
# of native/kernels/*.cu into BUILD_DIR/kernels; without nvcc it configures to nothing). Run from the
# repository root. Sets KERNELS_BUILT (yes (N files) | no (...) | skipped) and logs BUILD_DIR/kernels.
build_kernels() {
  local dir=$1
  KERNELS_BUILT=skipped
  if [ ! -f CMakeLists.txt ]; then
    echo "== SKIP build-kernels: no CMakeLists.txt in $(pwd)"; STATUS+=("build-kernels: skipped (no CMakeLists.txt)"); return 0
  fi
  if ! command -v cmake >/dev/null; then
    echo "== SKIP build-kernels: no cmake on this machine"; STATUS+=("build-kernels: skipped (no cmake)"); return 0
  fi
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || echo "note: no nvcc on PATH or in /usr/local/cuda/bin; cmake may find no CUDA toolkit"
  [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null && export PATH=$PATH:/usr/local/cuda/bin
  KERNELS_BUILT=no
  if step cmake-configure 90 - cmake -S . -B "$dir" \
    && step cmake-build 240 - cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 4)"; then
    local n
    n=$(find "$dir/kernels" -maxdepth 1 -type f 2>/dev/null | wc -l)
    if ((n > 0)); then KERNELS_BUILT="yes ($n files)"; else KERNELS_BUILT="no (built nothing: no CUDA toolkit?)"; fi
  fi
  echo "kernels built: $KERNELS_BUILT; $dir/kernels holds: $(ls "$dir/kernels" 2>/dev/null | tr '\n' ' ')"
  STATUS+=("kernels built: $KERNELS_BUILT")
}

# NVRTC (what the cuda backend compiles kernels with when build/kernels is stale or absent): when
# neither ld.so nor the toolkit folders have libnvrtc.so.*, use the copy PyTorch's wheels ship
# (site-packages/nvidia/.../lib), appended to LD_LIBRARY_PATH. Needs PY (find_python).
nvrtc_fallback() {
  local d
  if ldconfig -p 2>/dev/null | grep 'libnvrtc\.so\.' >/dev/null; then echo "NVRTC: on the loader path"; return 0; fi
  for d in "${CUDA_PATH:-/nonexistent}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    if ls "$d"/libnvrtc.so.* >/dev/null 2>&1; then echo "NVRTC: $d"; return 0; fi
  done
  [ -n "${PY:-}" ] || { echo "!! NVRTC: not found and no python to look in"; return 0; }
  d=$("$PY" - <<'PYEOF' 2>/dev/null
import glob, os, torch
root = os.path.dirname(os.path.dirname(torch.__file__))
hits = sorted(glob.glob(os.path.join(root, "nvidia", "**", "libnvrtc.so.*"), recursive=True), reverse=True)
print(os.path.dirname(hits[0]) if hits else "")
PYEOF
)
  if [ -n "$d" ]; then
    export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d
    echo "NVRTC: from the torch wheels, $d (appended to LD_LIBRARY_PATH)"
  else
    echo "!! NVRTC: no libnvrtc.so.* found (the cuda backend then needs prebuilt build/kernels)"
  fi
}
