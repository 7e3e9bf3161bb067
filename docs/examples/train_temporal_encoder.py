#!/usr/bin/env python3
"""Trains a Temporal Encoder on features exported by `dfer features`, in the layout Dfer loads.

A worked example (CI never runs it). The model it writes is the one `dfer infer --model expression
--temporal enc.safetensors video.mp4` loads; its contract, which this script follows to the letter, is
docs/models/temporal-encoder.md: the state-dict names and shapes, the JSON config file next to the
weights, and how a video is cut into chunks.

Needs Python 3 with PyTorch (>= 1.12, for `norm_first`) and numpy. The `safetensors` package is used
when it is installed; without it a small writer below produces the same format.

Typical use, after exporting the features of a labelled data set with `dfer features` into FEATS/:

    python3 train_temporal_encoder.py FEATS --features expression.pooled --window 16 \\
        --d-model 128 --heads 4 --layers 2 --ff 256 --norm-first --activation gelu \\
        --positional sinusoidal --epochs 30 --lr 3e-4 --out enc.safetensors

which writes enc.safetensors and enc.json and prints the `dfer infer` command that uses them.

What the script reads (FEATS/):
  index.jsonl   first line {"dfer_features": {...the export's settings...}}, then one JSON object per
                video: {"name", "input", "file", "frames", "frames_with_face", "target", "label"}
                ("error" instead of a file when the video failed). `target` is the class index in Dfer's
                order: happy, sad, neutral, angry, surprise, disgust, fear (0..6), or null.
  NAME.npy      float32 [frames, D] (D = 256 for --layer pooled, 7 for --layer logits), a row of NaN for
                every frame without a face (frame numbers, times and boxes are in NAME.json); or
  NAME.safetensors  `expression.pooled` F32 [frames, 256], `expression.logits` F32 [frames, 7] (NaN rows
                where there is no face), `face` U8 [frames] (1 = face), `frame` I64 [frames], ...

Labels: every frame of a video is trained against the video's label (DFEW-style clip labels). With
per-frame labels (ABAW's Expr track, for instance), use each frame's own label in `make_chunks` instead.
"""
import argparse
import csv
import json
import math
import os
import random
import struct
import sys

import numpy as np
import torch
from torch import nn

# Dfer's class order: the head's 7 outputs, and the `target` indices of index.jsonl.
CLASSES = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]
FEATURE_SIZES = {"expression.pooled": 256, "expression.logits": 7}


# ---------------------------------------------------------------------------------------------------
# The model. Attribute names matter: they become the state-dict keys Dfer reads
# (input_proj, pos_embed, encoder.layers.i...., encoder.norm, head).
# ---------------------------------------------------------------------------------------------------

def sinusoidal_table(length, d, dtype=torch.float64):
    """The original Transformer's table: PE[l, 2k] = sin(l / 10000^(2k/d)), PE[l, 2k+1] = cos(...).

    Positions l = 0 .. length-1 count from the start of each chunk; an odd d ends with a sine column.
    Computed in float64, then cast.
    """
    pe = torch.zeros(length, d, dtype=torch.float64)
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)       # [L, 1]
    two_k = torch.arange(0, d, 2, dtype=torch.float64)                      # 0, 2, 4, ...
    angle = position / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_k / d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe.to(dtype)


