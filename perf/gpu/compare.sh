#!/usr/bin/env bash
# shellcheck disable=SC2086  # $BATCHES and $PRECISIONS are word lists on purpose
# One-call comparison for issue 8: dfer bench --backend cuda --precision fp32|bf16|fp16|tf32 at batches
# 128, 1 and 8 against PyTorch's M3DFEL (m3dfel_torch.py) as eager fp32 (TF32 off), eager bf16 and fp16
# autocast (channels_last_3d), fp16 replayed from a CUDA graph and bf16 torch.compile(mode="max-autotune"),
# then a markdown table with clips/s and ms per batch and the issue's three targets (PASS/MISS).
# Run from anywhere on the GPU machine:
#     bash perf/gpu/compare.sh                 # results under $OUT (default perf/gpu/out)
#     bash perf/gpu/compare.sh --cpu-dry-run   # same steps on the CPU with batches 2 and 1 (or DRY_RUN=1)
# Needs perf/gpu/dist/ (see perf/gpu/README.md). Every step is logged and may fail without stopping the
# rest; the run keeps to BUDGET_S seconds (default 500): dfer's benches stop starting at DFER_UNTIL_S
# (default 230) and PyTorch's eager/graph step is cut so that COMPILE_S (default 150) is left for
# torch.compile, which runs last.
# At most 8 files land in $OUT: table.md compare.json dfer_bench.json torch_modes.json torch_compile.json
# run.log raw.tar.gz (every step's stdout and stderr).
# Knobs: PRECISIONS ("fp32 bf16 fp16 tf32"), BATCHES ("128 1 8"), BUILD_KERNELS=1 (cmake build of
# native/kernels first; by default the cuda backend compiles them with NVRTC), PYTHON, DIST, DFER_DLL.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=perf/gpu/env.sh
. "$HERE/env.sh"
start_run 500 compare "$@"

PRECISIONS=${PRECISIONS:-fp32 bf16 fp16 tf32}
if [ "$DRY" = 1 ]; then
  # the cpu backend computes in fp32 only: the other precisions are refused (exit 2), which tests that path
  BK=cpu; TDEV=cpu; BATCHES=${BATCHES:-2 1}; TB=2
  DWARM=0; DREP=1; DWARM1=0; DREP1=2; TWARM=1; TIT=1
  DFER_UNTIL=${DFER_UNTIL_S:-200}; COMPILE_S=${COMPILE_S:-40}; FIRST_S=120; STEP_S=60
  KBUILD=${KERNEL_BUILD_DIR:-$WORK/build}
else
  BK=cuda; TDEV=cuda; BATCHES=${BATCHES:-128 1 8}; TB=128
  DWARM=2; DREP=5; DWARM1=5; DREP1=20; TWARM=3; TIT=10
  DFER_UNTIL=${DFER_UNTIL_S:-230}; COMPILE_S=${COMPILE_S:-150}; FIRST_S=150; STEP_S=60
  KBUILD=${KERNEL_BUILD_DIR:-build}
fi
SORTED_BATCHES=$(printf '%s\n' $BATCHES | sort -n | paste -sd, -)


echo "dfer compare: dry=$DRY backend=$BK precisions='$PRECISIONS' batches='$BATCHES' torch-device=$TDEV budget=${BUDGET}s out=$OUT work=$WORK"
date -u; uname -a

find_python                     # PY: a python3 with torch and numpy, or empty
TPY=${PY:-$(command -v python3 || echo python3)}   # the torch steps then fail and say why; the table needs only the standard library
MODES=$HERE/m3dfel_torch_modes.py

setup_cli

# ---- steps -----------------------------------------------------------------------------------
step nvidia-smi 20 - nvidia-smi
step dotnet-info 30 - dotnet --list-runtimes
step table-self-test 30 - "$TPY" "$MODES" --self-test
if [ "${BUILD_KERNELS:-0}" = 1 ]; then build_kernels "$KBUILD"; fi
step devices 60 - "${DFER[@]}" devices

# Correctness before speed: the whole model in each precision against the cpu backend, four runs each on cuda
# (eager and replayed CUDA graph, both slots), judged by the precision's model tolerance; plus the op cases of
# every native kernel with a fused epilogue or a graph-replayed path (conv3d, lstm, attentionpool, small ops).
for p in $PRECISIONS; do
  step validate-model-$p 90 "$RAW/validate_model_$p.json" "${DFER[@]}" validate --backend "$BK" --op softmax \
    --model m3dfel --batch 4 --precision "$p" --format json
done
step validate-ops 120 "$RAW/validate_ops.json" "${DFER[@]}" validate --backend "$BK" --format json

# dfer: the target batch first, then batch 1, then the rest; fp32 and the 16-bit modes before tf32
first=1
for b in $BATCHES; do
  for p in $PRECISIONS; do
    name=dfer-$p-b$b
    if (((SECONDS - START) > DFER_UNTIL)); then
      echo "== SKIP $name: dfer's share of the budget (${DFER_UNTIL}s) is spent"; STATUS+=("$name: skipped (dfer budget)"); continue
    fi
    if ((b == 1)); then w=$DWARM1; r=$DREP1; else w=$DWARM; r=$DREP; fi
    t=$STEP_S; ((first)) && t=$FIRST_S   # the first run compiles the kernels (NVRTC) into the disk cache
    ((b >= 64)) && ((t < 90)) && t=90
    first=0
    step "$name" "$t" "$RAW/dfer_${p}_b$b.json" "${DFER[@]}" bench --model m3dfel --backend "$BK" --precision "$p" \
      --batch "$b" --warmup "$w" --repeats "$r" --format json
  done
