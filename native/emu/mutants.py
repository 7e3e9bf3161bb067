#!/usr/bin/env python3
"""Mutation check of the conv3d harness: copies native/kernels/conv3d.cu, injects one typical kernel
bug at a time (pipeline order, missing barrier, swizzle, bounds, epilogue), builds conv3d_emu against
the copy and expects it to FAIL. A mutant that passes means the harness has a blind spot.

    python3 native/emu/mutants.py            # from the repository root; about 7 minutes

Mutants whose source pattern no longer exists in conv3d.cu are reported as SKIP (the kernel changed).
Nothing in native/kernels is modified.
"""
import os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "native/kernels/conv3d.cu")

# (name, filter for conv3d_emu, old text, new text, count of occurrences to replace (0 = all))
MUTANTS = [
    ("v4/v5 waits for one group too few (reads a stage in flight)", "_v4", "cp_async_wait<STAGES - 2>();", "cp_async_wait<STAGES - 1>();", 1),
    ("v4/v5 no __syncthreads after the wait", "_v5", "    cp_async_wait<STAGES - 2>();\n    __syncthreads();", "    cp_async_wait<STAGES - 2>();", 1),
    ("ldmatrix A address without the swizzle", "bf16_v4", "o.a[ks] = swz(arow, ks * 2 + (lane >> 4));", "o.a[ks] = arow * 64 + ((ks * 2 + (lane >> 4)) << 4);", 1),
    ("ldmatrix B: k halves swapped", "f16_v6", "o.b[ks] = swz(brow, ks * 2 + ((lane >> 3) & 1));", "o.b[ks] = swz(brow, ks * 2 + 1 - ((lane >> 3) & 1));", 1),
    ("epilogue writes row m (off by one)", "f32_v1", "if (row >= p.m || col >= p.co) return;", "if (row > p.m || col >= p.co) return;", 1),
    ("epilogue drops the last odd column", "bf16_v6 c5_k135", "const bool two = col + 1 < p.co;", "const bool two = false;", 1),
    ("gather bounds: h upper edge inclusive", "tf32_v2", "static_cast<unsigned>(r.h0 + t.b) < static_cast<unsigned>(p.h)", "static_cast<unsigned>(r.h0 + t.b) <= static_cast<unsigned>(p.h)", 1),
    ("K cursor wraps one channel late", "3xtf32_v3", "if (i >= c) {", "if (i > c) {", 1),
    ("ReLU dropped from the epilogue", "f16_v7", "  if (p.relu) {\n    v0 = fmaxf(v0, 0.0f);\n    v1 = fmaxf(v1, 0.0f);\n  }\n", "", 1),
    # pooled epilogue (Conv3dParams::pool)
    ("pool, per element: row added to the next row's pooled row", "tf32_v2 pool_r6", "pool_at(p, static_cast<int>(row) / p.pool_rows, col)", "pool_at(p, (static_cast<int>(row) + 1) / p.pool_rows, col)", 1),
    ("pool, mma: boundary row kept in the previous pooled row", "bf16_v5 pool", "const bool hi_a = g >= split, hi_b = g + 8 >= split;", "const bool hi_a = g > split, hi_b = g + 8 > split;", 1),
    ("pool, v1: boundary row kept in the previous pooled row", "f32_v1 pool", "const bool hi = sub + i >= split;", "const bool hi = sub + i > split;", 1),
    ("pool, reduce-scatter: lanes keep the wrong half", "f16_v6 pool", "v[j] = (upper ? v[j + half] : v[j]) + shfl_xor(send, mask);", "v[j] = (upper ? v[j] : v[j + half]) + shfl_xor(send, mask);", 1),
    ("pool, per element: also writes y", "f16_v7 pool_r6", "    if (two) atomic_add_f32(d + 1, v1 * p.pool_scale);\n    return;\n", "    if (two) atomic_add_f32(d + 1, v1 * p.pool_scale);\n", 1),
    ("pool, reduced: pool_scale dropped", "bf16_v4 pool", "atomic_add_f32(pool_at(p, seg, col), v[j] * p.pool_scale);", "atomic_add_f32(pool_at(p, seg, col), v[j]);", 1),
    # split-K (Conv3dParams::k_splits > 1: split pass into partial, then conv3d_splitk_finish_*)
    ("split: z offset into partial scaled by co instead of m", "f32_v1 split", "(static_cast<i64>(blockIdx.z) * p.m + row) * p.co + col", "(static_cast<i64>(blockIdx.z) * p.co + row) * p.co + col", 1),
    ("split finish: last split skipped", "f16_v6 split", "for (int z = 1; z < p.k_splits; ++z)", "for (int z = 1; z < p.k_splits - 1; ++z)", 1),
    ("split: K range one chunk late", "tf32_v2 split", "r.begin = static_cast<int>(blockIdx.z) * p.k_chunk;", "r.begin = static_cast<int>(blockIdx.z + 1) * p.k_chunk;", 1),
    ("split, v4/v5: load cursor's tap not moved to the range start", "bf16_v5 split", "const int tap = k0 / p.c, q = tap / p.kw;", "const int tap = 0, q = 0;", 1),
    ("split, v4/v5: prologue loads past the range (tail shorter than the pipeline)", "f16_v4 split", "    if (s < ktiles) load_tile(s);", "    load_tile(s);", 1),
    ("split: pass applies the epilogue (bias in every split)", "bf16_v7 split", "{ partial_pair(p, row, col, v0, v1, pair_ok); }", "{ partial_pair(p, row, col, v0 + p.bias[min(col, p.co - 1)], v1, pair_ok); }", 1),
]


def main():
    base = open(SRC).read()
    tmp = tempfile.mkdtemp(prefix="dfer_mut_")
    missed = 0
    for name, filt, old, new, count in MUTANTS:
        if old not in base:
            print(f"SKIP    {name}: pattern not found in conv3d.cu")
            continue
        src = base.replace(old, new, count) if count else base.replace(old, new)
        path = os.path.join(tmp, "conv3d.cu")
        open(path, "w").write(src)
        exe = os.path.join(tmp, "conv3d_emu")
        b = subprocess.run(["g++", "-std=c++20", "-O2", "-DDFER_EMULATE", "-I" + os.path.join(ROOT, "native/kernels"),
                            f'-DDFER_CONV3D_SOURCE="{path}"', "-o", exe, os.path.join(ROOT, "native/emu/conv3d_emu.cpp")],
                           capture_output=True, text=True)
        if b.returncode != 0:
            print(f"BUILD   {name}: {b.stderr[:300]}")
            continue
        r = subprocess.run([exe, path, "--filter", filt], capture_output=True, text=True, timeout=300)
        fails = [l for l in r.stdout.splitlines() if "FAIL" in l]
        if r.returncode == 1 and fails:
            print(f"caught  {name}: {len(fails)} failing case(s), e.g.\n        {fails[0].strip()}")
            for l in r.stdout.splitlines():
                if l.startswith("      "):
                    print("        " + l.strip())
                    break
        else:
            missed += 1
            print(f"MISSED  {name} (exit {r.returncode})")
    print(f"mutants: {missed} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
