#!/usr/bin/env python3
"""PyTorch's fastest ways to run M3DFEL, timed, and the markdown table that sets dfer against them.

The model is m3dfel_torch.py's (written from m3dfel.md); torch is imported only by --bench, so
--table and --self-test run on a machine without it.

  --bench --modes eager-fp32,eager-bf16,eager-fp16,graph-fp16 --batches 128,1,8 --out torch.json
      eager-fp32     fp32, NCDHW, TF32 off (the exact-fp32 baseline)
      eager-bf16     torch.autocast(bfloat16), channels_last_3d
      eager-fp16     torch.autocast(float16), channels_last_3d
      graph-fp16     model.half(), channels_last_3d, replayed from a torch.cuda.CUDAGraph captured on a
                     static input
      compile-bf16   model in bfloat16, channels_last_3d, torch.compile(mode="max-autotune",
                     dynamic=False); compile time is measured apart and excluded from the timings
    cudnn.benchmark on; warm-up, then CUDA events around each pass, median. The JSON (device, driver,
    torch, cuDNN and CUDA versions, one result or error per mode and batch) is rewritten after every
    measurement, and an entry saying "started" is written before each one, so a run killed by its
    step timeout keeps what it measured and says where it stopped. --budget-s stops starting new
    measurements.
  --table --raw DIR --out table.md [--json compare.json] [--batches 1,8,128] [--target-batch 128]
      DIR holds dfer_<precision>_b<batch>.json (dfer bench --format json), torch*.json (--bench)
      and steps.txt / <step>.err from compare.sh; standard library only.
  --self-test
      builds the table from synthetic JSON and checks its figures and verdicts; standard library only.
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ["eager-fp32", "eager-bf16", "eager-fp16", "graph-fp16", "compile-bf16"]
MODE_TEXT = {
    "eager-fp32": "PyTorch eager fp32 (TF32 off)",
    "eager-bf16": "PyTorch eager bf16 autocast, channels_last_3d",
    "eager-fp16": "PyTorch eager fp16 autocast, channels_last_3d",
    "graph-fp16": "PyTorch fp16 (model.half), CUDA graph replay",
    "compile-bf16": "PyTorch bf16 torch.compile max-autotune",
}
TORCH_16BIT = ["eager-bf16", "eager-fp16", "graph-fp16", "compile-bf16"]
DFER_PRECISIONS = ["fp32", "tf32", "bf16", "fp16"]
# the targets
TARGET_16BIT_CLIPS = 4000.0     # clips/s at batch 128, 16-bit
TARGET_B1_MS = 0.5              # ms per clip at batch 1
TARGET_FP32_CLIPS = 600.0       # clips/s at batch 128, exact fp32


# ----------------------------------------------------------------------------------------------
# torch side
# ----------------------------------------------------------------------------------------------
def versions(torch, dev):
    meta = {"torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "python": sys.version.split()[0], "device": "cpu", "driver": None}
    if dev.type == "cuda":
        meta["device"] = torch.cuda.get_device_name(dev)
        meta["capability"] = list(torch.cuda.get_device_capability(dev))
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            meta["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except Exception as e:  # no nvidia-smi: say so rather than fail
            meta["driver"] = "unknown (%s)" % type(e).__name__
    return meta


def time_passes(torch, fn, dev, warmup, iters):
    """Median, min and max ms of fn() after warm-up: CUDA events on a GPU, perf_counter on a CPU."""
    for _ in range(warmup):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    times = []
    for _ in range(iters):
        if dev.type == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    return med, times[0], times[-1]


def prepare(torch, mt, base, mode, dev, batch, compiled_cache):
    """(fn, extra) for one mode at one batch: fn runs one forward pass on a static input."""
    import copy
    x = torch.rand(batch, mt.FRAMES, 3, mt.SIZE, mt.SIZE, generator=torch.Generator().manual_seed(1)).to(dev)
    if mode == "eager-fp32":
        model = base
        model.memory_format = torch.contiguous_format
        return (lambda: model(x)), {}
    if mode in ("eager-bf16", "eager-fp16"):
        dtype = torch.bfloat16 if mode == "eager-bf16" else torch.float16
        model = compiled_cache.get(mode)
        if model is None:
            model = copy.deepcopy(base).to(memory_format=torch.channels_last_3d)
            model.memory_format = torch.channels_last_3d
            compiled_cache[mode] = model

        def run():
            with torch.autocast(device_type=dev.type, dtype=dtype):
                return model(x)
        return run, {}
    if mode == "graph-fp16":
        if dev.type != "cuda":
            raise RuntimeError("CUDA graphs need a CUDA device")
        model = compiled_cache.get(mode)
        if model is None:
            model = copy.deepcopy(base).half().to(memory_format=torch.channels_last_3d)
            model.memory_format = torch.channels_last_3d
            compiled_cache[mode] = model
        static_x = x.half()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # cudnn.benchmark picks its algorithms here, before the capture
                model(static_x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_y = model(static_x)
        graph.replay()
        torch.cuda.synchronize()
        if not bool(torch.isfinite(static_y.float()).all()):
            raise RuntimeError("the captured graph gives non-finite logits")
        return graph.replay, {}
    if mode == "compile-bf16":
        model = compiled_cache.get(mode)
        if model is None:
            eager = copy.deepcopy(base).to(torch.bfloat16).to(memory_format=torch.channels_last_3d)
            eager.memory_format = torch.channels_last_3d
            model = torch.compile(eager, mode="max-autotune", dynamic=False)
            compiled_cache[mode] = model
        xb = x.to(torch.bfloat16)
        t0 = time.time()
        model(xb)  # compiles (and autotunes) for this batch
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (lambda: model(xb)), {"compile_s": round(time.time() - t0, 2)}
    raise ValueError("unknown mode %s" % mode)


def bench(args):
    doc = {"meta": {}, "results": [], "args": {"modes": args.modes, "batches": args.batches}}

    def save():
        if args.out:
            with open(args.out + ".tmp", "w") as f:
                json.dump(doc, f, indent=1)
            os.replace(args.out + ".tmp", args.out)

    def put(entry):
        doc["results"] = [r for r in doc["results"] if (r["mode"], r["batch"]) != (entry["mode"], entry["batch"])]
        doc["results"].append(entry)
        save()

    modes = [m for m in args.modes.split(",") if m]
    batches = [int(b) for b in args.batches.split(",") if b]
    try:
        import torch
        sys.path.insert(0, HERE)
        import m3dfel_torch as mt
    except Exception as e:  # no torch here: every measurement says why
        doc["error"] = "cannot import torch / m3dfel_torch: %s: %s" % (type(e).__name__, e)
        for m in modes:
            for b in batches:
                put({"mode": m, "batch": b, "error": doc["error"]})
        print(json.dumps(doc))
        return 1
    dev = torch.device(args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu")
    doc["meta"] = versions(torch, dev)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    doc["meta"].update({"allow_tf32": False, "cudnn_benchmark": dev.type == "cuda"})
    save()
    torch.manual_seed(0)
    base = mt.M3DFEL()
    mt.randomize(base, 0)
    base = base.eval().to(dev)
    cache = {}
    start = time.time()
    rc = 0
    with torch.inference_mode():
        for m in modes:
            for b in batches:
                if time.time() - start > args.budget_s:
                    put({"mode": m, "batch": b, "error": "not started: the %gs budget was spent" % args.budget_s})
                    continue
                put({"mode": m, "batch": b, "error": "started at %.0fs and never finished (killed by the step timeout?)"
                     % (time.time() - start)})
                warmup, iters = (args.warmup, args.iters) if b > 1 else (args.warmup * 3, args.iters * 4)
                try:
                    t0 = time.time()
                    fn, extra = prepare(torch, mt, base, m, dev, b, cache)
                    ms, lo, hi = time_passes(torch, fn, dev, warmup, iters)
                    entry = {"mode": m, "batch": b, "clips_per_s": b * 1e3 / ms, "ms_per_batch": ms, "ms_min": lo,
                             "ms_max": hi, "warmup": warmup, "iters": iters, "setup_s": round(time.time() - t0, 2)}
                    entry.update(extra)
                    if dev.type == "cuda":
                        entry["max_mem_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2 ** 30, 2)
                    put(entry)
                    print("%-13s batch %4d: %9.2f clips/s  %8.3f ms" % (m, b, entry["clips_per_s"], ms), flush=True)
                except Exception as e:
                    msg = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
                    put({"mode": m, "batch": b, "error": msg[:300]})
                    print("%-13s batch %4d: FAILED %s" % (m, b, msg[:300]), flush=True)
                    rc = 1
                    if dev.type == "cuda":
                        torch.cuda.empty_cache()
    print(json.dumps(doc["meta"]))
    return rc


# ----------------------------------------------------------------------------------------------
# the table (standard library only)
# ----------------------------------------------------------------------------------------------
def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}


def _reason(raw, step):
    """Why a step gave no JSON: its rc from steps.txt and the last error line of its stderr."""
    rc = None
    try:
        with open(os.path.join(raw, "steps.txt")) as f:
            for line in f:
                if line.startswith(step + ":"):
                    rc = line.split(":", 1)[1].strip()
    except OSError:
        pass
    last = ""
    try:
        with open(os.path.join(raw, step + ".err"), errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        errs = [l for l in lines if "error" in l.lower()]
        last = (errs or lines or [""])[-1]
    except OSError:
        pass
    if rc and ("rc=124" in rc or "rc=137" in rc):
        return "timed out (%s)" % rc
    parts = [p for p in (rc, last[:160]) if p]
    return "; ".join(parts) if parts else "no result"


def collect(raw, batches):
    """Rows {batch, side, mode, label, clips_per_s, ms_per_batch, note} and the run's metadata."""
    rows, meta = [], {}
    for b in batches:
        for p in DFER_PRECISIONS:
            d = _load(os.path.join(raw, "dfer_%s_b%d.json" % (p, b)))
            row = {"batch": b, "side": "dfer", "mode": p, "label": "dfer %s %s" % (d.get("backend") or "cuda", p)}
            if d.get("clips_per_s"):
                # dfer's throughput is the streamed one where bench reports it (the next batch uploads while one
                # computes, host<->device copies included); latency is one synchronous batch either way.
                streamed = d.get("streamed_clips_per_s")
                row.update(clips_per_s=streamed or d["clips_per_s"], ms_per_batch=d["latency_ms"],
                           note="streamed" if streamed else "")
                meta.setdefault("dfer_device", d.get("device"))
                meta.setdefault("dfer_backend", d.get("backend"))
                if d.get("precision") and d["precision"] != p:
                    row["note"] = "ran in %s" % d["precision"]
            else:
                row.update(clips_per_s=None, ms_per_batch=None, note=_reason(raw, "dfer-%s-b%d" % (p, b)))
            rows.append(row)
    torch_results, step_of = {}, {}
    for path in sorted(glob.glob(os.path.join(raw, "torch*.json"))):
        doc = _load(path)
        step = "torch-" + os.path.basename(path)[len("torch"):-len(".json")].strip("_")
        for k, v in (doc.get("meta") or {}).items():
            if v is not None:
                meta.setdefault(k, v)
        for r in doc.get("results", []):
            torch_results[(r["mode"], r["batch"])] = r
            step_of[(r["mode"], r["batch"])] = step
        if "error" in doc and not doc.get("results"):
            meta.setdefault("torch_error", doc["error"])
    for b in batches:
        for m in MODES:
            r = torch_results.get((m, b))
            row = {"batch": b, "side": "torch", "mode": m, "label": MODE_TEXT[m]}
            if r and r.get("clips_per_s"):
                note = "compile %.0f s (excluded)" % r["compile_s"] if "compile_s" in r else ""
                row.update(clips_per_s=r["clips_per_s"], ms_per_batch=r["ms_per_batch"], note=note)
            else:
                why = r.get("error") if r else None
                if r is None or (why and why.startswith("started at")):
                    step = step_of.get((m, b), "torch-compile" if m == "compile-bf16" else "torch-modes")
                    why = ((why + "; ") if why else "") + _reason(raw, step)
                row.update(clips_per_s=None, ms_per_batch=None, note=why or "no result")
            rows.append(row)
    return rows, meta


