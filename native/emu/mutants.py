#!/usr/bin/env python3
"""Mutation check of the emulator harnesses (native/emu/README.md, "mutants.py").

Injects one typical kernel bug at a time into a copy of a file of native/kernels (every .cu file and
common.cuh), builds the harness of that file against the copy and expects the harness to FAIL. Any of
these is a failure of the whole run (exit 1, one line naming the mutant):

  PATTERN   the mutant's source text no longer occurs in its file (the kernel changed: update the mutant)
  BUILD     the mutated file does not compile (the mutant proves nothing; the compiler's first error)
  MISSED    the harness passes on the mutant (a blind spot), unless EQUIVALENT lists it with a reason
  EQUIVALENT-CAUGHT  an allow-listed mutant is caught after all (drop it from EQUIVALENT)
  COVERAGE  a kernel file without mutants, or a .cu file without a harness
  BASELINE  a harness fails on the unmutated sources (every "caught" would then mean nothing)

    python3 native/emu/mutants.py [--jobs N] [--filter SUBSTRING] [--keep]   # from the repository root

Each harness is compiled once into an object whose own kernels are weak (-DDFER_EMU_WEAK_KERNELS, see
cuda_emu.h); a mutant costs one compile of the mutated kernel file (with a precompiled cuda_emu.h), a link
and a filtered run. Mutants run in parallel over the cores. Nothing in native/kernels is modified.
"""
import argparse, concurrent.futures as cf, os, re, shutil, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNELS = os.path.join(ROOT, "native", "kernels")
EMU = os.path.join(ROOT, "native", "emu")
CXXFLAGS = ["-std=c++20", "-O2", "-DDFER_EMULATE"]
RUN_TIMEOUT = 240  # seconds per harness run; a mutant that hangs the harness until then counts as caught

# kernel file -> (harness source, macro naming the kernel file it includes)
HARNESSES = {
    "conv3d.cu": ("conv3d_emu.cpp", "DFER_CONV3D_SOURCE"),
    "lstm.cu": ("lstm_emu.cpp", "DFER_LSTM_SOURCE"),
    "attention_pool.cu": ("attention_pool_emu.cpp", "DFER_ATTENTION_POOL_SOURCE"),
    "small_ops.cu": ("small_ops_emu.cpp", "DFER_SMALL_OPS_SOURCE"),
    "cast.cu": ("cast_emu.cpp", "DFER_CAST_SOURCE"),
}

