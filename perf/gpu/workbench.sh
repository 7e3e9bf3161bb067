#!/usr/bin/env bash
# One-shot GPU conv3d workbench: Dfer's native CUDA conv3d variants (Dfer.Workbench) against cuDNN
# (through PyTorch) on every M3DFEL conv layer at batches 1, 8, 32 and 128. Run from the
# repository root on the GPU machine:
#     bash perf/gpu/workbench.sh                 # results under $OUT (default perf/gpu/out)
#     bash perf/gpu/workbench.sh --cpu-dry-run   # the same steps on a CPU machine (or DRY_RUN=1)
# Needs perf/gpu/dist/ with dotnet/, dfer/ and workbench/ (see perf/gpu/README.md). Every step is
# logged and may fail without stopping the rest; the whole run keeps to BUDGET_S seconds (default 510).
# At most 8 files land in $OUT: run.log table.md merged.json ours.json cudnn.json
# validate_conv3d.json validate_cuda.json raw.tar.gz (every step's stdout/stderr).
# Knobs: WB_ARGS (extra Dfer.Workbench arguments), TORCH_WB_ARGS (extra conv_workbench_torch.py
# arguments, e.g. --all-layouts), WB_BATCHES (default 1,8,32,128), WORKBENCH_DLL, DFER_DLL,
# KERNEL_BUILD_DIR (default build), CUDNN_S (seconds kept back from Dfer.Workbench for the cuDNN side,
# the table and the last validate; default 200), PYTHON, DIST, OUT.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=perf/gpu/env.sh
. "$HERE/env.sh"
start_run 510 wb "$@"

BATCHES=${WB_BATCHES:-1,8,32,128}
# cuDNN side: largest batch first, so a run cut short by its budget keeps the target batch
TBATCHES=$(echo "$BATCHES" | tr ',' '\n' | sort -rn | paste -sd, -)
if [ "$DRY" = 1 ]; then
  VBK=cpu; KBUILD=${KERNEL_BUILD_DIR:-$WORK/build}
else
  VBK=cuda; KBUILD=${KERNEL_BUILD_DIR:-build}
fi


echo "dfer conv3d workbench: dry=$DRY validate-backend=$VBK batches=$BATCHES out=$OUT work=$WORK budget=${BUDGET}s"
date -u; uname -a

find_python
setup_cli
WORKBENCH_DLL=${WORKBENCH_DLL:-$DIST/dfer/Dfer.Workbench.dll}
[ -f "$WORKBENCH_DLL" ] || echo "!! $WORKBENCH_DLL missing"
SPY=${PY:-python3}   # the table and the dry-run layer table need no torch
# dfer_step NAME TIMEOUT STDOUT ARGS...: a dfer CLI step, skipped with a reason when the CLI is absent
dfer_step() {
  if [ ! -f "$DFER_DLL" ]; then
    echo "== SKIP $1: $DFER_DLL is absent (publish src/Dfer.Cli into $DIST/dfer)"; STATUS+=("$1: skipped (no dfer.dll)"); return 0
  fi
  local name=$1 t=$2 so=$3; shift 3
  step "$name" "$t" "$so" "${DFER[@]}" "$@"
}

# ---- steps -----------------------------------------------------------------------------------
step nvidia-smi 20 - nvidia-smi
step dotnet-info 30 - dotnet --list-runtimes
build_kernels "$KBUILD"
dfer_step validate-conv3d 90 "$RAW/validate_conv3d.json" validate --backend "$VBK" --op conv3d --format json
# the reduced-precision variants the table picks, on the op cases with their precision's tolerance
# (results in raw.tar.gz; a dry run on the cpu backend shows the refusal of non-fp32 precisions)
for prec in bf16 fp16 tf32; do
  dfer_step "validate-conv3d-$prec" 60 "$RAW/validate_conv3d_$prec.json" validate --backend "$VBK" --op conv3d --precision "$prec" --format json
done

# ours first, given all but what the cuDNN side, the table and the last validate need
left=$((BUDGET - (SECONDS - START)))
wb_t=$((left - ${CUDNN_S:-200})); ((wb_t < 60)) && wb_t=60
if [ ! -f "$WORKBENCH_DLL" ]; then
  echo "== SKIP workbench-ours: $WORKBENCH_DLL is absent (publish perf/Dfer.Workbench into $DIST/dfer)"
  STATUS+=("workbench-ours: skipped (no $WORKBENCH_DLL)")
elif [ "$DRY" = 1 ]; then
  # shellcheck disable=SC2086  # WB_ARGS is a list of words
  step workbench-ours "$wb_t" "$RAW/ours.json" dotnet "$WORKBENCH_DLL" --batches 1 --format json ${WB_ARGS:-}
else
  # shellcheck disable=SC2086
  # --budget-s leaves it time to finish its current layer; --out keeps every finished layer on disk
  step workbench-ours "$wb_t" "$RAW/ours.stdout.json" dotnet "$WORKBENCH_DLL" --batches "$TBATCHES" --format json \
    --budget-s $((wb_t - 40)) --out "$RAW/ours.json" ${WB_ARGS:-}
fi

# cuDNN: stops starting measurements at its own budget and writes what it has after every one
left=$((BUDGET - (SECONDS - START)))
tb=$((left - 70)); ((tb < 30)) && tb=30
if [ "$DRY" = 1 ]; then
  # shellcheck disable=SC2086
  step workbench-cudnn 60 - "$SPY" "$HERE/conv_workbench_torch.py" --dry-run --batches "$TBATCHES" --out "$RAW/cudnn.json" ${TORCH_WB_ARGS:-}
else
  # shellcheck disable=SC2086
  step workbench-cudnn $((tb + 40)) - "$PY" "$HERE/conv_workbench_torch.py" --batches "$TBATCHES" --repeats 10 \
    --budget-s "$tb" --out "$RAW/cudnn.json" ${TORCH_WB_ARGS:-}
fi

step table 30 - "$SPY" "$HERE/workbench_table.py" --ours "$RAW/ours.json" --cudnn "$RAW/cudnn.json" \
  --md "$RAW/table.md" --json "$RAW/merged.json"
dfer_step validate-$VBK 90 "$RAW/validate_cuda.json" validate --backend "$VBK" --format json

# ---- collect ---------------------------------------------------------------------------------
printf '%s\n' "${STATUS[@]}" > "$RAW/steps.txt"
for f in table.md merged.json ours.json cudnn.json validate_conv3d.json validate_cuda.json; do
  if [ -s "$RAW/$f" ]; then cp "$RAW/$f" "$OUT/$f"; else echo "(no $f)"; fi
done
if [ -f "$OUT/table.md" ]; then
  { echo; echo "## Steps (workbench.sh, dry=$DRY, $((SECONDS - START)) s; kernels built: ${KERNELS_BUILT:-?})"; echo
    sed 's/^/- /' "$RAW/steps.txt"; } >> "$OUT/table.md"
fi
echo "== targets:"; grep -E '^- \*\*(PASS|MISS|NO DATA)\*\*' "$OUT/table.md" 2>/dev/null || echo "(no table)"
echo "== steps:"; sed 's/^/  /' "$RAW/steps.txt"
tar -czf "$OUT/raw.tar.gz" -C "$WORK" raw 2>/dev/null || echo "!! tar failed"
echo "== done in $((SECONDS - START))s; files in $OUT:"; ls -la "$OUT"
rm -rf "$WORK"
exit 0