done

# PyTorch eager and CUDA graph: cut so that COMPILE_S stays for torch.compile
left=$((BUDGET - (SECONDS - START)))
ts=$((left - COMPILE_S - 15)); ((ts > 240)) && ts=240; ((ts < 30)) && ts=30
step torch-modes "$ts" - "$TPY" "$MODES" --bench --device "$TDEV" --modes eager-fp32,eager-bf16,eager-fp16,graph-fp16 \
  --batches "$(printf '%s\n' $BATCHES | paste -sd, -)" --warmup "$TWARM" --iters "$TIT" --budget-s $((ts - 25)) --out "$RAW/torch_modes.json"

# torch.compile last: compile time is excluded from its timings but capped by this step's timeout
left=$((BUDGET - (SECONDS - START) - 10))
tc=$COMPILE_S; ((tc > left)) && tc=$left
if ((tc >= 20)); then
  step torch-compile "$tc" - "$TPY" "$MODES" --bench --device "$TDEV" --modes compile-bf16 \
    --batches "$(printf '%s\n' $BATCHES | paste -sd, -)" --warmup "$TWARM" --iters "$TIT" --budget-s $((tc - 20)) --out "$RAW/torch_compile.json"
else
  echo "== SKIP torch-compile: ${left}s left"; STATUS+=("torch-compile: skipped (budget, ${left}s left)")
fi

# ---- table -----------------------------------------------------------------------------------
printf '%s\n' "${STATUS[@]}" > "$RAW/steps.txt"
"$TPY" "$MODES" --table --raw "$RAW" --batches "$SORTED_BATCHES" --target-batch "$TB" \
  --out "$OUT/table.md" --json "$OUT/compare.json" || echo "!! table failed"
"$TPY" - "$RAW" "$OUT" <<'EOF' || echo "!! collecting the JSON failed"
import glob, json, os, shutil, sys
raw, out = sys.argv[1:]
# The validation verdicts go under the table: speed figures of a backend that fails them mean nothing.
lines = ["", "## Validation (dfer validate --backend cuda)", "", "| check | result |", "| --- | --- |"]
for path in sorted(glob.glob(os.path.join(raw, "validate_model_*.json"))):
    name = os.path.basename(path)[len("validate_model_"):-5]
    try:
        with open(path) as f:
            model = json.load(f)["model"]
        for b in model["backends"]:
            if b["backend"] == model["baseline"]:
                continue
            lines.append("| m3dfel %s %s, 4 runs (eager + CUDA graph) | %s: max |dlogit| %s (bound %s), same class %s (min %s) |" % (
                b["backend"], b["precision"], "PASS" if b["passed"] else "FAIL", b["max_abs_diff"],
                b["tolerance"]["max_abs_logit"], b["agreement"], b["tolerance"]["min_agreement"]))
    except Exception as e:
        lines.append("| m3dfel %s | no result (%s: %s) |" % (name, type(e).__name__, e))
try:
    with open(os.path.join(raw, "validate_ops.json")) as f:
        cases = json.load(f)["cases"]
    counts = {}
    for c in cases:
        counts[(c["backend"], c["status"])] = counts.get((c["backend"], c["status"]), 0) + 1
    for (backend, status), n in sorted(counts.items()):
        lines.append("| op cases on %s | %d %s |" % (backend, n, status))
    for c in cases:
        if c["status"] == "fail":
            lines.append("| FAIL %s %s | nmse %s, max err %s |" % (c["op"], c["case"], c.get("nmse"), c.get("max_abs_err")))
except Exception as e:
    lines.append("| op cases | no result (%s: %s) |" % (type(e).__name__, e))
with open(os.path.join(out, "table.md"), "a") as f:
    f.write("\n".join(lines) + "\n")
merged = {}
for path in sorted(glob.glob(os.path.join(raw, "dfer_*.json"))):
    try:
        with open(path) as f:
            merged[os.path.basename(path)[:-5]] = json.load(f)
    except Exception as e:
        merged[os.path.basename(path)[:-5]] = {"error": "%s: %s" % (type(e).__name__, e)}
with open(os.path.join(out, "dfer_bench.json"), "w") as f:
    json.dump(merged, f, indent=1)
for name in ("torch_modes.json", "torch_compile.json"):
    if os.path.exists(os.path.join(raw, name)):
        shutil.copy(os.path.join(raw, name), os.path.join(out, name))
EOF
tar -czf "$OUT/raw.tar.gz" -C "$WORK" raw 2>/dev/null || echo "!! tar failed"
echo "== done in $((SECONDS - START))s; files in $OUT:"; ls -la "$OUT"
rm -rf "$WORK"
exit 0