# (file, name, --filter of the harness, old text, new text, occurrences to replace (0 = all)[, FULL]).
# A common.cuh mutant names the .cu file whose harness judges it: (file "common.cuh:<kernel>.cu", ...).
# FULL: the harness itself calls the mutated function (not only through a kernel), so the mutant is built as one
# translation unit with the harness (the harness's copy would otherwise be the one it calls).
FULL = "full"
MUTANTS = [
    # ---- conv3d.cu ----
    ("conv3d.cu", "v4/v5 waits for one group too few (reads a stage in flight)", "_v4", "cp_async_wait<STAGES - 2>();", "cp_async_wait<STAGES - 1>();", 1),
    ("conv3d.cu", "v4/v5 no __syncthreads after the wait", "_v5", "    cp_async_wait<STAGES - 2>();\n    __syncthreads();", "    cp_async_wait<STAGES - 2>();", 1),
    ("conv3d.cu", "ldmatrix A address without the swizzle", "bf16_v4", "o.a[ks] = swz(arow, ks * 2 + (lane >> 4));", "o.a[ks] = arow * 64 + ((ks * 2 + (lane >> 4)) << 4);", 1),
    ("conv3d.cu", "ldmatrix B: k halves swapped", "f16_v6", "o.b[ks] = swz(brow, ks * 2 + ((lane >> 3) & 1));", "o.b[ks] = swz(brow, ks * 2 + 1 - ((lane >> 3) & 1));", 1),
    ("conv3d.cu", "epilogue writes row m (off by one)", "f32_v1", "if (row >= p.m || col >= p.co) return;", "if (row > p.m || col >= p.co) return;", 1),
    ("conv3d.cu", "epilogue drops the last odd column", "bf16_v6 c5_k135", "const bool two = col + 1 < p.co;", "const bool two = false;", 1),
    ("conv3d.cu", "gather bounds: h upper edge inclusive", "tf32_v2", "static_cast<unsigned>(r.h0 + t.b) < static_cast<unsigned>(p.h)", "static_cast<unsigned>(r.h0 + t.b) <= static_cast<unsigned>(p.h)", 1),
    ("conv3d.cu", "K cursor wraps one channel late", "3xtf32_v3", "if (i >= c) {", "if (i > c) {", 1),
    ("conv3d.cu", "ReLU dropped from the epilogue", "f16_v7", "  if (p.relu) {\n    v0 = fmaxf(v0, 0.0f);\n    v1 = fmaxf(v1, 0.0f);\n  }\n", "", 1),
    ("conv3d.cu", "pool, per element: row added to the next row's pooled row", "tf32_v2 pool_r6", "pool_at(p, static_cast<int>(row) / p.pool_rows, col)", "pool_at(p, (static_cast<int>(row) + 1) / p.pool_rows, col)", 1),
    ("conv3d.cu", "pool, mma: boundary row kept in the previous pooled row", "bf16_v5 pool", "const bool hi_a = g >= split, hi_b = g + 8 >= split;", "const bool hi_a = g > split, hi_b = g + 8 > split;", 1),
    ("conv3d.cu", "pool, v1: boundary row kept in the previous pooled row", "f32_v1 pool", "const bool hi = sub + i >= split;", "const bool hi = sub + i > split;", 1),
    ("conv3d.cu", "pool, reduce-scatter: lanes keep the wrong half", "f16_v6 pool", "v[j] = (upper ? v[j + half] : v[j]) + shfl_xor(send, mask);", "v[j] = (upper ? v[j] : v[j + half]) + shfl_xor(send, mask);", 1),
    ("conv3d.cu", "pool, per element: also writes y", "f16_v7 pool_r6", "    if (two) atomic_add_f32(d + 1, v1 * p.pool_scale);\n    return;\n", "    if (two) atomic_add_f32(d + 1, v1 * p.pool_scale);\n", 1),
    ("conv3d.cu", "pool, reduced: pool_scale dropped", "bf16_v4 pool", "atomic_add_f32(pool_at(p, seg, col), v[j] * p.pool_scale);", "atomic_add_f32(pool_at(p, seg, col), v[j]);", 1),
    ("conv3d.cu", "split: z offset into partial scaled by co instead of m", "f32_v1 split", "(static_cast<i64>(blockIdx.z) * p.m + row) * p.co + col", "(static_cast<i64>(blockIdx.z) * p.co + row) * p.co + col", 1),
    ("conv3d.cu", "split finish: last split skipped", "f16_v6 split", "for (int z = 1; z < p.k_splits; ++z)", "for (int z = 1; z < p.k_splits - 1; ++z)", 1),
    ("conv3d.cu", "split: K range one chunk late", "tf32_v2 split", "r.begin = static_cast<int>(blockIdx.z) * p.k_chunk;", "r.begin = static_cast<int>(blockIdx.z + 1) * p.k_chunk;", 1),
    ("conv3d.cu", "split, v4/v5: load cursor's tap not moved to the range start", "bf16_v5 split", "const int tap = k0 / p.c, q = tap / p.kw;", "const int tap = 0, q = 0;", 1),
    ("conv3d.cu", "split, v4/v5: prologue loads past the range (tail shorter than the pipeline)", "f16_v4 split", "    if (s < ktiles) load_tile(s);", "    load_tile(s);", 1),
    ("conv3d.cu", "split: pass applies the epilogue (bias in every split)", "bf16_v7 split", "{ partial_pair(p, row, col, v0, v1, pair_ok); }", "{ partial_pair(p, row, col, v0 + p.bias[min(col, p.co - 1)], v1, pair_ok); }", 1),
    # ---- lstm.cu ----
    ("lstm.cu", "proj: bias dropped", "b3_l5_in37_h29_x1_uni", "= acc[j] + p.bias[n];", "= acc[j];", 1),
    ("lstm.cu", "proj: k bound inclusive (reads one element past the row)", "b3_l5_in37_h29_x1_uni", "xr[i] = (m < p.m && k < p.k) ?", "xr[i] = (m < p.m && k <= p.k) ?", 1),
    ("lstm.cu", "proj: no __syncthreads between staging the tile and reading it", "b3_l5_in37_h29_x1_uni", "    __syncthreads();\n    if (k0 + kProjTK < p.k) load(k0 + kProjTK);", "    if (k0 + kProjTK < p.k) load(k0 + kProjTK);", 1),
    ("lstm.cu", "rec: forget-gate term dropped from the cell update", "b3_l5_in37_h29_x1_uni", "fmaf(sigmoid_f32(gf), cprev, sigmoid_f32(gi) * tanh_f32(gg))", "sigmoid_f32(gi) * tanh_f32(gg)", 1),
    ("lstm.cu", "rec: input and forget gates swapped", "b3_l5_in37_h29_x1_uni", "gi = gs[(0 * S + jj) * kNB + bb], gf = gs[(1 * S + jj) * kNB + bb]", "gi = gs[(1 * S + jj) * kNB + bb], gf = gs[(0 * S + jj) * kNB + bb]", 1),
    ("lstm.cu", "rec: reverse direction reads h of the wrong neighbour step", "b3_l5_in37_h29_x1_bi", "const int tp = d == 0 ? t - 1 : t + 1;", "const int tp = t - 1;", 1),
    ("lstm.cu", "rec: grid barrier between steps skipped", "b3_l5_in37_h29_x2_bi", "if (s + 1 < p.step_end) grid_barrier(", "if (false) grid_barrier(", 1),
    ("lstm.cu", "rec: grid barrier releases one arrival early", "b3_l5_in37_h29_x2_bi", "const u32 target = round * gridDim.x;", "const u32 target = round * gridDim.x - 1;", 1),
    ("lstm.cu", "rec: sigmoid with the wrong sign", "b1_l1", "return 1.0f / (1.0f + expf(-x));", "return 1.0f / (1.0f + expf(x));", 1),
    ("lstm.cu", "rec: tanh polynomial, x^5 coefficient wrong", "activations", "2.0f / 15.0f", "2.0f / 5.0f", 1, FULL),
    ("lstm.cu", "rec: W_hh staged in smem with the slice's row stride", "b3_l5_in37_h29_x2_bi", "ws[e] = j < H ? wd[static_cast<i64>(q * H + j) * H + k] : 0.0f;", "ws[e] = j < H ? wd[static_cast<i64>(q * S + j) * H + k] : 0.0f;", 1),
    # ---- attention_pool.cu ----
    ("attention_pool.cu", "qkv: partial row block stores rows past the end", "", "if (lane == r && r < nr && col[c] < cols)", "if (lane == r && col[c] < cols)", 1),
    ("attention_pool.cu", "scores: 1/sqrt(head_dim) scale dropped", "", "s_prob[idx] = s * p.scale;", "s_prob[idx] = s;", 1),
    ("attention_pool.cu", "softmax: sum of the exponentials missing its first term", "", "    float sum = 0.f;\n    for (int m = 0; m < n; m++) {\n      const float e", "    float sum = 0.f;\n    for (int m = 0; m < n; m++) {\n      if (m == 0) { pr[m] = expf(pr[m] - mx); continue; }\n      const float e", 1),
    ("attention_pool.cu", "per-instance variance biased (divides by n)", "", "row[stride + d + c] = sq / (n - 1);", "row[stride + d + c] = sq / n;", 1),
    ("attention_pool.cu", "block_sum: no barrier between the warp sums and reading them", "", "  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;\n  __syncthreads();\n", "  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;\n", 1),
    ("attention_pool.cu", "DMIN: layer variance term uses the layer mean", "", "p.wv1 * var_ln", "p.wv1 * mean_ln", 1),
    ("attention_pool.cu", "pwconv: right padding edge inclusive", "", "if (at >= 0 && at < d)", "if (at >= 0 && at <= d)", 1),
    ("attention_pool.cu", "fc: bias dropped", "", "= s + p.fc_b[cls];", "= s;", 1),
    ("attention_pool.cu", "gate: sigmoid with the wrong sign", "", "/ (1.f + expf(-z));", "/ (1.f + expf(z));", 1),
    # ---- small_ops.cu ----
    ("small_ops.cu", "permute: axis 4 dropped from the index split", "permute", "    split_axis(r, off, p.d4, p.s4);\n", "", 1),
    ("small_ops.cu", "permute: last axis uses axis 1's stride", "permute", "off += static_cast<i64>(r) * p.s0;", "off += static_cast<i64>(r) * p.s1;", 1),
    ("small_ops.cu", "permute: grid stride one too large", "permute", "p.total; i += stride)", "p.total; i += stride + 1)", 1),
    ("small_ops.cu", "softmax: max swapped for min", "softmax", "mx = fmaxf(mx, xr[j]);", "mx = fminf(mx, xr[j]);", 1),
    ("small_ops.cu", "softmax: per-lane max, warp_max dropped", "softmax", "    mx = warp_max(mx);\n", "", 1),
    ("small_ops.cu", "softmax: divides the input instead of the exponential", "softmax", "yr[j] = yr[j] / sum;", "yr[j] = xr[j] / sum;", 1),
    ("small_ops.cu", "avgpool: no __syncthreads before the partial sums are read", "avgpool", "    s_part[g][lane] = sum;\n    __syncthreads();\n", "    s_part[g][lane] = sum;\n", 1),
    ("small_ops.cu", "avgpool: writes channels past c", "avgpool", "if (g == 0 && c < p.c) {", "if (g == 0) {", 1),
    ("small_ops.cu", "avgpool: last position dropped", "avgpool", "q < p.positions; q += kPoolGroups)", "q < p.positions - 1; q += kPoolGroups)", 1),
    # ---- cast.cu ----
    ("cast.cu", "f32->bf16: last element skipped", "cast_f32_bf16", "i < n; i += stride) y[i] = from_float<bf16>(x[i]);", "i < n - 1; i += stride) y[i] = from_float<bf16>(x[i]);", 1),
    ("cast.cu", "f32->bf16 truncates instead of rounding to nearest even", "cast_f32_bf16", "y[i] = from_float<bf16>(x[i]);", "y[i] = bf16{static_cast<u16>(float_to_bits(x[i]) >> 16)};", 1),
    ("cast.cu", "f32->f16 rounds twice (through bf16)", "cast_f32_f16", "y[i] = from_float<f16>(x[i]);", "y[i] = from_float<f16>(to_float(from_float<bf16>(x[i])));", 1),
    ("cast.cu", "f16->f32 decodes the bits as bf16", "cast_f16_f32", "cast_f16_f32(const f16* __restrict__ x, float* __restrict__ y, i64 n) {\n  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;\n  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = to_float(x[i]);", "cast_f16_f32(const f16* __restrict__ x, float* __restrict__ y, i64 n) {\n  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;\n  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = to_float(bf16{x[i].bits});", 1),
    ("cast.cu", "bf16->f32: grid stride one too large", "cast_bf16_f32", "cast_bf16_f32(const bf16* __restrict__ x, float* __restrict__ y, i64 n) {\n  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x;", "cast_bf16_f32(const bf16* __restrict__ x, float* __restrict__ y, i64 n) {\n  const i64 stride = static_cast<i64>(blockDim.x) * gridDim.x + 1;", 1),
    # ---- common.cuh (judged by the harness of the .cu file after the colon) ----
    ("common.cuh:small_ops.cu", "warp_sum skips the exchange across half warps", "softmax", "for (int o = 16; o > 0; o >>= 1) v += shfl_xor(v, o);", "for (int o = 8; o > 0; o >>= 1) v += shfl_xor(v, o);", 1),
    ("common.cuh:small_ops.cu", "warp_max takes the minimum", "softmax", "v = fmaxf(v, shfl_xor(v, o));", "v = fminf(v, shfl_xor(v, o));", 1),
    ("common.cuh:lstm.cu", "ceil_div rounds down", "b3_l5_in37_h29_x1_bi", "return (a + b - 1) / b;", "return a / b;", 1),
]