class TemporalEncoder(nn.Module):
    def __init__(self, in_features, d_model, heads, ff, layers, window, norm_first=False,
                 activation="relu", positional="none", dropout=0.1, layer_norm_eps=1e-5,
                 final_norm=False):
        super().__init__()
        self.window = window
        self.positional = positional
        self.input_proj = nn.Linear(in_features, d_model)
        if positional == "learned":
            # Saved as `pos_embed` [1, W, d]; a chunk of L frames uses its first L rows.
            self.pos_embed = nn.Parameter(torch.randn(1, window, d_model) * 0.02)
        # "sinusoidal" is computed on the fly in forward: nothing is saved for it, as the contract wants.
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, activation,
                                           layer_norm_eps=layer_norm_eps, batch_first=True,
                                           norm_first=norm_first)
        norm = nn.LayerNorm(d_model, eps=layer_norm_eps) if final_norm else None
        # enable_nested_tensor=False: the padding-mask fast path is irrelevant here (no padding, see
        # `batches`), and keeping it off avoids a warning with norm_first.
        self.encoder = nn.TransformerEncoder(layer, layers, norm=norm, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, len(CLASSES))

    def forward(self, x):
        """x: [batch, L, F] with L <= window, every row a real face frame. Returns logits [batch, L, 7]."""
        length = x.shape[1]
        h = self.input_proj(x)
        if self.positional == "learned":
            h = h + self.pos_embed[:, :length]
        elif self.positional == "sinusoidal":
            h = h + sinusoidal_table(length, h.shape[-1]).to(device=h.device, dtype=h.dtype)
        h = self.encoder(h)          # no mask: every chunk is attended as a whole, as at inference
        return self.head(h)


def expected_keys(layers, positional, final_norm):
    """The state-dict keys of docs/models/temporal-encoder.md, nothing more."""
    keys = ["input_proj.weight", "input_proj.bias", "head.weight", "head.bias"]
    if positional == "learned":
        keys.append("pos_embed")
    for i in range(layers):
        p = "encoder.layers.%d." % i
        keys += [p + "self_attn.in_proj_weight", p + "self_attn.in_proj_bias",
                 p + "self_attn.out_proj.weight", p + "self_attn.out_proj.bias",
                 p + "linear1.weight", p + "linear1.bias", p + "linear2.weight", p + "linear2.bias",
                 p + "norm1.weight", p + "norm1.bias", p + "norm2.weight", p + "norm2.bias"]
    if final_norm:
        keys += ["encoder.norm.weight", "encoder.norm.bias"]
    return set(keys)


# ---------------------------------------------------------------------------------------------------
# Reading the export.
# ---------------------------------------------------------------------------------------------------

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """All tensors of a .safetensors file as numpy arrays (a minimal reader; see write_safetensors)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    body = data[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=_ST_DTYPES[info["dtype"]]).reshape(
            info["shape"])
    return tensors


def read_index(folder):
    """The export's settings and its per-video entries."""
    path = os.path.join(folder, "index.jsonl")
    if not os.path.isfile(path):
        sys.exit("error: %s not found: not a `dfer features` export folder" % path)
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        sys.exit("error: %s is empty" % path)
    first = json.loads(lines[0])
    if "dfer_features" not in first:
        sys.exit("error: %s: the first line is not {\"dfer_features\": ...}" % path)
    return first["dfer_features"], [json.loads(line) for line in lines[1:]]


def read_labels_csv(path):
    """`name,label` rows; label is a class name (happy, ...) or an index 0..6 in Dfer's order.

    Note DFEW's own label files count 1..7 (in this same order): subtract one, or give the names.
    A first row `name,label` is taken as a header.
    """
    labels = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row_number, row in enumerate(csv.reader(f), 1):
            if not row or (row_number == 1 and [c.strip().lower() for c in row[:2]] == ["name", "label"]):
                continue
            if len(row) < 2:
                sys.exit("error: %s line %d: expected name,label" % (path, row_number))
            name, label = row[0].strip(), row[1].strip()
            if label.lower() in CLASSES:
                labels[name] = CLASSES.index(label.lower())
            elif label.isdigit() and int(label) < len(CLASSES):
                labels[name] = int(label)
            else:
                sys.exit("error: %s line %d: unknown label %r (use %s or 0..6)"
                         % (path, row_number, label, ", ".join(CLASSES)))
    return labels