def _num(v):
    """A figure with 4 significant digits at most, never rounded to 0."""
    return ("%.0f" % v) if v >= 1000 else ("%.4g" % v)


def _best(rows, batch, side, modes, key):
    cands = [r for r in rows if r["batch"] == batch and r["side"] == side and r["mode"] in modes and r[key]]
    if not cands:
        return None
    return max(cands, key=lambda r: r["clips_per_s"])


def targets(rows, tb):
    """The issue's three targets, each with an absolute and a relative verdict (PASS, MISS, NO DATA)."""
    out = []

    def verdict(ok):
        return "NO DATA" if ok is None else ("PASS" if ok else "MISS")

    # 1. 16-bit throughput at the target batch
    d = _best(rows, tb, "dfer", ("bf16", "fp16"), "clips_per_s")
    t = _best(rows, tb, "torch", TORCH_16BIT, "clips_per_s")
    ratio = d["clips_per_s"] / t["clips_per_s"] if d and t else None
    out.append({"target": "16-bit throughput, batch %d: >= %g clips/s and faster than PyTorch's best 16-bit" % (tb, TARGET_16BIT_CLIPS),
                "dfer": d and "%s: %s clips/s" % (d["label"], _num(d["clips_per_s"])),
                "torch": t and "%s: %s clips/s" % (t["label"], _num(t["clips_per_s"])),
                "ratio": ratio, "absolute": verdict(d and d["clips_per_s"] >= TARGET_16BIT_CLIPS),
                "relative": verdict(None if ratio is None else ratio >= 1)})
    # 2. batch-1 latency: dfer's fastest precision vs the fp16 CUDA graph
    d = _best(rows, 1, "dfer", DFER_PRECISIONS, "ms_per_batch")
    t = next((r for r in rows if r["batch"] == 1 and r["mode"] == "graph-fp16" and r["ms_per_batch"]), None)
    ratio = t["ms_per_batch"] / d["ms_per_batch"] if d and t else None
    out.append({"target": "batch-1 latency: <= %g ms and below PyTorch's fp16 CUDA-graph latency" % TARGET_B1_MS,
                "dfer": d and "%s: %.3f ms" % (d["label"], d["ms_per_batch"]),
                "torch": t and "%s: %.3f ms" % (t["label"], t["ms_per_batch"]),
                "ratio": ratio, "absolute": verdict(d and d["ms_per_batch"] <= TARGET_B1_MS),
                "relative": verdict(None if ratio is None else ratio >= 1)})
    # 3. exact fp32 at the target batch vs eager fp32 with TF32 off
    d = next((r for r in rows if r["batch"] == tb and r["side"] == "dfer" and r["mode"] == "fp32" and r["clips_per_s"]), None)
    t = next((r for r in rows if r["batch"] == tb and r["mode"] == "eager-fp32" and r["clips_per_s"]), None)
    ratio = d["clips_per_s"] / t["clips_per_s"] if d and t else None
    out.append({"target": "exact fp32, batch %d: >= %g clips/s and faster than PyTorch eager fp32 (TF32 off)" % (tb, TARGET_FP32_CLIPS),
                "dfer": d and "%s: %s clips/s" % (d["label"], _num(d["clips_per_s"])),
                "torch": t and "%s: %s clips/s" % (t["label"], _num(t["clips_per_s"])),
                "ratio": ratio, "absolute": verdict(d and d["clips_per_s"] >= TARGET_FP32_CLIPS),
                "relative": verdict(None if ratio is None else ratio >= 1)})
    return out