# Mutants that survive on purpose: name -> why the harness cannot (or need not) tell them from the kernel.
# A listed mutant that is caught fails the run too, so this list cannot go stale.
EQUIVALENT = {
}


def out(msg, lock=threading.Lock()):
    with lock:
        print(msg, flush=True)


def first_error(text):
    for line in text.splitlines():
        if "error" in line:
            return line.strip()
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[0].strip() if lines else "(no compiler output)"


def sh(cmd, timeout=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Builder:
    def __init__(self, tmp, jobs):
        self.tmp, self.jobs = tmp, jobs
        self.pch_dir = os.path.join(tmp, "pch")

    def pch(self):
        # -include <pch_dir>/cuda_emu.h finds the .gch next to it; the copy keeps the original's mtime so
        # `#pragma once` treats the kernels' own #include of cuda_emu.h as the same file.
        os.makedirs(self.pch_dir)
        hdr = os.path.join(self.pch_dir, "cuda_emu.h")
        shutil.copy2(os.path.join(EMU, "cuda_emu.h"), hdr)
        r = sh(["g++", *CXXFLAGS, "-x", "c++-header", "-o", hdr + ".gch", hdr])
        if r.returncode != 0:
            raise RuntimeError("precompiled cuda_emu.h: " + first_error(r.stderr))
        return ["-include", hdr, "-Winvalid-pch"]

    def harness(self, kernel, pch):
        src, _ = HARNESSES[kernel]
        obj = os.path.join(self.tmp, src.replace(".cpp", ".o"))
        r = sh(["g++", *CXXFLAGS, *pch, "-DDFER_EMU_WEAK_KERNELS", "-I" + KERNELS, "-c", "-o", obj, os.path.join(EMU, src)])
        if r.returncode != 0:
            raise RuntimeError(f"harness {src}: " + first_error(r.stderr))
        return obj

    def kernel(self, cu_path, include_dir, obj, pch):
        return sh(["g++", *CXXFLAGS, *pch, "-I" + include_dir, "-I" + KERNELS, "-x", "c++", "-c", "-o", obj, cu_path])

    def full(self, judge, cu_path, include_dir, exe, pch):
        src, macro = HARNESSES[judge]
        return sh(["g++", *CXXFLAGS, *pch, "-I" + include_dir, "-I" + KERNELS, f'-D{macro}="{cu_path}"', "-o", exe,
                   os.path.join(EMU, src)])


def parse_args():
    ap = argparse.ArgumentParser(description="mutation check of the CUDA emulator harnesses")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compiles and runs (default: all cores)")
    ap.add_argument("--filter", default="", help="only mutants whose file or name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the build folder")
    return ap.parse_args()


def main():
    args = parse_args()
    t0 = time.monotonic()
    failures = []

    def fail(kind, msg):
        failures.append(f"{kind} {msg}")
        out(f"{kind:<9} {msg}")

    sources = {}
    for f in sorted(os.listdir(KERNELS)):
        if f.endswith(".cu") or f == "common.cuh":
            sources[f] = open(os.path.join(KERNELS, f)).read()
    # Coverage: every .cu file has a harness and mutants; common.cuh has mutants.
    for f in sources:
        if f.endswith(".cu") and f not in HARNESSES:
            fail("COVERAGE", f"native/kernels/{f} has no harness in mutants.py's HARNESSES")
        if not any(m[0].split(":")[0] == f for m in MUTANTS):
            fail("COVERAGE", f"native/kernels/{f} has no mutants")
    names = [m[1] for m in MUTANTS]
    for n in sorted({n for n in names if names.count(n) > 1}):
        fail("COVERAGE", f"two mutants are named '{n}'")
    for n in EQUIVALENT:
        if n not in names:
            fail("EQUIVALENT", f"'{n}' is allow-listed but no mutant has that name")

    # Patterns: every mutant's text must still occur in its file (checked for all, before any build).
    todo = []
    for m in MUTANTS:
        file, name, filt, old, new, count = m[:6]
        full = len(m) > 6 and m[6] == FULL
        target = file.split(":")[0]
        judge = file.split(":")[1] if ":" in file else target
        if args.filter and args.filter not in file and args.filter not in name:
            continue
        if target not in sources or judge not in HARNESSES:
            fail("PATTERN", f"{file}: {name}: no such kernel file or harness")
            continue
        have = sources[target].count(old)
        if have < max(count, 1):
            fail("PATTERN", f"{target}: {name}: pattern found {have} time(s), needs {max(count, 1)}: {old.splitlines()[0].strip()!r}")
            continue
        todo.append((target, judge, name, filt, old, new, count, full))

    tmp = tempfile.mkdtemp(prefix="dfer_mut_")
    b = Builder(tmp, args.jobs)
    try:
        try:
            pch = b.pch()
        except RuntimeError as e:
            fail("BUILD", str(e))
            return finish(failures, t0, 0)
        judges = sorted({t[1] for t in todo}, key=lambda k: k != "conv3d.cu")  # the slowest first
        lock = threading.Lock()
        with cf.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            harness_f = {k: ex.submit(b.harness, k, pch) for k in judges}

            def link_run(judge, kobj, exe, cu_path, filt):
                hobj = harness_f[judge].result()
                r = sh(["g++", "-o", exe, kobj, hobj])  # kernel object first: its definitions win
                if r.returncode != 0:
                    return None, "link: " + first_error(r.stderr)
                cmd = [exe, cu_path] + (["--filter", filt] if filt else [])
                try:
                    return sh(cmd, timeout=RUN_TIMEOUT), None
                except subprocess.TimeoutExpired:
                    return "timeout", None

            def baseline(judge):
                d = os.path.join(tmp, "base_" + judge.replace(".", "_"))
                os.makedirs(d)
                kobj = os.path.join(d, "kernel.o")
                r = b.kernel(os.path.join(KERNELS, judge), KERNELS, kobj, pch)
                if r.returncode != 0:
                    return f"{judge}: {first_error(r.stderr)}"
                r, err = link_run(judge, kobj, os.path.join(d, "emu"), os.path.join(KERNELS, judge), "")
                if err:
                    return f"{judge}: {err}"
                if r == "timeout" or r.returncode != 0:
                    tail = "timeout" if r == "timeout" else f"exit {r.returncode}: " + (r.stdout.strip().splitlines() or [""])[-1]
                    return f"{judge}: harness fails on the unmutated sources ({tail})"
                return None

            def mutant(i, target, judge, name, filt, old, new, count, full):
                d = os.path.join(tmp, f"m{i:02d}")
                kdir = os.path.join(d, "kernels")
                os.makedirs(kdir)
                os.symlink(EMU, os.path.join(d, "emu"))  # common.cuh includes ../emu/cuda_emu.h
                src = sources[target]
                mutated = src.replace(old, new, count) if count else src.replace(old, new)
                open(os.path.join(kdir, target), "w").write(mutated)
                cu_path = os.path.join(kdir, judge)
                if judge != target:
                    open(cu_path, "w").write(sources[judge])  # the .cu next to the mutated common.cuh includes it
                kobj, exe = os.path.join(d, "kernel.o"), os.path.join(d, "emu_run")
                if full:
                    r = b.full(judge, cu_path, kdir, exe, pch)
                    if r.returncode != 0:
                        return ("BUILD", first_error(r.stderr))
                    try:
                        r = sh([exe, cu_path] + (["--filter", filt] if filt else []), timeout=RUN_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        r = "timeout"
                else:
                    r = b.kernel(cu_path, kdir, kobj, pch)
                    if r.returncode != 0:
                        return ("BUILD", first_error(r.stderr))
                    r, err = link_run(judge, kobj, exe, cu_path, filt)
                    if err:
                        return ("BUILD", err)
                if r == "timeout":
                    return ("caught", f"harness still running after {RUN_TIMEOUT} s")
                lines = r.stdout.splitlines()
                fails = [l.strip() for l in lines if "FAIL" in l or l.startswith("harness error")]
                if r.returncode != 0 and (fails or r.returncode < 0):
                    detail = fails[0] if fails else f"killed by signal {-r.returncode}"
                    return ("caught", f"exit {r.returncode}, {len(fails)} failing line(s), e.g. {detail[:160]}")
                if re.search(r"\b0 passed, 0 failed", r.stdout):
                    return ("missed", f"the filter {filt!r} matches no case of the harness")
                return ("missed", f"exit {r.returncode}; {lines[-1].strip() if lines else 'no output'}")

            base_f = {k: ex.submit(baseline, k) for k in judges}
            mut_f = [(t, ex.submit(mutant, i, *t)) for i, t in enumerate(todo)]
            for k, f in base_f.items():
                try:
                    err = f.result()
                except RuntimeError as e:
                    err = str(e)
                if err:
                    fail("BASELINE", err)
            caught = 0
            for t, f in mut_f:
                target, judge, name = t[0], t[1], t[2]
                label = f"{target}: {name}" + (f" [{judge}]" if judge != target else "")
                try:
                    kind, detail = f.result()
                except RuntimeError as e:
                    kind, detail = "BUILD", str(e)
                if kind == "BUILD":
                    fail("BUILD", f"{label}: {detail}")
                elif kind == "caught":
                    if name in EQUIVALENT:
                        fail("EQUIVALENT-CAUGHT", f"{label}: allow-listed but caught ({detail}); drop it from EQUIVALENT")
                    else:
                        caught += 1
                        out(f"caught    {label}: {detail}")
                elif name in EQUIVALENT:
                    out(f"survives  {label}: allow-listed: {EQUIVALENT[name]}")
                else:
                    fail("MISSED", f"{label} ({detail})")
        return finish(failures, t0, caught)
    finally:
        if args.keep:
            out(f"build folder kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def finish(failures, t0, caught):
    secs = time.monotonic() - t0
    if failures:
        out(f"mutants: FAILED, {len(failures)} problem(s), {caught} caught ({secs:.0f} s):")
        for f in failures:
            out("  " + f)
        return 1
    out(f"mutants: all {caught} caught, 0 missed ({secs:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