def read_video(folder, entry, features):
    """The feature vectors of the frames with a face, in frame order: float32 [n, F]."""
    path = os.path.join(folder, entry["file"])
    if path.endswith(".safetensors"):
        tensors = read_safetensors(path)
        if features not in tensors:
            sys.exit("error: %s holds no %s" % (path, features))
        x = np.asarray(tensors[features], dtype=np.float32)
        keep = np.isfinite(x).all(axis=1)
        if "face" in tensors:
            keep &= tensors["face"].astype(bool)
    else:
        x = np.load(path).astype(np.float32)
        keep = np.isfinite(x).all(axis=1)       # a NaN row is a frame without a face
    if x.ndim != 2 or x.shape[1] != FEATURE_SIZES[features]:
        sys.exit("error: %s: features of shape %s, expected [frames, %d] for %s (was it exported with "
                 "the matching --layer?)" % (path, list(x.shape), FEATURE_SIZES[features], features))
    # Frames without a face are left out, exactly as at inference: they are never fed to the model.
    return x[keep]


def make_chunks(x, target, window):
    """Consecutive chunks of `window` face frames; the last one holds the rest (1..window frames).

    Every frame gets the video's label. For per-frame labels, slice them alongside x here instead.
    """
    chunks = []
    for start in range(0, len(x), window):
        piece = x[start:start + window]
        chunks.append((piece, np.full(len(piece), target, dtype=np.int64)))
    return chunks


def batches(chunks, batch_size, shuffle):
    """Minibatches of chunks of the SAME length, so that no padding or mask is needed.

    Inference runs each chunk on its own with no padding (full chunks in batches, the short last chunk
    alone), so a model trained on unpadded chunks sees exactly what it will see in Dfer. (Padding short
    chunks and passing src_key_padding_mask would also be correct in training, but is not needed.)
    """
    by_length = {}
    for x, y in chunks:
        by_length.setdefault(len(x), []).append((x, y))
    result = []
    for group in by_length.values():
        if shuffle:
            random.shuffle(group)
        for i in range(0, len(group), batch_size):
            part = group[i:i + batch_size]
            result.append((torch.from_numpy(np.stack([x for x, _ in part])),
                           torch.from_numpy(np.stack([y for _, y in part]))))
    if shuffle:
        random.shuffle(result)
    return result


# ---------------------------------------------------------------------------------------------------
# Writing the model.
# ---------------------------------------------------------------------------------------------------

def write_safetensors(path, state_dict):
    """Writes float32 tensors as .safetensors: the `safetensors` package if installed, else by hand.

    The format: an 8-byte little-endian unsigned header length N, then N bytes of JSON
    {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}
    (offsets relative to the end of the header, tensors back to back), then the raw little-endian data.
    The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
    """
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state_dict.items()}
    try:
        from safetensors.torch import save_file
        save_file(tensors, path, metadata={"format": "pt"})
        return
    except ImportError:
        pass
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        blob = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def save_model(model, args, out):
    state = model.state_dict()
    want = expected_keys(args.layers, args.positional, args.final_norm)
    if set(state) != want:
        # E.g. a buffer registered as persistent would end up in the file and Dfer would refuse it.
        sys.exit("error: state dict keys differ from the contract: extra %s, missing %s"
                 % (sorted(set(state) - want), sorted(want - set(state))))
    if out.endswith(".safetensors"):
        write_safetensors(out, state)
    else:
        torch.save({k: v.detach().cpu() for k, v in state.items()}, out)
    # The config: exactly these fields (Dfer rejects any other); d, F, ff and layers come from shapes.
    config = {"features": args.features, "heads": args.heads, "norm_first": args.norm_first,
              "activation": args.activation, "window": args.window, "positional": args.positional}
    if args.layer_norm_eps != 1e-5:
        config["layer_norm_eps"] = args.layer_norm_eps
    config_path = os.path.splitext(out)[0] + ".json"
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return config_path


