#!/usr/bin/env bash
# One-shot GPU measurement: Dfer --backend ilgpu-cuda and --backend cuda vs PyTorch eager fp32 on the
# same GPU, plus a logits cross-check from shared weights. Run from the repository root on the GPU machine:
#     bash perf/gpu/run.sh                 # results under $OUT (default perf/gpu/out)
#     bash perf/gpu/run.sh --cpu-dry-run   # same steps on the CPU with tiny batches (or DRY_RUN=1)
# Needs perf/gpu/dist/ (see perf/gpu/README.md). Every step is logged and may fail without
# stopping the rest; the whole run keeps to BUDGET_S seconds (default 510).
# At most 8 files land in $OUT: run.log summary.txt validate.json validate_cuda.json validate_model.json
# bench.json crosscheck.json raw.tar.gz (every step's stdout/stderr).
# The shared setup (step, python, .NET runtime, driver aliases, kernel build) is in env.sh.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=perf/gpu/env.sh
. "$HERE/env.sh"
start_run 510 gpu "$@"

# CBK, the native cuda backend, is kept in a dry run too: there it fails fast, which tests the path.
CBK=cuda
if [ "$DRY" = 1 ]; then
  BK=cpu; TDEV=cpu; B1=1; B2=2; DWARM=0; DREP=1; TWARM=1; TIT=2; CLIPS=2
  KBUILD=${KERNEL_BUILD_DIR:-$WORK/build}
else
  BK=ilgpu-cuda; TDEV=cuda; B1=1; B2=128; DWARM=2; DREP=5; TWARM=3; TIT=10; CLIPS=2
  KBUILD=${KERNEL_BUILD_DIR:-build}
fi
# the batch-1 benches are cheap: more repeats
DWARM1=$((DWARM + 1)); DREP1=$((DREP * 2)); TIT1=$((TIT * 2))


echo "dfer gpu run: dry=$DRY backends=$BK,$CBK torch-device=$TDEV batches=$B1,$B2 out=$OUT work=$WORK"
date -u; uname -a

# ---- Python with torch ---------------------------------------------------------------------
find_python
MT=$HERE/m3dfel_torch.py

# ---- .NET runtime and the CLI ----------------------------------------------------------------
setup_cli

# ---- steps -----------------------------------------------------------------------------------
step nvidia-smi 20 - nvidia-smi
step dotnet-info 30 - dotnet --list-runtimes
build_kernels "$KBUILD"
step devices 60 - "${DFER[@]}" devices
step validate 90 "$RAW/validate.json" "${DFER[@]}" validate --backend "$BK" --format json
step validate-$CBK 90 "$RAW/validate_cuda.json" "${DFER[@]}" validate --backend "$CBK" --format json
step dfer-bench-b$B1 90 "$RAW/dfer_bench_b$B1.json" "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch "$B1" --warmup "$DWARM1" --repeats "$DREP1" --format json
step dfer-bench-b$B2 200 "$RAW/dfer_bench_b$B2.json" "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch "$B2" --warmup "$DWARM" --repeats "$DREP" --format json
step $CBK-bench-b$B1 60 "$RAW/cuda_bench_b$B1.json" "${DFER[@]}" bench --model m3dfel --backend "$CBK" --batch "$B1" --warmup "$DWARM1" --repeats "$DREP1" --format json
step $CBK-bench-b$B2 120 "$RAW/cuda_bench_b$B2.json" "${DFER[@]}" bench --model m3dfel --backend "$CBK" --batch "$B2" --warmup "$DWARM" --repeats "$DREP" --format json
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
step dfer-bench-direct 90 "$RAW/dfer_bench_direct.json" env DFER_ILGPU_CONV3D=direct "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch 32 --warmup 1 --repeats 2 --format json
step dfer-bench-tiled 90 "$RAW/dfer_bench_tiled.json" env DFER_ILGPU_CONV3D=tiled "${DFER[@]}" bench --model m3dfel --backend "$BK" --batch 32 --warmup 1 --repeats 2 --format json

