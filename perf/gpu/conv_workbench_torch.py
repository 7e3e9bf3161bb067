#!/usr/bin/env python3
"""cuDNN (through PyTorch) on every M3DFEL conv3d layer shape: the bar our CUDA conv3d kernels
must clear. One JSON per run, read by workbench_table.py together with Dfer.Workbench's JSON.

For each layer (LAYERS below, the names the C# workbench uses) and batch B (clips; N = 4*B
instances) it times F.conv3d without bias, which is what cuDNN sees once BatchNorm is folded.
Our kernels also fuse bias, ReLU and the residual add; cuDNN's times here exclude all three.
Precisions:
  fp32  float32, TF32 off (cudnn.allow_tf32 = cuda.matmul.allow_tf32 = False), NCDHW
  tf32  float32, TF32 allowed, NCDHW
  bf16  bfloat16, input and weight in channels_last_3d
  fp16  float16,  input and weight in channels_last_3d
(--all-layouts times fp32/tf32 in channels_last_3d too and bf16/fp16 in NCDHW; every result
carries its "layout", and the table takes cuDNN's best.)
Timing: cudnn.benchmark on; one call selects the algorithm, >= 3 warm-up calls, then --repeats
calls, each after an L2 flush (zeros written into a buffer of 2 x L2 size) and bracketed by CUDA
events; the median is reported. TFLOP/s = 2*M*Co*K / time, M = N*To*Ho*Wo, K = kt*kh*kw*Cin.
Also "measured peak": the best of a few 8192^3 torch.matmul in bf16, fp16, tf32 and fp32 (TF32 off).
At the smallest batch (when it is at most 8) each result carries nmse against a float64 conv of the
same data.

--dry-run prints the layer table and FLOP counts and needs no torch. Results are written to --out
after every measurement, so a run cut short (--budget-s, a timeout) keeps what it measured.
"""
import argparse
import json
import math
import os
import sys
import time

T0 = time.time()  # --budget-s counts from here (before torch is imported)
INSTANCES = 4  # instances per clip: N = 4 * batch

# name, input [t, h, w, c] per instance, cout, kernel, stride, pad, occurrences per forward pass
LAYERS = [
    ("stem",           (4, 112, 112, 3),  64, (3, 7, 7), (1, 2, 2), (1, 3, 3), 1),
    ("layer1.conv",    (4, 56, 56, 64),   64, (3, 3, 3), (1, 1, 1), (1, 1, 1), 4),
    ("layer2.0.conv1", (4, 56, 56, 64),  128, (3, 3, 3), (2, 2, 2), (1, 1, 1), 1),
    ("layer2.0.down",  (4, 56, 56, 64),  128, (1, 1, 1), (2, 2, 2), (0, 0, 0), 1),
    ("layer2.conv",    (2, 28, 28, 128), 128, (3, 3, 3), (1, 1, 1), (1, 1, 1), 3),
    ("layer3.0.conv1", (2, 28, 28, 128), 256, (3, 3, 3), (2, 2, 2), (1, 1, 1), 1),
    ("layer3.0.down",  (2, 28, 28, 128), 256, (1, 1, 1), (2, 2, 2), (0, 0, 0), 1),
    ("layer3.conv",    (1, 14, 14, 256), 256, (3, 3, 3), (1, 1, 1), (1, 1, 1), 3),
    ("layer4.0.conv1", (1, 14, 14, 256), 512, (3, 3, 3), (2, 2, 2), (1, 1, 1), 1),
    ("layer4.0.down",  (1, 14, 14, 256), 512, (1, 1, 1), (2, 2, 2), (0, 0, 0), 1),
    ("layer4.conv",    (1, 7, 7, 512),   512, (3, 3, 3), (1, 1, 1), (1, 1, 1), 3),
]
LAYER_NAMES = [l[0] for l in LAYERS]
OCCURRENCES = {l[0]: l[6] for l in LAYERS}
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
DEFAULT_LAYOUT = {"fp32": "ncdhw", "tf32": "ncdhw", "bf16": "cl3d", "fp16": "cl3d"}
FUSION_NOTE = ("cuDNN times are F.conv3d without bias; Dfer's kernels also fuse bias, ReLU and the "
               "residual add, which cuDNN's times here exclude")


def out_dim(i, k, s, p):
    return (i + 2 * p - k) // s + 1


def shape_of(layer, batch):
    """The JSON "shape" object of a layer at a batch (clips), as the C# workbench writes it."""
    name, (t, h, w, c), co, k, s, p, _ = layer
    return {"n": INSTANCES * batch, "t": t, "h": h, "w": w, "c": c, "co": co,
            "k": list(k), "s": list(s), "p": list(p)}