# ---------------------------------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model, videos, window, device):
    """Clip accuracy with Dfer's inference semantics: chunk, softmax per frame, mean over face frames."""
    model.eval()
    correct = 0
    for x, target in videos:
        probs = []
        for piece, _ in make_chunks(x, target, window):
            logits = model(torch.from_numpy(piece).unsqueeze(0).to(device))[0]
            probs.append(torch.softmax(logits, dim=-1))
        clip = torch.cat(probs).mean(dim=0)
        correct += int(clip.argmax().item() == target)
    return correct / max(1, len(videos))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a `dfer features` export folder (with index.jsonl)")
    parser.add_argument("--features", choices=sorted(FEATURE_SIZES), default="expression.pooled",
                        help="which vectors to train on (a .npy export holds the one it was made with)")
    parser.add_argument("--window", type=int, default=16, help="W, frames per chunk (1..4096)")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4, help="must divide --d-model")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--ff", type=int, default=256, help="dim_feedforward of every layer")
    parser.add_argument("--norm-first", action="store_true", help="pre-norm (default: post-norm)")
    parser.add_argument("--activation", choices=["relu", "gelu"], default="relu")
    parser.add_argument("--positional", choices=["none", "learned", "sinusoidal"], default="sinusoidal")
    parser.add_argument("--final-norm", action="store_true",
                        help="a LayerNorm after the last layer (saved as encoder.norm)")
    parser.add_argument("--layer-norm-eps", type=float, default=1e-5)
    parser.add_argument("--dropout", type=float, default=0.1, help="training only; Dfer evaluates")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=32, help="chunks per minibatch")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="videos held out to report clip accuracy (0: none)")
    parser.add_argument("--labels", help="CSV `name,label` overriding the index's targets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="enc.safetensors", help="enc.safetensors or enc.pth")
    args = parser.parse_args()

    if not args.out.endswith((".safetensors", ".pth")):
        sys.exit("error: --out must end with .safetensors or .pth")
    if not 1 <= args.window <= 4096:
        sys.exit("error: --window must be 1..4096")
    if args.heads < 1 or args.d_model % args.heads:
        sys.exit("error: --heads must divide --d-model")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    settings, entries = read_index(args.folder)
    print("export settings: %s" % json.dumps(settings))
    overrides = read_labels_csv(args.labels) if args.labels else {}
    videos = []   # (face-frame features [n, F], class index)
    for entry in entries:
        if "error" in entry:
            print("skipping %s: %s" % (entry.get("name"), entry["error"]))
            continue
        target = overrides.get(entry["name"], entry.get("target"))
        if target is None:
            continue                                   # unlabelled video
        x = read_video(args.folder, entry, args.features)
        if len(x) == 0:
            print("skipping %s: no frame with a face" % entry["name"])
            continue
        videos.append((x, int(target)))
    if not videos:
        sys.exit("error: no labelled video with a face in %s" % args.folder)

    random.shuffle(videos)
    n_val = int(round(len(videos) * args.val_fraction)) if len(videos) > 1 else 0
    val, train = videos[:n_val], videos[n_val:]
    chunks = [c for x, t in train for c in make_chunks(x, t, args.window)]
    counts = np.bincount([t for _, t in train], minlength=len(CLASSES))
    print("%d training videos (%d chunks, %d face frames), %d held out; per class: %s"
          % (len(train), len(chunks), sum(len(x) for x, _ in train), len(val),
             ", ".join("%s %d" % (c, n) for c, n in zip(CLASSES, counts))))

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = TemporalEncoder(FEATURE_SIZES[args.features], args.d_model, args.heads, args.ff,
                            args.layers, args.window, args.norm_first, args.activation,
                            args.positional, args.dropout, args.layer_norm_eps,
                            args.final_norm).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()   # on every frame: a class imbalance may call for `weight=`

    for epoch in range(1, args.epochs + 1):
        model.train()
        total, frames = 0.0, 0
        for x, y in batches(chunks, args.batch_size, shuffle=True):
            x, y = x.to(device), y.to(device)
            logits = model(x)                                     # [B, L, 7]
            loss = loss_fn(logits.reshape(-1, len(CLASSES)), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * y.numel()
            frames += y.numel()
        line = "epoch %d: loss %.4f" % (epoch, total / max(1, frames))
        if val:
            line += ", held-out clip accuracy %.3f" % evaluate(model, val, args.window, device)
        print(line)

    model.eval()   # as Dfer runs it: no dropout
    config_path = save_model(model.cpu(), args, args.out)
    print("wrote %s and %s" % (args.out, config_path))
    print("use it with:\n  dfer infer --model expression --temporal %s video.mp4" % args.out)


if __name__ == "__main__":
    main()
