#!/usr/bin/env python3
"""M3DFEL in plain PyTorch, written from docs/models/m3dfel.md (no torchvision needed).

The module names reproduce the official model's state dict (145 keys), so a checkpoint's
weights load unchanged. Works with PyTorch 1.13 and 2.x.

Modes (combinable where sensible):
  --list-keys                         print "key [shape]" lines of the state dict
  --compare-keys LISTING.txt          exit non-zero unless keys and shapes equal the listing
  --make-weights W.safetensors        write random, non-trivial weights (BN stats random, O(1) logits)
  --make-clip CLIP.npy                write a random clip batch [--clips, 16, 3, 112, 112] in [0, 1]
  --check CLIP.npy --expect OUT.json  float64 CPU forward of CLIP, max |delta| against the logits of
                                      `dfer infer --format json` (exit 1 if > --tol, default 1e-4)
  --bench                             time eager forward passes (CUDA events on cuda), JSON to --out
Weights come from --weights FILE.safetensors (parsed with json+struct+numpy only) or a seeded
random init (--seed).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 7
FRAMES = 16
INSTANCES = 4
SIZE = 112


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
def conv_bn(cin, cout, kernel, stride, padding, relu):
    layers = [nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
              nn.BatchNorm3d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """r3d_18 BasicBlock: conv1 = [Conv3d, BN, ReLU], conv2 = [Conv3d, BN], optional downsample."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride, 1, relu=True)
        self.conv2 = conv_bn(cout, cout, 3, 1, 1, relu=False)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        return self.relu(out + identity)


def r3d18_trunk():
    """children 0..5 of torchvision's r3d_18 (stem, layer1..4, avgpool)."""
    stem = conv_bn(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), relu=True)
    layers = []
    cin = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers.append(nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width, 1)))
        cin = width
    return nn.Sequential(stem, *layers, nn.AdaptiveAvgPool3d(1))