# ---- collect ---------------------------------------------------------------------------------
printf '%s\n' "${STATUS[@]}" > "$RAW/steps.txt"
"${PY:-python3}" - "$RAW" "$OUT" "$B1" "$B2" "$BK" "$DRY" "$((SECONDS - START))" "$CBK" <<'EOF' || echo "!! summary failed"
import json, os, shutil, sys
raw, out, b1, b2, bk, dry, elapsed, cbk = sys.argv[1:]

def load(name):
    try:
        with open(os.path.join(raw, name)) as f:
            return json.load(f)
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}

for name in ("validate.json", "validate_cuda.json", "validate_model.json", "crosscheck.json"):
    if os.path.exists(os.path.join(raw, name)):
        shutil.copy(os.path.join(raw, name), os.path.join(out, name))
bench = {"dfer_%s_b%s" % (bk, b1): load("dfer_bench_b%s.json" % b1),
         "dfer_%s_b%s" % (bk, b2): load("dfer_bench_b%s.json" % b2),
         "dfer_%s_b%s" % (cbk, b1): load("cuda_bench_b%s.json" % b1),
         "dfer_%s_b%s" % (cbk, b2): load("cuda_bench_b%s.json" % b2),
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
    c, dc = bench["dfer_%s_b%s" % (cbk, b)], d.get("clips_per_s")
    cc = c.get("clips_per_s")
    lines.append("batch %4s: dfer %s %s clips/s (%s ms) | %s/torch-fp32 = %s | %s/%s = %s"
                 % (b, cbk, "%.2f" % cc if cc else c.get("error", "n/a"),
                    "%.1f" % c["latency_ms"] if c.get("latency_ms") else "n/a",
                    cbk, "%.3f" % (cc / tc) if cc and tc else "n/a",
                    cbk, bk, "%.3f" % (cc / dc) if cc and dc else "n/a"))
tf = bench["torch_tf32_b%s" % b2].get("clips_per_s")
if tf:
    lines.append("(context) torch tf32 batch %s: %.2f clips/s" % (b2, tf))
for v in ("direct", "tiled"):
    c = bench["dfer_%s_b32_conv3d_%s" % (bk, v)].get("clips_per_s")
    lines.append("conv3d variant %s (DFER_ILGPU_CONV3D=%s), batch 32: %s clips/s" % (v, v, "%.2f" % c if c else "n/a"))
d, t = bench["dfer_%s_b%s" % (bk, b2)].get("clips_per_s"), bench["torch_fp32_b%s" % b2].get("clips_per_s")
lines.append("RATIO dfer-%s/torch-fp32 clips/s at batch %s: %s" % (bk, b2, "%.3f" % (d / t) if d and t else "n/a"))
c = bench["dfer_%s_b%s" % (cbk, b2)].get("clips_per_s")
lines.append("RATIO dfer-%s/torch-fp32 clips/s at batch %s: %s" % (cbk, b2, "%.3f" % (c / t) if c and t else "n/a"))
lines.append("RATIO dfer-%s/dfer-%s clips/s at batch %s: %s" % (cbk, bk, b2, "%.3f" % (c / d) if c and d else "n/a"))
cc = load("crosscheck.json")
if "results" in cc:
    for r in cc["results"]:
        lines.append("crosscheck %s: max|dlogit| = %s (tol %g) %s" % (
            os.path.basename(r["expect"]), "%.3g" % r["max_abs_diff"] if "max_abs_diff" in r else r.get("error"),
            cc["tol"], "OK" if r["ok"] else "FAIL"))
    lines.append("crosscheck logits: range %s, spread between clips %.3g" % (cc["logit_range"], cc["between_clips_max_diff"]))
else:
    lines.append("crosscheck: %s" % cc.get("error"))
for name in ("validate.json", "validate_cuda.json", "validate_model.json"):
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
