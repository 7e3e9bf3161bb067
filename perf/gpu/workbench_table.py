#!/usr/bin/env python3
"""Merge Dfer.Workbench's conv3d JSON (ours) with conv_workbench_torch.py's (cuDNN) and print
markdown: per layer and batch, our best valid variant against cuDNN in each precision class; the
whole-backbone totals; and a PASS/MISS line per target. Needs only the standard library.

  python3 workbench_table.py --ours ours.json --cudnn cudnn.json [--md table.md] [--json merged.json]

Precision classes (ours / cuDNN):
  16-bit      our bf16 and fp16 variants   / cuDNN bf16 and fp16 (channels_last_3d)   % of the bf16 peak
  exact fp32  our fp32 and 3xtf32 variants / cuDNN fp32 with TF32 off                 % of the fp32 peak
  tf32        our tf32 variants            / cuDNN fp32 with TF32 allowed             % of the tf32 peak
Per layer, batch and class the best (lowest median_ms) counts; our variants count only with
"valid": true (others are listed as INVALID). ratio = cuDNN ms / our ms: > 1 means we are faster.
Backbone total = sum over layers of occurrences x median_ms (complete only when every layer has a
time). Targets, at --target-batch (128): (1) 16-bit total faster than cuDNN's best 16-bit;
(2) every 3x3x3 layer's best valid 16-bit variant at >= 50% of the measured bf16 peak;
(3) exact-fp32 total at least as fast as cuDNN fp32 TF32-off.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_workbench_torch import (FUSION_NOTE, INSTANCES, LAYERS, LAYER_NAMES, OCCURRENCES,  # noqa: E402
                                  flops_of, shape_of)

CLASSES = [
    # name, our precisions, cuDNN precisions, peak key
    ("16-bit", ("bf16", "fp16"), ("bf16", "fp16"), "bf16"),
    ("exact fp32", ("fp32", "3xtf32"), ("fp32",), "fp32"),
    ("tf32", ("tf32",), ("tf32",), "tf32"),
]
SHAPE_KEYS = ("n", "t", "h", "w", "c", "co", "k", "s", "p")


def load(path, what, warnings):
    if not path:
        warnings.append("%s: no file given" % what)
        return None
    try:
        with open(path) as f:
            doc = json.load(f)
    except Exception as e:
        warnings.append("%s: %s unreadable (%s: %s)" % (what, path, type(e).__name__, e))
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        warnings.append("%s: %s has no \"results\" list" % (what, path))
        return None
    return doc


def number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def canon(layer, batch):
    for l in LAYERS:
        if l[0] == layer:
            return shape_of(l, batch)
    return None


def norm_shape(s):
    return {k: (list(s[k]) if isinstance(s.get(k), (list, tuple)) else s.get(k)) for k in SHAPE_KEYS} \
        if isinstance(s, dict) else None


def entries(doc, side, warnings):
    """Usable rows of one side: dicts with layer, batch (int), precision, ms (or None), flops, ..."""
    out = []
    if not doc:
        return out
    for i, r in enumerate(doc["results"]):
        if not isinstance(r, dict):
            continue
        layer, batch, prec = r.get("layer"), r.get("batch"), r.get("precision")
        if not isinstance(batch, int) or not isinstance(layer, str):
            warnings.append("%s result %d: no layer/batch (%r, %r)" % (side, i, layer, batch))
            continue
        want = canon(layer, batch)
        bad_shape = False
        if want is None:
            warnings.append("%s: unknown layer %r (not an M3DFEL conv layer name)" % (side, layer))
            flops = number(r.get("flops"))
        else:
            flops = flops_of(want)
            got = norm_shape(r.get("shape"))
            if got is not None and got != want:
                warnings.append("%s %s batch %d %s: shape %s differs from the M3DFEL shape %s; not counted"
                                % (side, layer, batch, r.get("variant") or r.get("precision"),
                                   json.dumps(r.get("shape")), json.dumps(want)))
                bad_shape = True
            if number(r.get("flops")) is not None and abs(number(r["flops"]) - flops) > 1e-3 * flops:
                warnings.append("%s %s batch %d: flops %s, expected %d" % (side, layer, batch, r["flops"], flops))
        ms = number(r.get("median_ms"))
        if ms is not None and ms <= 0:
            ms = None
        e = {"layer": layer, "batch": batch, "precision": prec, "ms": ms, "flops": flops,
             "variant": r.get("variant") or ("cudnn" if side == "cudnn" else "?"),
             "layout": r.get("layout"), "nmse": number(r.get("nmse")), "error": r.get("error"),
             "valid": r.get("valid") is True if side == "ours" else r.get("error") is None}
        if ms is None and not e["error"]:
            e["error"] = "no median_ms"
        if bad_shape:
            e["valid"], e["error"] = False, "shape differs from the M3DFEL layer"
        out.append(e)
    return out


def tflops(e):
    return e["flops"] / (e["ms"] * 1e-3) / 1e12 if e and e.get("ms") and e.get("flops") else None


def best(rows):
    rows = [r for r in rows if r["valid"] and r["ms"] is not None]
    return min(rows, key=lambda r: r["ms"]) if rows else None


def f_ms(v):
    if v is None:
        return "—"
    return "%.1f" % v if v >= 100 else "%.3f" % v if v >= 1 else "%.4f" % v


def f_num(v, fmt):
    return "—" if v is None else fmt % v


def merge(ours_doc, cudnn_doc, target_batch, warnings):
    ours = entries(ours_doc, "ours", warnings)
    cud = entries(cudnn_doc, "cudnn", warnings)
    peak, peak_src = {}, {}
    for src, doc in (("ours", ours_doc), ("cudnn", cudnn_doc)):  # cuDNN side's measured peak wins
        for k, v in ((doc or {}).get("peak_tflops") or {}).items():
            if number(v):
                peak[k], peak_src[k] = float(v), src + " run"
    for k in ("fp16", "tf32"):  # fall back to the bf16 peak for fp16, nothing for tf32
        if k == "fp16" and k not in peak and "bf16" in peak:
            peak[k], peak_src[k] = peak["bf16"], peak_src["bf16"] + " (bf16)"
    batches = sorted({e["batch"] for e in ours + cud})
    known = [n for n in LAYER_NAMES if any(e["layer"] == n for e in ours + cud)]
    extra = sorted({e["layer"] for e in ours + cud} - set(LAYER_NAMES))
    layers = LAYER_NAMES + extra
    rows = []
    for batch in batches:
        for cname, oprec, cprec, pkey in CLASSES:
            for layer in layers:
                o_all = [e for e in ours if e["layer"] == layer and e["batch"] == batch and e["precision"] in oprec]
                c_all = [e for e in cud if e["layer"] == layer and e["batch"] == batch and e["precision"] in cprec]
                if not o_all and not c_all:
                    continue
                ob, cb = best(o_all), best(c_all)
                pk = peak.get(pkey)
                row = {"layer": layer, "batch": batch, "class": cname, "occurrences": OCCURRENCES.get(layer),
                       "flops": (ob or cb or (o_all + c_all)[0])["flops"],
                       "ours": None, "cudnn": None, "ratio": None,
                       "ours_invalid": [{"variant": e["variant"], "precision": e["precision"], "nmse": e["nmse"],
                                         "median_ms": e["ms"], "error": e["error"]} for e in o_all if not e["valid"]],
                       "ours_other_valid": [{"variant": e["variant"], "precision": e["precision"], "median_ms": e["ms"]}
                                            for e in o_all if e["valid"] and e is not ob and e["ms"] is not None],
                       "ours_measured": bool(o_all), "cudnn_measured": bool(c_all),
                       "cudnn_errors": [e["error"] for e in c_all if e["error"]]}
                if ob:
                    t = tflops(ob)
                    row["ours"] = {"variant": ob["variant"], "precision": ob["precision"], "median_ms": ob["ms"],
                                   "tflops": t, "pct_peak": 100 * t / pk if t and pk else None, "nmse": ob["nmse"]}
                if cb:
                    t = tflops(cb)
                    row["cudnn"] = {"precision": cb["precision"], "layout": cb["layout"], "median_ms": cb["ms"],
                                    "tflops": t, "pct_peak": 100 * t / pk if t and pk else None, "nmse": cb["nmse"]}
                if ob and cb:
                    row["ratio"] = cb["ms"] / ob["ms"]
                rows.append(row)
    totals = []
    for batch in batches:
        for cname, _, _, _ in CLASSES:
            rs = {r["layer"]: r for r in rows if r["batch"] == batch and r["class"] == cname}
            if not rs:
                continue
            tot = {"batch": batch, "class": cname}
            for side in ("ours", "cudnn"):
                missing = [l for l in LAYER_NAMES if l not in rs or rs[l][side] is None]
                ms = sum(OCCURRENCES[l] * rs[l][side]["median_ms"] for l in LAYER_NAMES if l not in missing)
                fl = sum(OCCURRENCES[l] * rs[l]["flops"] for l in LAYER_NAMES if l not in missing)
                tot[side] = {"total_ms": ms if not missing else None, "partial_ms": ms, "missing": missing,
                             "tflops": fl / (ms * 1e-3) / 1e12 if ms and not missing else None,
                             "clips_per_s": batch / (ms * 1e-3) if ms and not missing else None}
            common = [l for l in LAYER_NAMES if l in rs and rs[l]["ours"] and rs[l]["cudnn"]]
            o_c = sum(OCCURRENCES[l] * rs[l]["ours"]["median_ms"] for l in common)
            c_c = sum(OCCURRENCES[l] * rs[l]["cudnn"]["median_ms"] for l in common)
            tot["ratio"] = (tot["cudnn"]["total_ms"] / tot["ours"]["total_ms"]
                            if tot["ours"]["total_ms"] and tot["cudnn"]["total_ms"] else None)
            tot["ratio_common_layers"] = c_c / o_c if o_c and c_c else None
            tot["common_layers"] = len(common)
            totals.append(tot)
    targets = make_targets(rows, totals, peak, target_batch)
    return {"ours_device": (ours_doc or {}).get("device"), "cudnn_device": (cudnn_doc or {}).get("device"),
            "torch": (cudnn_doc or {}).get("torch"), "cudnn": (cudnn_doc or {}).get("cudnn"),
            "cuda": (cudnn_doc or {}).get("cuda"), "l2_bytes": (cudnn_doc or {}).get("l2_bytes"),
            "peak_tflops": peak, "peak_source": peak_src, "batches": batches, "layers_seen": known + extra,
            "target_batch": target_batch, "note": FUSION_NOTE, "rows": rows, "totals": totals,
            "targets": targets, "warnings": warnings}


def make_targets(rows, totals, peak, tb):
    def total(cname):
        return next((t for t in totals if t["batch"] == tb and t["class"] == cname), None)

    out = []
    for cname, label, strict in (("16-bit", "16-bit backbone faster than cuDNN's best 16-bit", True),
                                 ("exact fp32", "exact fp32 backbone at least as fast as cuDNN fp32 TF32-off", False)):
        t = total(cname)
        if not t or t["ours"]["total_ms"] is None or t["cudnn"]["total_ms"] is None:
            miss = []
            for side, name in (("ours", "ours"), ("cudnn", "cuDNN")):
                if t and t[side]["missing"]:
                    ms_ = t[side]["missing"]
                    miss.append("%s: %s" % (name, "all layers" if len(ms_) == len(LAYER_NAMES) else ",".join(ms_)))
            out.append({"target": label, "batch": tb, "status": "NO DATA",
                        "detail": "no complete totals at batch %d%s" % (tb, (" (missing " + "; ".join(miss) + ")") if miss else "")})
            continue
        r = t["ratio"]
        ok = r > 1 if strict else r >= 1
        out.append({"target": label, "batch": tb, "status": "PASS" if ok else "MISS", "value": r,
                    "detail": "ours %.3f ms vs cuDNN %.3f ms: cuDNN/ours = %.3f"
                              % (t["ours"]["total_ms"], t["cudnn"]["total_ms"], r)})
    label = ">= 50% of the measured bf16 peak on every 3x3x3 layer (best valid 16-bit variant)"
    pk = peak.get("bf16")
    k3 = [l[0] for l in LAYERS if tuple(l[3]) == (3, 3, 3)]
    rs = {r["layer"]: r for r in rows if r["batch"] == tb and r["class"] == "16-bit"}
    have = [l for l in k3 if l in rs and rs[l]["ours"]]
    if not pk or not have:
        out.append({"target": label, "batch": tb, "status": "NO DATA",
                    "detail": "no bf16 peak" if not pk else "no valid 16-bit variant at batch %d" % tb})
    else:
        pct = {l: 100 * rs[l]["ours"]["tflops"] / pk for l in have}
        fl = sum(OCCURRENCES[l] * rs[l]["flops"] for l in have)
        ms = sum(OCCURRENCES[l] * rs[l]["ours"]["median_ms"] for l in have)
        agg = 100 * fl / (ms * 1e-3) / 1e12 / pk
        low = [l for l in have if pct[l] < 50]
        absent = [l for l in k3 if l not in have]
        status = "PASS" if not low and not absent else "MISS"
        worst = min(have, key=lambda l: pct[l])
        out.append({"target": label, "batch": tb, "status": status, "value": pct[worst], "per_layer_pct": pct,
                    "aggregate_pct": agg,
                    "detail": "worst %s %.1f%%, occurrence-weighted over the 3x3x3 layers %.1f%% of %.0f TFLOP/s%s%s"
                              % (worst, pct[worst], agg, pk, "; below 50%%: %s" % ", ".join(low) if low else "",
                                 "; no valid variant: %s" % ", ".join(absent) if absent else "")})
    return out


def markdown(m):
    L = []
    pk = m["peak_tflops"]
    L.append("# conv3d workbench: Dfer CUDA kernels vs cuDNN")
    L.append("")
    L.append("- device: ours `%s`, cuDNN run `%s`; torch %s, cuDNN %s, CUDA %s"
             % (m["ours_device"], m["cudnn_device"], m["torch"], m["cudnn"], m["cuda"]))
    L.append("- measured peak (8192^3 torch.matmul): %s"
             % (", ".join("%s %.1f TFLOP/s (%s)" % (k, v, m["peak_source"].get(k, "?")) for k, v in sorted(pk.items()))
                or "none"))
    L.append("- %s." % m["note"])
    L.append("- ratio = cuDNN ms / our ms (> 1: we are faster). Our variants count only when valid against the CPU "
             "reference; INVALID ones are listed and never counted. N = %d x batch instances." % INSTANCES)
    L.append("")
    L.append("## Targets (batch %d)" % m["target_batch"])
    L.append("")
    for t in m["targets"]:
        L.append("- **%s** %s: %s" % (t["status"], t["target"], t["detail"]))
    L.append("")
    L.append("## Backbone totals (sum over layers of occurrences x median ms)")
    L.append("")
    L.append("| batch | class | ours ms | ours TFLOP/s | ours clips/s | cuDNN ms | cuDNN TFLOP/s | cuDNN/ours |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---:|")
    for t in m["totals"]:
        cells = []
        for side in ("ours", "cudnn"):
            s = t[side]
            if s["total_ms"] is None:
                cells.append("incomplete (%s missing)" % len(s["missing"]) if s["partial_ms"] else "—")
            else:
                cells.append(f_ms(s["total_ms"]))
        ratio = f_num(t["ratio"], "%.3f")
        if t["ratio"] is None and t["ratio_common_layers"]:
            ratio = "(%d common layers: %.3f)" % (t["common_layers"], t["ratio_common_layers"])
        L.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
            t["batch"], t["class"], cells[0], f_num(t["ours"]["tflops"], "%.1f"), f_num(t["ours"]["clips_per_s"], "%.0f"),
            cells[1], f_num(t["cudnn"]["tflops"], "%.1f"), ratio))
    for t in m["totals"]:
        for side in ("ours", "cudnn"):
            if t[side]["missing"] and len(t[side]["missing"]) < len(LAYER_NAMES):
                L.append("")
                L.append("batch %d %s: %s has no time for %s" % (t["batch"], t["class"], side, ", ".join(t[side]["missing"])))
    L.append("")
    L.append("## Per layer")
    for batch in m["batches"]:
        for cname, _, _, pkey in CLASSES:
            rs = [r for r in m["rows"] if r["batch"] == batch and r["class"] == cname]
            if not rs:
                continue
            L.append("")
            L.append("### batch %d (N = %d), %s (%% of the %s peak)" % (batch, INSTANCES * batch, cname, pkey))
            L.append("")
            L.append("| layer | occ | GFLOP | ours best | ms | TFLOP/s | %peak | cuDNN | ms | TFLOP/s | %peak | cuDNN/ours | not counted |")
            L.append("|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
            for r in rs:
                o, c = r["ours"], r["cudnn"]
                if o:
                    ocells = ["%s (%s)" % (o["variant"], o["precision"]), f_ms(o["median_ms"]), f_num(o["tflops"], "%.1f"),
                              f_num(o["pct_peak"], "%.0f%%")]
                else:
                    ocells = ["INVALID" if r["ours_invalid"] else "—", "—", "—", "—"]
                if c:
                    ccells = ["%s %s" % (c["precision"], c["layout"] or ""), f_ms(c["median_ms"]),
                              f_num(c["tflops"], "%.1f"), f_num(c["pct_peak"], "%.0f%%")]
                else:
                    ccells = ["error" if r["cudnn_errors"] else "—", "—", "—", "—"]
                nc = ["%s INVALID%s" % (e["variant"], " (nmse %.2g)" % e["nmse"] if e["nmse"] is not None else
                                        " (%s)" % e["error"] if e["error"] else "") for e in r["ours_invalid"]]
                ratio = f_num(r["ratio"], "%.2f")
                if r["ratio"] is not None:
                    ratio = ("**%s**" % ratio) if r["ratio"] > 1 else ratio
                L.append("| %s | %s | %.2f | %s | %s |" % (
                    r["layer"], r["occurrences"] if r["occurrences"] is not None else "?", r["flops"] / 1e9 if r["flops"] else 0,
                    " | ".join(ocells + ccells), ratio + " | " + ("; ".join(nc) if nc else "")))
    if m["warnings"]:
        L.append("")
        L.append("## Warnings")
        L.append("")
        for w in m["warnings"]:
            L.append("- " + w)
    return "\n".join(L) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ours", help="Dfer.Workbench --format json output")
    p.add_argument("--cudnn", help="conv_workbench_torch.py --out output")
    p.add_argument("--md", help="write the markdown here too")
    p.add_argument("--json", help="write the merged JSON here")
    p.add_argument("--target-batch", type=int, default=128)
    args = p.parse_args(argv)
    warnings = []
    ours_doc = load(args.ours, "ours", warnings)
    cudnn_doc = load(args.cudnn, "cuDNN", warnings)
    m = merge(ours_doc, cudnn_doc, args.target_batch, warnings)
    text = markdown(m)
    sys.stdout.write(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(m, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