class DMIN(nn.Module):
    """Dynamic multi-instance normalisation over x viewed as [B, C, N]."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.mean_weight = nn.Parameter(torch.ones(2))
        self.var_weight = nn.Parameter(torch.ones(2))

    def forward(self, x):  # x: [B, C, N]
        mean_in = x.mean(-1, keepdim=True)
        var_in = ((x - mean_in) ** 2).sum(-1, keepdim=True) / (x.shape[-1] - 1)  # unbiased
        mean_ln = mean_in.mean(1, keepdim=True)
        temp = var_in + mean_in ** 2
        var_ln = temp.mean(1, keepdim=True) - mean_ln ** 2
        wm = torch.softmax(self.mean_weight, 0)
        wv = torch.softmax(self.var_weight, 0)
        mean = wm[0] * mean_in + wm[1] * mean_ln
        var = wv[0] * var_in + wv[1] * var_ln
        x = (x - mean) / (var + self.eps).sqrt()
        return x * self.weight + self.bias


class M3DFEL(nn.Module):
    def __init__(self, heads=8, head_dim=128):
        super().__init__()
        self.features = r3d18_trunk()
        self.lstm = nn.LSTM(512, 512, num_layers=2, batch_first=True, bidirectional=True)
        self.heads = heads
        self.head_dim = head_dim
        self.to_qkv = nn.Linear(1024, 3 * heads * head_dim, bias=False)
        self.norm = DMIN(1024)
        self.pwconv = nn.Conv1d(INSTANCES, 1, 3, padding=1)
        self.fc = nn.Linear(1024, NUM_CLASSES)
        # layout of the trunk's input; m3dfel_torch_modes.py sets torch.channels_last_3d for the 16-bit modes
        self.memory_format = torch.contiguous_format

    def forward(self, x):  # x: [B, 16, 3, 112, 112]
        b = x.shape[0]
        per = FRAMES // INSTANCES
        # instance j = frames 4j..4j+3 -> [B*4, 3, 4, H, W]
        x = x.reshape(b * INSTANCES, per, x.shape[2], x.shape[3], x.shape[4])
        x = x.permute(0, 2, 1, 3, 4).contiguous(memory_format=self.memory_format)
        feats = self.features(x).reshape(b, INSTANCES, 512)
        self.lstm.flatten_parameters()
        ori, _ = self.lstm(feats)  # [B, 4, 1024]
        q, k, v = self.to_qkv(ori).chunk(3, dim=-1)

        def split(t):  # [B, N, H*D] -> [B, H, N, D]
            return t.reshape(b, INSTANCES, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.head_dim ** -0.5, dim=-1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(b, INSTANCES, self.heads * self.head_dim)
        z = self.norm(y.transpose(1, 2)).transpose(1, 2)  # DMIN over [B, C, N]
        g = ori * torch.sigmoid(z)
        p = self.pwconv(g).reshape(b, 1024)  # 4 instances as channels, 1024 as length
        return self.fc(p)  # [B, 7]


# ----------------------------------------------------------------------------------------------
# safetensors, by hand
# ----------------------------------------------------------------------------------------------
_ST_TO_NP = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
             "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_NP_TO_ST = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64",
             np.dtype(np.float16): "F16", np.dtype(np.int32): "I32"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        raw = data[base + start:base + end]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_TO_NP[info["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True).reshape(shape))
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = tensors[name].detach().cpu().contiguous().numpy()
        dt = _NP_TO_ST[arr.dtype]
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for raw in blobs:
            f.write(raw)


def load_weights(model, path):
    sd = read_safetensors(path)
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    extra = [k for k in sd if k not in own]
    if missing or extra:
        raise SystemExit("weights %s: missing %s, unexpected %s" % (path, missing[:5], extra[:5]))
    for k, v in own.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise SystemExit("weights %s: %s has shape %s, expected %s"
                             % (path, k, list(sd[k].shape), list(v.shape)))
        sd[k] = sd[k].to(v.dtype)
    model.load_state_dict(sd)


def randomize(model, seed):
    """Non-trivial random weights whose logits depend on the input.

    Conv weights get He init and every BatchNorm's running statistics are calibrated on structured
    clips (then perturbed), so activations stay O(1) through the trunk instead of decaying into the
    BN offsets; BN affine, DMIN mixes and the head are random, the head scaled for O(1) logits.
    """
    g = torch.Generator().manual_seed(seed)

    def u(shape, lo, hi):
        return torch.rand(shape, generator=g, dtype=torch.float32) * (hi - lo) + lo

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv3d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
        for m in bns:
            n = m.num_features
            m.weight.copy_(u(n, 0.5, 1.5))
            m.bias.copy_(u(n, -0.2, 0.2))
        # running stats := batch stats of a calibration batch (momentum 1), then perturbed
        for m in bns:
            m.reset_running_stats()
            m.momentum = 1.0
            m.train()
        model.features(torch.from_numpy(make_clip(2, seed + 1000)).reshape(
            2 * INSTANCES, FRAMES // INSTANCES, 3, SIZE, SIZE).permute(0, 2, 1, 3, 4).contiguous())
        for m in bns:
            m.eval()
            m.momentum = 0.1
            n = m.num_features
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(n, generator=g))
            m.running_var.mul_(u(n, 0.7, 1.4))
            m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
        model.norm.weight.copy_(u((1, 1024, 1), 0.5, 1.5))
        model.norm.bias.copy_(u((1, 1024, 1), -0.5, 0.5))
        model.norm.mean_weight.copy_(u(2, -1.0, 1.0))
        model.norm.var_weight.copy_(u(2, -1.0, 1.0))
        # default init of the head gives logits ~1e-2; widen so they vary by O(1)
        model.pwconv.weight.mul_(4.0)
        model.fc.weight.mul_(8.0)
        model.fc.bias.copy_(u(7, -0.5, 0.5))


def build_model(args):
    torch.manual_seed(args.seed)
    model = M3DFEL()
    if args.weights:
        load_weights(model, args.weights)
    else:
        randomize(model, args.seed)
    return model.eval()


# ----------------------------------------------------------------------------------------------
# Modes
# ----------------------------------------------------------------------------------------------
def listing(model):
    return ["%s [%s]" % (k, ",".join(str(d) for d in v.shape)) for k, v in model.state_dict().items()]


def compare_keys(model, path):
    with open(path) as f:
        want = [line.strip() for line in f if line.strip()]
    have = listing(model)
    if want == have:
        print("state dict matches %s: %d keys, same order, names and shapes" % (path, len(have)))
        return 0
    for i, (a, b) in enumerate(zip(want, have)):
        if a != b:
            print("first difference at %d: listing %r, model %r" % (i, a, b))
            break
    print("listing has %d keys, model %d; missing %s; extra %s"
          % (len(want), len(have), sorted(set(want) - set(have))[:5], sorted(set(have) - set(want))[:5]))
    return 1


def load_expect(path):
    with open(path) as f:
        doc = json.load(f)
    results = doc["results"] if isinstance(doc, dict) and "results" in doc else doc
    if isinstance(results, dict):
        results = [results]
    return np.array([r["logits"] for r in results], dtype=np.float64)


def check(model, args):
    clip = np.load(args.check).astype(np.float64)
    if clip.ndim == 4:
        clip = clip[None]
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    m = model.double().cpu()
    t0 = time.time()
    with torch.no_grad():
        ref = m(torch.from_numpy(clip)).numpy()
    results, ok = [], True
    for path in args.expect:
        try:
            got = load_expect(path)
        except Exception as e:  # missing or malformed output of a failed dfer run
            results.append({"ok": False, "expect": path, "error": "%s: %s" % (type(e).__name__, e)})
            ok = False
            continue
        if got.shape != ref.shape:
            results.append({"ok": False, "expect": path,
                            "error": "shape %s vs reference %s" % (list(got.shape), list(ref.shape))})
            ok = False
            continue
        d = np.abs(got - ref)
        r = {"ok": bool(d.max() <= args.tol), "expect": path, "max_abs_diff": float(d.max()),
             "argmax_equal": bool((got.argmax(1) == ref.argmax(1)).all())}
        ok = ok and r["ok"]
        results.append(r)
    res = {"ok": ok, "tol": args.tol, "clips": int(ref.shape[0]), "results": results,
           "logit_range": [float(ref.min()), float(ref.max())], "logit_std": float(ref.std()),
           "between_clips_max_diff": float(np.abs(ref - ref[:1]).max()),
           "ref_logits_0": [round(float(x), 6) for x in ref[0]], "float64_cpu_s": round(time.time() - t0, 2)}
    print(json.dumps(res))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if res["ok"] else 1


def bench(model, args):
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = args.dtype == "tf32"
        torch.backends.cudnn.benchmark = True
    dtype = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
             "bf16": torch.bfloat16}[args.dtype]
    model = model.to(dev, dtype)
    x = torch.rand(args.batch, FRAMES, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    x = x.to(dev, dtype)
    times = []
    with torch.inference_mode():
        t_w = time.time()
        for _ in range(args.warmup):
            y = model(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        warm_s = time.time() - t_w
        for _ in range(args.iters):
            if dev.type == "cuda":
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                y = model(x)
                e.record()
                e.synchronize()
                times.append(s.elapsed_time(e))
            else:
                t0 = time.perf_counter()
                y = model(x)
                times.append((time.perf_counter() - t0) * 1e3)
    assert tuple(y.shape) == (args.batch, NUM_CLASSES) and bool(torch.isfinite(y.float()).all())
    ms = float(np.median(times))
    res = {"clips_per_s": args.batch * 1e3 / ms, "ms_per_batch": ms, "batch": args.batch,
           "dtype": args.dtype, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "allow_tf32": [torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32]
           if dev.type == "cuda" else None,
           "cudnn_benchmark": torch.backends.cudnn.benchmark,
           "warmup": args.warmup, "iters": args.iters, "warmup_s": round(warm_s, 3),
           "ms_min": float(min(times)), "ms_max": float(max(times)),
           "gflop_per_s": args.batch * 86.3e3 / ms,
           "max_mem_gib": (torch.cuda.max_memory_allocated(dev) / 2 ** 30) if dev.type == "cuda" else None}
    print(json.dumps(res))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def make_clip(n, seed):
    """Clips with structure that differs per frame and per clip (i.i.d. pixel noise averages out in
    the pooled features, so frame order and instance grouping would hardly change the logits)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((n, FRAMES, 3, 7, 7))                      # 16x16-pixel blocks
    clip = np.kron(coarse, np.ones((1, 1, 1, 16, 16)))
    gain = rng.uniform(0.2, 1.0, (n, FRAMES, 1, 1, 1))            # per-frame brightness
    clip = clip * gain + 0.1 * rng.standard_normal(clip.shape)
    return np.clip(clip, 0.0, 1.0).astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="state dict as .safetensors (optionally 'module.'-prefixed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--list-keys", action="store_true")
    p.add_argument("--compare-keys", metavar="LISTING")
    p.add_argument("--make-weights", metavar="W.safetensors")
    p.add_argument("--make-clip", metavar="CLIP.npy")
    p.add_argument("--clips", type=int, default=1, help="clips in --make-clip")
    p.add_argument("--check", metavar="CLIP.npy")
    p.add_argument("--expect", nargs="+", metavar="LOGITS.json", help="one or more dfer infer JSON outputs")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--bench", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--dtype", default="fp32", choices=["fp32", "tf32", "fp16", "bf16"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--out", help="JSON result of --bench / --check")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model = build_model(args)
    rc = 0
    if args.list_keys:
        print("\n".join(listing(model)))
    if args.compare_keys:
        rc |= compare_keys(model, args.compare_keys)
    if args.make_weights:
        write_safetensors(args.make_weights, model.state_dict())
        print("wrote %s (%d tensors, %.1f MB)" % (args.make_weights, len(model.state_dict()),
                                                  os.path.getsize(args.make_weights) / 1e6))
    if args.make_clip:
        clip = make_clip(args.clips, args.seed + 1)
        np.save(args.make_clip, clip)
        print("wrote %s %s" % (args.make_clip, list(clip.shape)))
    if args.check:
        if not args.expect:
            p.error("--check needs --expect")
        rc |= check(model, args)
    if args.bench:
        rc |= bench(model, args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
