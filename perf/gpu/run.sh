#!/usr/bin/env bash
# One-shot GPU measurement: Dfer --backend ilgpu-cuda vs PyTorch eager fp32 on the same GPU, plus a
# logits cross-check from shared weights. Run from the repository root on the GPU machine:
#     bash perf/gpu/run.sh                 # results under $OUT (default perf/gpu/out)
#     bash perf/gpu/run.sh --cpu-dry-run   # same steps on the CPU with tiny batches (or DRY_RUN=1)
# Needs perf/gpu/dist/ (see perf/gpu/README.md). Every step is logged and may fail without
# stopping the rest; the whole run keeps to BUDGET_S seconds (default 510).
# At most 8 files land in $OUT: run.log summary.txt validate.json validate_model.json bench.json
# crosscheck.json raw.tar.gz (every step's stdout/stderr).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DRY=${DRY_RUN:-0}
for a in "$@"; do
  case $a in
    --cpu-dry-run) DRY=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$HERE/out}
DIST=${DIST:-$HERE/dist}
BUDGET=${BUDGET_S:-510}
START=$SECONDS
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/dfer-gpu.XXXXXX)
RAW=$WORK/raw
mkdir -p "$RAW"
exec > >(tee -a "$OUT/run.log") 2>&1
STATUS=()

if [ "$DRY" = 1 ]; then
  BK=cpu; TDEV=cpu; B1=1; B2=2; DWARM=0; DREP=1; TWARM=1; TIT=2; CLIPS=2
else
  BK=ilgpu-cuda; TDEV=cuda; B1=1; B2=128; DWARM=2; DREP=5; TWARM=3; TIT=10; CLIPS=2
fi
# the batch-1 benches are cheap: more repeats
DWARM1=$((DWARM + 1)); DREP1=$((DREP * 2)); TIT1=$((TIT * 2))

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

echo "dfer gpu run: dry=$DRY backend=$BK torch-device=$TDEV batches=$B1,$B2 out=$OUT work=$WORK"
date -u; uname -a

# ---- Python with torch ---------------------------------------------------------------------
PY=
for c in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$c" -c 'import torch, numpy' 2>/dev/null; then PY=$c; break; fi
done
[ -n "$PY" ] && "$PY" -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "cuda", torch.cuda.is_available())' \
  || echo "!! no python3 with torch and numpy found"
MT=$HERE/m3dfel_torch.py

# ---- .NET runtime and the CLI ----------------------------------------------------------------
if [ -x "$DIST/dotnet/dotnet" ] || [ -f "$DIST/dotnet/dotnet" ]; then
  export DOTNET_ROOT=$DIST/dotnet
else
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
DFER_DLL=${DFER_DLL:-$DIST/dfer/dfer.dll}
[ -f "$DFER_DLL" ] || echo "!! $DFER_DLL missing"
DFER=(dotnet "$DFER_DLL")

# ILGPU binds the CUDA driver by name; where the image has only libcuda.so.1, offer the usual names.
if [ "$DRY" != 1 ]; then
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
fi

# ---- steps -----------------------------------------------------------------------------------
step nvidia-smi 20 - nvidia-smi
step dotnet-info 30 - dotnet --list-runtimes
step devices 60 - "${DFER[@]}" devices
step validate 90 "$RAW/validate.json" "${DFER[@]}" validate --backend "$BK" --format json
step dfer-bench-b$B1 90 "$RAW/dfer_bench_b$B1.json" "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch "$B1" --warmup "$DWARM1" --repeats "$DREP1" --format json
step dfer-bench-b$B2 200 "$RAW/dfer_bench_b$B2.json" "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch "$B2" --warmup "$DWARM" --repeats "$DREP" --format json
step torch-bench-b$B1 60 - "$PY" "$MT" --bench --device "$TDEV" --batch "$B1" --dtype fp32 --warmup 5 --iters "$TIT1" --out "$RAW/torch_bench_b$B1.json"
step torch-bench-b$B2 120 - "$PY" "$MT" --bench --device "$TDEV" --batch "$B2" --dtype fp32 --warmup "$TWARM" --iters "$TIT" --out "$RAW/torch_bench_b$B2.json"

# cross-check: shared random weights and clips; dfer on $BK and cpu; float64 PyTorch on the CPU
W=$WORK/w.safetensors; CLIP=$WORK/clip.npy
step make-weights 60 - "$PY" "$MT" --seed 7 --make-weights "$W" --make-clip "$CLIP" --clips "$CLIPS"
step infer-$BK 120 "$RAW/infer_$BK.json" "${DFER[@]}" infer --model m3dfel --backend "$BK" --weights "$W" --batch "$CLIPS" --format json "$CLIP"
# second opinion from Dfer's cpu backend (in a dry run it repeats the first, which tests the path)
step infer-cpu-ref 120 "$RAW/infer_cpu_ref.json" "${DFER[@]}" infer --model m3dfel --backend cpu --weights "$W" --batch "$CLIPS" --format json "$CLIP"
EXPECT=("$RAW/infer_$BK.json" "$RAW/infer_cpu_ref.json")
step check 150 - "$PY" "$MT" --weights "$W" --check "$CLIP" --expect "${EXPECT[@]}" --out "$RAW/crosscheck.json"