def render(rows, tgts, meta, batches, tb, steps_text=""):
    f = lambda v, fmt: (fmt % v) if v is not None else "—"
    lines = ["# M3DFEL: dfer (cuda backend) vs PyTorch", ""]
    lines.append("- device: %s (compute capability %s); driver %s" % (
        meta.get("device", "?"), ".".join(str(c) for c in meta.get("capability", [])) or "?", meta.get("driver", "?")))
    lines.append("- torch %s, CUDA %s, cuDNN %s, Python %s" % (meta.get("torch", "?"), meta.get("cuda", "?"),
                                                            meta.get("cudnn", "?"), meta.get("python", "?")))
    lines.append("- dfer: backend %s on %s" % (meta.get("dfer_backend", "?"), meta.get("dfer_device", "?")))
    if meta.get("torch_error"):
        lines.append("- torch: %s" % meta["torch_error"])
    lines += ["", "| batch | mode | clips/s | ms per batch | notes |", "|---:|---|---:|---:|---|"]
    for b in batches:
        for r in rows:
            if r["batch"] == b:
                lines.append("| %d | %s | %s | %s | %s |" % (b, r["label"], f(r["clips_per_s"], "%.1f"),
                                                          f(r["ms_per_batch"], "%.3f"), r["note"].replace("|", "/")))
    lines += ["", "## Targets (issue 8)", "",
              "| target | dfer | PyTorch | dfer/PyTorch | absolute | vs PyTorch |", "|---|---|---|---:|---|---|"]
    for t in tgts:
        lines.append("| %s | %s | %s | %s | **%s** | **%s** |" % (t["target"], t["dfer"] or "—", t["torch"] or "—",
                                                                  f(t["ratio"], "%.2f"), t["absolute"], t["relative"]))
    lines += ["",
              "dfer/PyTorch is a speed ratio: clips/s over clips/s, or PyTorch ms over dfer ms for the latency; above 1 dfer is faster.",
              "dfer times each pass with a wall clock around Session.Run: the upload of the clips, the input checks and the",
              "download of the logits are inside it. PyTorch's passes start from an input already on the GPU (CUDA events).",
              "Both take the median after warm-up. The 16-bit rows of dfer run conv3d in 16 bits and the other ops in fp32."]
    if tb != 128:
        lines.append("(dry run: the targets are judged at batch %d, not 128)" % tb)
    if steps_text:
        lines += ["", "## Steps", "", "```", steps_text.strip(), "```"]
    return "\n".join(lines) + "\n"