def geometry(shape):
    """(to, ho, wo, M, K) of a shape object."""
    to = out_dim(shape["t"], shape["k"][0], shape["s"][0], shape["p"][0])
    ho = out_dim(shape["h"], shape["k"][1], shape["s"][1], shape["p"][1])
    wo = out_dim(shape["w"], shape["k"][2], shape["s"][2], shape["p"][2])
    m = shape["n"] * to * ho * wo
    kk = shape["k"][0] * shape["k"][1] * shape["k"][2] * shape["c"]
    return to, ho, wo, m, kk


def flops_of(shape):
    """2 * M * Co * K (multiply and add counted separately)."""
    _, _, _, m, kk = geometry(shape)
    return 2 * m * shape["co"] * kk


def dry_run(batches, layers):
    print("M3DFEL conv3d layers (input [N,T,H,W,C] channels-last, N = %d x batch)" % INSTANCES)
    hdr = "%-15s %-18s %4s %-7s %-7s %-7s %3s %-14s %8s %6s %11s" % (
        "layer", "input (per inst)", "co", "k", "s", "p", "occ", "output", "M/inst", "K", "GFLOP/inst")
    print(hdr)
    print("-" * len(hdr))
    per_clip = 0
    for layer in layers:
        name, (t, h, w, c), co, k, s, p, occ = layer
        sh = shape_of(layer, 1)
        to, ho, wo, m, kk = geometry(sh)
        f_inst = flops_of(sh) / INSTANCES
        per_clip += occ * flops_of(sh)
        print("%-15s %-18s %4d %-7s %-7s %-7s %3d %-14s %8d %6d %11.4f" % (
            name, "%dx%dx%dx%d" % (t, h, w, c), co, "x".join(map(str, k)), "x".join(map(str, s)),
            "x".join(map(str, p)), occ, "%dx%dx%dx%d" % (to, ho, wo, co), m // INSTANCES, kk, f_inst / 1e9))
    print("-" * len(hdr))
    print("sum over layer occurrences, one clip (%d instances): %.3f GFLOP = 2 x %.2f G multiply-adds"
          % (INSTANCES, per_clip / 1e9, per_clip / 2e9))
    print("(the whole model is 86.3 GFLOP per clip by PyTorch's FlopCounterMode; the convs are nearly all of it)")
    for b in batches:
        print("batch %4d (N = %4d): %10.1f GFLOP per backbone forward" % (b, INSTANCES * b, b * per_clip / 1e9))
    return per_clip


# ----------------------------------------------------------------------------------------------
# GPU part (torch imported lazily so --dry-run and workbench_table.py need no torch)
# ----------------------------------------------------------------------------------------------
def set_tf32(torch, enabled):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled


def tf32_state(torch):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            st = [bool(torch.backends.cudnn.allow_tf32), bool(torch.backends.cuda.matmul.allow_tf32)]
        except Exception as e:  # mixed old/new API on some versions
            st = ["%s: %s" % (type(e).__name__, e)]
        try:  # PyTorch >= 2.9 also has the new setting; record what convolutions see
            st.append("conv.fp32_precision=%s" % torch.backends.cudnn.conv.fp32_precision)
        except Exception:
            pass
        return st


class Timer:
    def __init__(self, torch, l2_bytes, sleep_cycles):
        self.torch = torch
        # 2 x L2 of float32 zeros written before every timed call
        self.flush = torch.empty(max(1, 2 * l2_bytes // 4), dtype=torch.float32, device="cuda")
        self.sleep_cycles = sleep_cycles

    def time(self, fn, repeats, warmup=3):
        torch = self.torch
        fn()  # cudnn.benchmark selects the algorithm here
        torch.cuda.synchronize()
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
        for s, e in ev:
            # a short spin lets the CPU queue flush, start, call and end ahead of the GPU, so the
            # start event does not wait on the launch overhead of the call
            if self.sleep_cycles and hasattr(torch.cuda, "_sleep"):
                torch.cuda._sleep(self.sleep_cycles)
            self.flush.zero_()
            s.record()
            fn()
            e.record()
        torch.cuda.synchronize()
        times = sorted(s.elapsed_time(e) for s, e in ev)
        n = len(times)
        med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
        return med, times


def measure_peak(torch, timer, precisions, size=8192, repeats=5):
    peaks = {}
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "tf32": torch.float32, "fp32": torch.float32}
    g = torch.Generator(device="cuda").manual_seed(3)
    for prec in precisions:
        try:
            set_tf32(torch, prec == "tf32")
            a = torch.randn(size, size, device="cuda", dtype=torch.float32, generator=g).to(dt[prec])
            b = torch.randn(size, size, device="cuda", dtype=torch.float32, generator=g).to(dt[prec])
            _, times = timer.time(lambda: torch.matmul(a, b), repeats, warmup=2)
            peaks[prec] = 2.0 * size ** 3 / (times[0] * 1e-3) / 1e12
            print("measured peak %-4s: %7.1f TFLOP/s (torch.matmul %d^3, best of %d: %.3f ms)"
                  % (prec, peaks[prec], size, repeats, times[0]), flush=True)
            del a, b
        except Exception as e:
            print("measured peak %s: failed: %s: %s" % (prec, type(e).__name__, e), flush=True)
    set_tf32(torch, False)
    torch.cuda.empty_cache()
    return peaks


def run(args):
    import torch
    import torch.nn.functional as F

    t_start = T0
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch (use --dry-run on a CPU machine)")
    torch.backends.cudnn.benchmark = True
    props = torch.cuda.get_device_properties(0)
    l2 = int(getattr(props, "L2_cache_size", 0) or 0) or 50 * 2 ** 20
    doc = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "cuda": torch.version.cuda,
           "capability": "%d.%d" % (props.major, props.minor), "sm_count": props.multi_processor_count,
           "l2_bytes": l2, "instances_per_clip": INSTANCES,
           "note": FUSION_NOTE, "timing": {"repeats": args.repeats, "warmup": 3, "l2_flush_bytes": 2 * l2,
                                           "stat": "median", "cudnn_benchmark": True},
           "occurrences": OCCURRENCES, "peak_tflops": {}, "results": [], "skipped": []}
    print("device %s (sm %s, %d SMs, L2 %.1f MB); torch %s, cuDNN %s, CUDA %s"
          % (doc["device"], doc["capability"], doc["sm_count"], l2 / 2 ** 20, doc["torch"], doc["cudnn"],
             doc["cuda"]), flush=True)
    print("note: " + FUSION_NOTE, flush=True)

    def save():
        if not args.out:
            return
        doc["elapsed_s"] = round(time.time() - t_start, 1)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, args.out)

    timer = Timer(torch, l2, args.sleep_cycles)
    if not args.no_peak:
        doc["peak_tflops"] = measure_peak(torch, timer, ["bf16", "fp16", "tf32", "fp32"])
    save()

    layers = [l for l in LAYERS if not args.layers or any(s in l[0] for s in args.layers.split(","))]
    ref_batch = min(args.batches) if min(args.batches) <= 8 else None  # float64 reference: small batches only
    dtypes = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    last_cost = 0.0
    stop = False
    print("%-15s %5s %-5s %-6s %10s %9s %10s %s" % ("layer", "batch", "prec", "layout", "median ms", "TFLOP/s",
                                                    "nmse", "(min..max ms)"), flush=True)
    for batch in args.batches:
        for layer in layers:
            name, (t, h, w, c), co, k, s, p, occ = layer
            shape = shape_of(layer, batch)
            flops = flops_of(shape)
            n = shape["n"]
            if stop:
                doc["skipped"].append({"layer": name, "batch": batch, "reason": "budget"})
                continue
            try:
                g = torch.Generator(device="cuda").manual_seed(1000 * batch + LAYER_NAMES.index(name))
                x32 = torch.randn(n, c, t, h, w, device="cuda", generator=g)
                w32 = torch.randn(co, c, *k, device="cuda", generator=g) / math.sqrt(c * k[0] * k[1] * k[2])
                ref = None
                if batch == ref_batch:
                    try:
                        with torch.inference_mode():
                            ref = F.conv3d(x32.double(), w32.double(), None, s, p)
                    except Exception as e:
                        print("%s: float64 reference failed (%s); no nmse" % (name, e), flush=True)
            except Exception as e:
                doc["results"].append({"layer": name, "batch": batch, "occurrences": occ, "shape": shape,
                                       "flops": flops, "error": "inputs: %s: %s" % (type(e).__name__, e)})
                print("%s batch %d: inputs failed: %s" % (name, batch, e), flush=True)
                torch.cuda.empty_cache()
                continue
            for prec in args.precisions:
                layouts = [DEFAULT_LAYOUT[prec]]
                if args.all_layouts:
                    layouts = ["ncdhw", "cl3d"] if DEFAULT_LAYOUT[prec] == "ncdhw" else ["cl3d", "ncdhw"]
                for layout in layouts:
                    elapsed = time.time() - t_start
                    if args.budget_s and elapsed + 1.5 * last_cost + min(5.0, 0.05 * args.budget_s) > args.budget_s:
                        print("budget: %.0f s of %.0f s spent; stopping here and keeping what was measured"
                              % (elapsed, args.budget_s), flush=True)
                        stop = True
                        break
                    t0 = time.time()
                    r = {"layer": name, "batch": batch, "precision": prec, "layout": layout,
                         "occurrences": occ, "shape": shape, "flops": flops}
                    try:
                        set_tf32(torch, prec == "tf32")
                        r["allow_tf32"] = tf32_state(torch)
                        mf = torch.channels_last_3d if layout == "cl3d" else torch.contiguous_format
                        x = x32.to(dtypes[prec]).contiguous(memory_format=mf)
                        wt = w32.to(dtypes[prec]).contiguous(memory_format=mf)
                        with torch.inference_mode():
                            fn = lambda: F.conv3d(x, wt, None, s, p)  # noqa: E731
                            med, times = timer.time(fn, args.repeats)
                            if ref is not None:
                                y = fn().double()
                                r["nmse"] = float(((y - ref) ** 2).sum() / (ref ** 2).sum().clamp_min(1e-300))
                                del y
                        r["median_ms"] = med
                        r["min_ms"], r["max_ms"] = times[0], times[-1]
                        r["tflops"] = flops / (med * 1e-3) / 1e12
                        print("%-15s %5d %-5s %-6s %10.4f %9.2f %10s (%.4f..%.4f)" % (
                            name, batch, prec, layout, med, r["tflops"],
                            "%.2e" % r["nmse"] if "nmse" in r else "-", times[0], times[-1]), flush=True)
                        del x, wt
                    except Exception as e:
                        r["error"] = "%s: %s" % (type(e).__name__, str(e)[:300])
                        print("%-15s %5d %-5s %-6s failed: %s" % (name, batch, prec, layout, r["error"]), flush=True)
                    doc["results"].append(r)
                    last_cost = time.time() - t0
                    save()
                    torch.cuda.empty_cache()
                if stop:
                    doc["skipped"].append({"layer": name, "batch": batch, "reason": "budget",
                                           "precisions": args.precisions[args.precisions.index(prec):]})
                    break
            del x32, w32, ref
            torch.cuda.empty_cache()
    set_tf32(torch, False)
    save()
    print("done: %d results in %.1f s%s" % (len(doc["results"]), time.time() - t_start,
                                            "; %d skipped for the budget" % len(doc["skipped"]) if doc["skipped"] else ""),
          flush=True)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", default="1,8,32,128", help="clips per batch, comma-separated, measured in this order")
    p.add_argument("--precisions", default="bf16,fp16,fp32,tf32", help="subset of fp32,tf32,bf16,fp16, in order")
    p.add_argument("--repeats", type=int, default=10, help="timed calls per layer, batch and precision")
    p.add_argument("--layers", default="", help="comma-separated substrings; only layers whose name contains one")
    p.add_argument("--out", help="result JSON (rewritten after every measurement)")
    p.add_argument("--budget-s", type=float, default=0, help="stop starting measurements after this many seconds")
    p.add_argument("--all-layouts", action="store_true", help="time every precision in NCDHW and channels_last_3d")
    p.add_argument("--no-peak", action="store_true", help="skip the measured-peak matmuls")
    p.add_argument("--sleep-cycles", type=int, default=500000, help="GPU spin before each timed call (0: none)")
    p.add_argument("--dry-run", action="store_true", help="print the layer table and FLOP counts; no torch needed")
    args = p.parse_args(argv)
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        p.error("--batches: comma-separated integers")
    args.precisions = [q.strip() for q in args.precisions.split(",") if q.strip()]
    bad = [q for q in args.precisions if q not in PRECISIONS]
    if bad or not args.precisions or not args.batches or min(args.batches) < 1 or args.repeats < 1:
        p.error("bad --precisions %s / --batches / --repeats" % bad)
    if args.dry_run:
        layers = [l for l in LAYERS if not args.layers or any(s in l[0] for s in args.layers.split(","))]
        per_clip = dry_run(args.batches, layers)
        if args.out:
            doc = {"device": "dry-run (no GPU, no timings)", "dry_run": True, "instances_per_clip": INSTANCES,
                   "note": FUSION_NOTE, "occurrences": OCCURRENCES, "peak_tflops": {},
                   "flops_per_clip": per_clip, "results": [],
                   "layers": [{"layer": l[0], "occurrences": l[6], "shape": shape_of(l, 1),
                               "flops_batch1": flops_of(shape_of(l, 1))} for l in layers]}
            with open(args.out, "w") as f:
                json.dump(doc, f, indent=1)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