step validate-model 150 "$RAW/validate_model.json" "${DFER[@]}" validate --backend "$BK" --op softmax --model m3dfel --batch 2 --format json
# context only: what cuDNN gains with TF32 tensor cores (not the fp32 comparison)
step torch-bench-b$B2-tf32 60 - "$PY" "$MT" --bench --device "$TDEV" --batch "$B2" --dtype tf32 --warmup "$TWARM" --iters "$TIT" --out "$RAW/torch_bench_b${B2}_tf32.json"
# the conv3d variant table on the GPU is not yet backed by numbers: time both variants at batch 32
step dfer-bench-direct 120 "$RAW/dfer_bench_direct.json" env DFER_ILGPU_CONV3D=direct "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch 32 --warmup 1 --repeats 3 --format json
step dfer-bench-tiled 120 "$RAW/dfer_bench_tiled.json" env DFER_ILGPU_CONV3D=tiled "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch 32 --warmup 1 --repeats 3 --format json

# ---- collect ---------------------------------------------------------------------------------
printf '%s\n' "${STATUS[@]}" > "$RAW/steps.txt"
"${PY:-python3}" - "$RAW" "$OUT" "$B1" "$B2" "$BK" "$DRY" "$((SECONDS - START))" <<'EOF' || echo "!! summary failed"
import json, os, shutil, sys
raw, out, b1, b2, bk, dry, elapsed = sys.argv[1:]

def load(name):
    try:
        with open(os.path.join(raw, name)) as f:
            return json.load(f)
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}

for name in ("validate.json", "validate_model.json", "crosscheck.json"):
    if os.path.exists(os.path.join(raw, name)):
        shutil.copy(os.path.join(raw, name), os.path.join(out, name))
bench = {"dfer_%s_b%s" % (bk, b1): load("dfer_bench_b%s.json" % b1),
         "dfer_%s_b%s" % (bk, b2): load("dfer_bench_b%s.json" % b2),
         "torch_fp32_b%s" % b1: load("torch_bench_b%s.json" % b1),
         "torch_fp32_b%s" % b2: load("torch_bench_b%s.json" % b2),
         "torch_tf32_b%s" % b2: load("torch_bench_b%s_tf32.json" % b2),
         "dfer_%s_b32_conv3d_direct" % bk: load("dfer_bench_direct.json"),
         "dfer_%s_b32_conv3d_tiled" % bk: load("dfer_bench_tiled.json")}
with open(os.path.join(out, "bench.json"), "w") as f:
    json.dump(bench, f, indent=1)

lines = ["dfer gpu run (dry=%s, backend %s), %ss" % (dry, bk, elapsed)]
dev = bench["torch_fp32_b%s" % b2].get("device") or bench["torch_fp32_b%s" % b1].get("device")
lines.append("device: %s; torch %s, cudnn %s" % (dev, bench["torch_fp32_b%s" % b2].get("torch"),
                                                 bench["torch_fp32_b%s" % b2].get("cudnn")))
for b in (b1, b2):
    d, t = bench["dfer_%s_b%s" % (bk, b)], bench["torch_fp32_b%s" % b]
    dc, tc = d.get("clips_per_s"), t.get("clips_per_s")
    ratio = "%.3f" % (dc / tc) if dc and tc else "n/a"
    lines.append("batch %4s: dfer %s %s clips/s (%s ms) | torch fp32 %s clips/s (%s ms) | dfer/torch = %s"
                 % (b, bk, "%.2f" % dc if dc else d.get("error", "n/a"),
                    "%.1f" % d["latency_ms"] if d.get("latency_ms") else "n/a",
                    "%.2f" % tc if tc else t.get("error", "n/a"),
                    "%.1f" % t["ms_per_batch"] if t.get("ms_per_batch") else "n/a", ratio))
tf = bench["torch_tf32_b%s" % b2].get("clips_per_s")
if tf:
    lines.append("(context) torch tf32 batch %s: %.2f clips/s" % (b2, tf))
for v in ("direct", "tiled"):
    c = bench["dfer_%s_b32_conv3d_%s" % (bk, v)].get("clips_per_s")
    lines.append("conv3d variant %s (DFER_ILGPU_CONV3D=%s), batch 32: %s clips/s" % (v, v, "%.2f" % c if c else "n/a"))
d, t = bench["dfer_%s_b%s" % (bk, b2)].get("clips_per_s"), bench["torch_fp32_b%s" % b2].get("clips_per_s")
lines.append("RATIO dfer-%s/torch-fp32 clips/s at batch %s: %s" % (bk, b2, "%.3f" % (d / t) if d and t else "n/a"))
cc = load("crosscheck.json")
if "results" in cc:
    for r in cc["results"]:
        lines.append("crosscheck %s: max|dlogit| = %s (tol %g) %s" % (
            os.path.basename(r["expect"]), "%.3g" % r["max_abs_diff"] if "max_abs_diff" in r else r.get("error"),
            cc["tol"], "OK" if r["ok"] else "FAIL"))
    lines.append("crosscheck logits: range %s, spread between clips %.3g" % (cc["logit_range"], cc["between_clips_max_diff"]))
else:
    lines.append("crosscheck: %s" % cc.get("error"))
for name in ("validate.json", "validate_model.json"):
    v = load(name)
    lines.append("%s: %s" % (name, "parsed (see file)" if "error" not in v else v["error"]))
with open(os.path.join(raw, "steps.txt")) as f:
    lines.append("steps:\n  " + f.read().strip().replace("\n", "\n  "))
text = "\n".join(lines) + "\n"
with open(os.path.join(out, "summary.txt"), "w") as f:
    f.write(text)
print(text)
EOF
tar -czf "$OUT/raw.tar.gz" -C "$WORK" raw 2>/dev/null || echo "!! tar failed"
echo "== done in $((SECONDS - START))s; files in $OUT:"; ls -la "$OUT"
rm -rf "$WORK"
exit 0