def table(args):
    batches = [int(b) for b in args.batches.split(",") if b]
    rows, meta = collect(args.raw, batches)
    tgts = targets(rows, args.target_batch)
    steps = ""
    try:
        with open(os.path.join(args.raw, "steps.txt")) as fh:
            steps = fh.read()
    except OSError:
        pass
    text = render(rows, tgts, meta, batches, args.target_batch, steps)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows, "targets": tgts, "target_batch": args.target_batch}, fh, indent=1)
    print(text)
    return 0


def self_test():
    """The table from synthetic results: figures, best-of choices, verdicts, missing data and reasons."""
    raw = tempfile.mkdtemp(prefix="dfer-compare-selftest-")
    dfer = {  # (precision, batch): (clips/s, ms)
        ("fp32", 1): (800, 1.25), ("fp32", 8): (650, 12.3), ("fp32", 128): (700, 182.9),
        ("tf32", 1): (1200, 0.83), ("tf32", 128): (1500, 85.3),
        ("bf16", 1): (2500, 0.4), ("bf16", 8): (3000, 2.67), ("bf16", 128): (4500, 28.4),
        ("fp16", 1): (2000, 0.5), ("fp16", 128): (4200, 30.5),
    }
    for (p, b), (cps, ms) in dfer.items():
        with open(os.path.join(raw, "dfer_%s_b%d.json" % (p, b)), "w") as f:
            json.dump({"model": "m3dfel", "backend": "cuda", "precision": p, "batch": b, "clips_per_s": cps,
                       "latency_ms": ms, "device": "NVIDIA H200, %s" % p}, f)
    with open(os.path.join(raw, "dfer-tf32-b8.err"), "w") as f:
        f.write("dfer: error: CUDA_ERROR_OUT_OF_MEMORY: out of memory\n")
    torch_doc = {"meta": {"device": "NVIDIA H200", "capability": [9, 0], "driver": "580.1", "torch": "2.11.0",
                          "cuda": "13.0", "cudnn": 91000, "python": "3.12.3"},
                 "results": [
                     {"mode": "eager-fp32", "batch": 1, "clips_per_s": 250, "ms_per_batch": 4.0},
                     {"mode": "eager-fp32", "batch": 128, "clips_per_s": 1000, "ms_per_batch": 128.0},
                     {"mode": "eager-bf16", "batch": 128, "clips_per_s": 3000, "ms_per_batch": 42.7},
                     {"mode": "eager-fp16", "batch": 128, "clips_per_s": 3200, "ms_per_batch": 40.0},
                     {"mode": "graph-fp16", "batch": 1, "clips_per_s": 1250, "ms_per_batch": 0.8},
                     {"mode": "graph-fp16", "batch": 128, "clips_per_s": 5000, "ms_per_batch": 25.6},
                     {"mode": "eager-bf16", "batch": 8, "error": "started at 12s and never finished (killed by the step timeout?)"},
                 ]}
    with open(os.path.join(raw, "torch_modes.json"), "w") as f:
        json.dump(torch_doc, f)
    with open(os.path.join(raw, "torch_compile.json"), "w") as f:
        json.dump({"meta": {}, "results": [{"mode": "compile-bf16", "batch": 128, "clips_per_s": 4800,
                                            "ms_per_batch": 26.7, "compile_s": 95.2},
                                           {"mode": "compile-bf16", "batch": 1, "error": "BackendCompilerFailed: boom"}]}, f)
    with open(os.path.join(raw, "steps.txt"), "w") as f:
        f.write("dfer-tf32-b8: rc=3 4s\ntorch-modes: rc=124 200s\ntorch-compile: rc=1 100s\n")
    args = argparse.Namespace(raw=raw, batches="1,8,128", target_batch=128, out=os.path.join(raw, "table.md"),
                              json=os.path.join(raw, "compare.json"))
    table(args)
    with open(args.json) as f:
        got = json.load(f)
    text = open(args.out).read()
    t = {x["target"].split(":")[0]: x for x in got["targets"]}
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append(what)

    t16, tlat, t32 = t["16-bit throughput, batch 128"], t["batch-1 latency"], t["exact fp32, batch 128"]
    expect(abs(t16["ratio"] - 4500 / 5000) < 1e-9, "16-bit ratio is dfer bf16 over torch's best 16-bit (graph 5000)")
    expect((t16["absolute"], t16["relative"]) == ("PASS", "MISS"), "16-bit verdicts %s" % [t16["absolute"], t16["relative"]])
    expect(abs(tlat["ratio"] - 0.8 / 0.4) < 1e-9, "latency ratio is torch graph ms over dfer's fastest batch-1 ms")
    expect((tlat["absolute"], tlat["relative"]) == ("PASS", "PASS"), "latency verdicts")
    expect(abs(t32["ratio"] - 0.7) < 1e-9 and (t32["absolute"], t32["relative"]) == ("PASS", "MISS"), "fp32 verdicts")
    expect("| 8 | dfer cuda tf32 | — | — | rc=3 4s; dfer: error: CUDA_ERROR_OUT_OF_MEMORY: out of memory |" in text,
           "a failed dfer step shows its rc and error")
    expect("killed by the step timeout?); timed out (rc=124 200s)" in text, "a killed torch step says it timed out")
    expect("BackendCompilerFailed: boom" in text and "compile 95 s (excluded)" in text, "compile failures and times")
    expect("driver 580.1" in text and "cuDNN 91000" in text and "CUDA 13.0" in text, "versions")
    expect(len([l for l in text.splitlines() if l.startswith("| 128 |")]) == 9, "9 modes per batch")
    # no data at all: every verdict says so
    empty = tempfile.mkdtemp(prefix="dfer-compare-empty-")
    rows, _ = collect(empty, [1, 128])
    expect(all(x["absolute"] == "NO DATA" and x["relative"] == "NO DATA" for x in targets(rows, 128)), "no data")
    if problems:
        print("SELF-TEST FAILED:\n  " + "\n  ".join(problems))
        return 1
    import shutil
    shutil.rmtree(raw, ignore_errors=True)
    shutil.rmtree(empty, ignore_errors=True)
    print("self-test passed")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", action="store_true")
    p.add_argument("--table", action="store_true")
    p.add_argument("--self-test", action="store_true")
    p.add_argument("--modes", default="eager-fp32,eager-bf16,eager-fp16,graph-fp16")
    p.add_argument("--batches", default="128,1,8")
    p.add_argument("--device", default="cuda")
    p.add_argument("--warmup", type=int, default=3, help="warm-up passes (x3 at batch 1)")
    p.add_argument("--iters", type=int, default=10, help="timed passes (x4 at batch 1)")
    p.add_argument("--budget-s", type=float, default=1e9, help="start no measurement after this many seconds")
    p.add_argument("--raw", help="--table: folder of dfer_*.json, torch*.json, steps.txt and *.err")
    p.add_argument("--target-batch", type=int, default=128)
    p.add_argument("--out", help="--bench: JSON; --table: markdown")
    p.add_argument("--json", help="--table: merged JSON")
    args = p.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.table:
        if not args.raw:
            p.error("--table needs --raw DIR")
        return table(args)
    if args.bench:
        bad = [m for m in args.modes.split(",") if m and m not in MODES]
        if bad:
            p.error("unknown modes %s; modes are %s" % (bad, ", ".join(MODES)))
        return bench(args)
    p.error("give --bench, --table or --self-test")


if __name__ == "__main__":
    sys.exit(main())
