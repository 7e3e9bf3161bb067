// Conv3d as an implicit GEMM over channels-last tensors (contract: docs/kernel-interface.md).
//   y[m, o] = act(bias[o] + sum_k A[m, k] * W[o, k] (+ res[m, o])), act = ReLU after the residual,
//   m = ((n*To + to)*Ho + ho)*Wo + wo, k = ((a*kh + b)*kw + c)*C + i,
//   A[m, k] = x[n, to*st-pt+a, ho*sh-ph+b, wo*sw-pw+c, i] (zero outside x), W = wp[o*K + k].
// Variants:
//   v1 conv3d_f32_v1    : exact fp32 SIMT FMA, 128x64 tile, 8x4 outputs per thread, register-staged double buffer; any shape.
//   v2 conv3d_tf32_v2   : TF32 mma.sync m16n8k8, 128x64 tile, register-staged gather with bounds checks; any shape.
//   v3 conv3d_3xtf32_v3 : v2 with the 3xTF32 split (big*big + big*small + small*big) for fp32-level accuracy; any shape.
//   v4 conv3d_bf16_v4, conv3d_f16_v4 : mma m16n8k16, 128x128 tile, 4-stage cp.async + ldmatrix on XOR-swizzled smem; c % 32 == 0.
//   v5 conv3d_bf16_v5, conv3d_f16_v5 : v4 with a 128x64 tile (co = 64 layers, small m); c % 32 == 0.
//   v6 conv3d_bf16_v6, conv3d_f16_v6 : mma m16n8k16, 128x64 tile, register-staged gather with bounds checks; any shape.
//   v7 conv3d_bf16_v7, conv3d_f16_v7 : v6 reading x as fp32 and rounding while gathering (the stem: c = 3, 3x7x7).
// Launch table of the variants (grid = (ceil(m / tile_m), ceil(co / tile_n), k_splits > 1 ? k_splits : 1)); the
// host mirrors these lines:
// launch conv3d_f32_v1: block 256, tile_m 128, tile_n 64, smem 0
// launch conv3d_tf32_v2: block 256, tile_m 128, tile_n 64, smem 0
// launch conv3d_3xtf32_v3: block 256, tile_m 128, tile_n 64, smem 0
// launch conv3d_bf16_v4: block 256, tile_m 128, tile_n 128, smem 65536
// launch conv3d_f16_v4: block 256, tile_m 128, tile_n 128, smem 65536
// launch conv3d_bf16_v5: block 256, tile_m 128, tile_n 64, smem 49152
// launch conv3d_f16_v5: block 256, tile_m 128, tile_n 64, smem 49152
// launch conv3d_bf16_v6: block 256, tile_m 128, tile_n 64, smem 0
// launch conv3d_f16_v6: block 256, tile_m 128, tile_n 64, smem 0
// launch conv3d_bf16_v7: block 256, tile_m 128, tile_n 64, smem 0
// launch conv3d_f16_v7: block 256, tile_m 128, tile_n 64, smem 0
// Split-K finish kernels (grid-stride, one output element per thread and pass; tile_m = elements per block):
// grid = (min(ceil(m * co / tile_m), 1 << 20), 1, 1); tile_n is unused (1).
// launch conv3d_splitk_finish_f32: block 256, tile_m 256, tile_n 1, smem 0
// launch conv3d_splitk_finish_bf16: block 256, tile_m 256, tile_n 1, smem 0
// launch conv3d_splitk_finish_f16: block 256, tile_m 256, tile_n 1, smem 0
// Limits: m and N*T*H*W below 2^31 (pixel indices are int; element offsets are i64). v4/v5 read x
// and wp with 16-byte cp.async, so both must be 16-byte aligned (c % 32 == 0 keeps every chunk aligned).
// Pooled epilogue (every variant): with p.pool != nullptr the kernel folds AdaptiveAvgPool3d(1) into its
// epilogue and does not write y (y may be null): for each output (row, col), v * pool_scale, v its final value
// (bias, residual, ReLU as above, fp32 also for the 16-bit variants), is added to the fp32
// pool[(row / pool_rows) * co + col] with a global atomic (atomic_add_f32). The host zeroes pool [N, co] before
// the launch and sets pool_rows = To*Ho*Wo, pool_scale = 1 / (To*Ho*Wo). The adds are reduced first: a warp
// sums the rows it holds of one pooled row in registers, then across the lanes holding the same columns
// (reduce-scatter of shuffles), and adds sum * pool_scale once per column; a 16-row mma tile (8-row group in
// v1) that spans three or more pooled rows (pool_rows < 16) adds per element. pool == nullptr: y is written.
// Split-K (few output tiles, long K: M3DFEL's late layers at batch 1, m = 196, co = 512, K = 13824): with
// p.k_splits > 1 the host launches the variant with grid.z = k_splits, then the finish kernel of its output type
// (conv3d_splitk_finish_f32 for v1..v3, _bf16 / _f16 for v4..v7 of that type) with the same Conv3dParams.
//   Split pass: block z accumulates only k in [z * k_chunk, min(k, (z + 1) * k_chunk)) and writes its raw sums
//   (no bias, residual, ReLU or pool; y and pool untouched) as fp32 to partial[(z * m + row) * co + col] for
//   every row < m, col < co; a block whose range is empty writes zeros. k_chunk is a multiple of 64 (host),
//   hence of every variant's K step (BK = 16 for v1..v3, 32 for v4..v7): a split's range is whole K tiles,
//   only the last nonempty split (which ends at k) can end in a partial tile, which the existing k < K
//   bounds handle. v1..v3, v6, v7 start their K cursor (tap, channel) at z * k_chunk (mid-tap for any c)
//   and run ceil(len / BK) tiles; v4/v5 (c % 32 == 0, so k is a multiple of 32) start their load cursor
//   (tap, c0, k0) at z * k_chunk and run len / 32 tiles: the prologue still commits STAGES - 1 groups (empty
//   past the range), so a range shorter than the pipeline (or empty) waits correctly.
//   Finish pass: v = sum over z < k_splits of partial[(z * m + row) * co + col] (z order, deterministic),
//   then the epilogue above (bias, residual in the output type, ReLU; y stored in the output type, or
//   v * pool_scale added to pool per element with atomic_add_f32 when p.pool is set; the host zeroes pool).
//   partial holds k_splits * m * co floats (16-byte aligned recommended; pairs are stored as 8 bytes when
//   co is even and partial is 8-byte aligned). k_chunk * k_splits >= k.
// k_splits <= 1: no split; partial and k_chunk are unused (partial may be null), grid.z = 1.
#include "common.cuh"

using namespace dfer;

// Layout mirrored by the C# host (StructLayout.Sequential, 160 bytes; pool at offset 128, partial at offset
// 144, k_splits at 152, k_chunk at 156). The contract
// names the weight pointer `w`, which collides with the width `w`; it is `wp` here (same slot).
struct Conv3dParams {
  const void* x;
  const void* wp;
  const float* bias;
  const void* res;  // may be null
  void* y;          // not written (may be null) when pool is set
  i64 m;
  int n, t, h, w, c, to, ho, wo, co, kt, kh, kw, st, sh, sw, pt, ph, pw;
  int k;
  int relu;
  float* pool;      // null: write y; else [m / pool_rows, co] fp32, zeroed by the host, gets the mean
  int pool_rows;    // output rows per pooled row: To*Ho*Wo
  float pool_scale; // 1 / pool_rows
  float* partial;   // split-K: [k_splits, m, co] fp32 raw sums (k_splits > 1 only; may be null otherwise)
  int k_splits;     // <= 1: no split-K; else grid.z of the split pass and the finish kernel's count
  int k_chunk;      // K values per split, a multiple of 64; k_chunk * k_splits >= k
};

namespace {

constexpr int kThreads = 256;
// Offsets far enough below zero that row + tap offsets never wrap and always fail the bounds test.
constexpr int kSentinel = -(1 << 29);
// Taps covered by the shared tap table (7x7x7 = 343 fits); larger kernels divide instead.
constexpr int kMaxTaps = 512;

struct alignas(16) Chunk16 { u32 v[4]; };  // backing type of 16-byte aligned shared buffers
struct alignas(16) RowInfo { int t0, h0, w0, pix; };  // pix = ((n*T + t0)*H + h0)*W + w0
struct alignas(16) TapInfo { int a, b, c, dpix; };    // dpix = (a*H + b)*W + c
struct alignas(8) F32x2 { float lo, hi; };

// Where output row m reads x; rows past m get sentinels so every gather for them is padding.
__device__ __forceinline__ RowInfo row_info(const Conv3dParams& p, i64 m) {
  RowInfo r;
  if (m >= p.m) {
    r.t0 = r.h0 = r.w0 = kSentinel;
    r.pix = 0;
    return r;
  }
  int q = static_cast<int>(m);
  const int wo = q % p.wo;
  q /= p.wo;
  const int ho = q % p.ho;
  q /= p.ho;
  const int to = q % p.to;
  const int n = q / p.to;
  r.t0 = to * p.st - p.pt;
  r.h0 = ho * p.sh - p.ph;
  r.w0 = wo * p.sw - p.pw;
  r.pix = ((n * p.t + r.t0) * p.h + r.h0) * p.w + r.w0;
  return r;
}

__device__ __forceinline__ TapInfo tap_info(const Conv3dParams& p, int tap) {
  TapInfo r;
  r.c = tap % p.kw;
  const int q = tap / p.kw;
  r.b = q % p.kh;
  r.a = q / p.kh;
  r.dpix = (r.a * p.h + r.b) * p.w + r.c;
  return r;
}

__device__ __forceinline__ void build_tables(RowInfo* rows, int nrows, TapInfo* taps, const Conv3dParams& p, i64 m0) {
  for (int r = threadIdx.x; r < nrows; r += kThreads) rows[r] = row_info(p, m0 + r);
  const int ntaps = min(p.kt * p.kh * p.kw, kMaxTaps);
  for (int t = threadIdx.x; t < ntaps; t += kThreads) taps[t] = tap_info(p, t);
}

// Taps past the kernel (k >= K in a partial last tile) come back as sentinels: zero A, no load.
__device__ __forceinline__ TapInfo lookup_tap(const TapInfo* table, const Conv3dParams& p, int tap, int ntaps) {
  if (tap >= ntaps) {
    TapInfo r;
    r.a = r.b = r.c = kSentinel;
    r.dpix = 0;
    return r;
  }
  return ntaps <= kMaxTaps ? table[tap] : tap_info(p, tap);
}

// k = tap*C + i, advanced by a fixed step without dividing: step = q*C + r, r < C.
struct KCursor {
  int tap, i;
  __device__ __forceinline__ void init(int k, int c) { tap = k / c; i = k % c; }
  __device__ __forceinline__ void advance(int q, int r, int c) {
    i += r;
    tap += q;
    if (i >= c) {
      i -= c;
      ++tap;
    }
  }
};

template <class XT>
__device__ __forceinline__ XT gather(const XT* x, const Conv3dParams& p, const RowInfo& r, const TapInfo& t, int i) {
  const bool v = static_cast<unsigned>(r.t0 + t.a) < static_cast<unsigned>(p.t) &&
                 static_cast<unsigned>(r.h0 + t.b) < static_cast<unsigned>(p.h) &&
                 static_cast<unsigned>(r.w0 + t.c) < static_cast<unsigned>(p.w);
  return v ? x[static_cast<i64>(r.pix + t.dpix) * p.c + i] : XT(0);
}

// ---- split-K ----

// The K values this block accumulates: [begin, begin + len). Without split-K all of K; else split blockIdx.z's
// chunk, clipped to K (len 0 past K: the block writes zeros). begin is a multiple of 64 (k_chunk).
struct KRange { int begin, len; };
__device__ __forceinline__ KRange k_range(const Conv3dParams& p) {
  KRange r;
  if (p.k_splits <= 1) {
    r.begin = 0;
    r.len = p.k;
  } else {
    r.begin = static_cast<int>(blockIdx.z) * p.k_chunk;
    r.len = max(0, min(p.k, r.begin + p.k_chunk) - r.begin);
  }
  return r;
}

// ---- epilogue: two adjacent output columns (the mma accumulator pairs) ----

__device__ __forceinline__ void store2(float* y, float v0, float v1) {
  F32x2 s;
  s.lo = v0;
  s.hi = v1;
  *reinterpret_cast<F32x2*>(y) = s;
}
__device__ __forceinline__ void store2(bf16* y, float v0, float v1) { *reinterpret_cast<u32*>(y) = pack_bf16x2(v0, v1); }
__device__ __forceinline__ void store2(f16* y, float v0, float v1) { *reinterpret_cast<u32*>(y) = pack_f16x2(v0, v1); }

// Paired stores need an even co (so every even column is aligned) and an aligned y.
template <class T>
__device__ __forceinline__ bool pair_store_ok(const Conv3dParams& p) {
  return (p.co & 1) == 0 && (reinterpret_cast<u64>(p.y) & (2 * sizeof(T) - 1)) == 0;
}

// The final values of outputs (row, col) and, if two, (row, col + 1), idx = row * co + col: bias,
// residual, then ReLU. Every epilogue (stored or pooled) goes through here.
template <class T>
__device__ __forceinline__ void finish_pair(const Conv3dParams& p, i64 idx, int col, bool two, float& v0, float& v1) {
  v0 += p.bias[col];
  if (two) v1 += p.bias[col + 1];
  if (p.res != nullptr) {
    const T* r = static_cast<const T*>(p.res);
    v0 += to_float(r[idx]);
    if (two) v1 += to_float(r[idx + 1]);
  }
  if (p.relu) {
    v0 = fmaxf(v0, 0.0f);
    v1 = fmaxf(v1, 0.0f);
  }
}

// Pooled row (segment) seg, column col of the pool.
__device__ __forceinline__ float* pool_at(const Conv3dParams& p, int seg, int col) {
  return p.pool + static_cast<i64>(seg) * p.co + col;
}

template <class T>
__device__ __forceinline__ void epilogue_pair(const Conv3dParams& p, i64 row, int col, float v0, float v1, bool pair_ok) {
  if (row >= p.m || col >= p.co) return;
  const bool two = col + 1 < p.co;  // a lone last column when co is odd
  const i64 idx = row * p.co + col;
  finish_pair<T>(p, idx, col, two, v0, v1);
  if (p.pool != nullptr) {  // pooled, one atomic per element (the fallback of the reducing epilogues)
    float* d = pool_at(p, static_cast<int>(row) / p.pool_rows, col);
    atomic_add_f32(d, v0 * p.pool_scale);
    if (two) atomic_add_f32(d + 1, v1 * p.pool_scale);
    return;
  }
  T* y = static_cast<T*>(p.y);
  if (two && pair_ok) {
    store2(y + idx, v0, v1);
  } else {
    y[idx] = from_float<T>(v0);
    if (two) y[idx + 1] = from_float<T>(v1);
  }
}

// Split pass: the raw sums of outputs (row, col) and, if col + 1 < co, (row, col + 1) into this split's slice
// of partial. pair_ok: co even and partial 8-byte aligned (then every even column's pair is aligned).
__device__ __forceinline__ bool partial_pair_ok(const Conv3dParams& p) {
  return (p.co & 1) == 0 && (reinterpret_cast<u64>(p.partial) & 7) == 0;
}
__device__ __forceinline__ void partial_pair(const Conv3dParams& p, i64 row, int col, float v0, float v1, bool pair_ok) {
  if (row >= p.m || col >= p.co) return;
  float* d = p.partial + (static_cast<i64>(blockIdx.z) * p.m + row) * p.co + col;
  if (pair_ok) {
    store2(d, v0, v1);
  } else {
    d[0] = v0;
    if (col + 1 < p.co) d[1] = v1;
  }
}

// ---- pooled epilogue: a warp's sums per (pooled row, column) before the atomics ----
// A warp walks its rows as groups of consecutive rows [r0, r0 + GROUP) (GROUP = 16 for an mma m16 tile,
// 8 for v1) whose r0 every lane knows, so every lane computes the same pooled rows s_lo = r0 / pool_rows
// and s_hi = last valid row / pool_rows: no vote needed. Each lane keeps its partial sums of the open
// pooled row per column slot (part) and of the next one (next) when the group straddles a boundary;
// flushing the open row reduces the partial sums across the lanes holding the same columns and adds them.

// Finished values for the pooled sums; 0 outside the output (rows past m, columns past co).
template <class T>
__device__ __forceinline__ void pool_pair(const Conv3dParams& p, i64 row, int col, float& v0, float& v1) {
  if (row >= p.m || col >= p.co) {
    v0 = v1 = 0.0f;
    return;
  }
  const bool second = col + 1 < p.co;
  finish_pair<T>(p, row * p.co + col, col, second, v0, v1);
  if (!second) v1 = 0.0f;
}

// v[0..N) are this lane's partial sums of N column slots; the lanes that differ only in lane bits
// MASK_HI, MASK_HI / 2, ... (STEPS bits) hold partial sums of the same slots. Reduce-scatter over those
// bits (N - N / 2^STEPS shuffles instead of N * STEPS for full sums), highest bit first: the lane with
// the bit set keeps the upper half. The lane ends with slots base .. base + KEEP - 1 in v[0..KEEP),
// base = KEEP * (its lane bits read high to low), and adds each (times pool_scale) to pool row seg.
template <int N, int MASK_HI, int STEPS, class ColOf>
__device__ __forceinline__ void pool_flush(const Conv3dParams& p, int seg, float (&v)[N], int lane, ColOf col_of) {
  constexpr int KEEP = N >> STEPS;
  int base = 0;
#pragma unroll
  for (int s = 0; s < STEPS; ++s) {
    const int mask = MASK_HI >> s, half = N >> (s + 1);
    const bool upper = (lane & mask) != 0;
    base = 2 * base + (upper ? 1 : 0);
#pragma unroll
    for (int j = 0; j < half; ++j) {
      const float send = upper ? v[j] : v[j + half];
      v[j] = (upper ? v[j + half] : v[j]) + shfl_xor(send, mask);
    }
  }
#pragma unroll
  for (int j = 0; j < KEEP; ++j) {
    const int col = col_of(KEEP * base + j);
    if (col < p.co) atomic_add_f32(pool_at(p, seg, col), v[j] * p.pool_scale);
  }
}

// ---- fp32 gather shared by v1..v3: 128 x 16 A tile and 64 x 16 W tile per K step ----
// Loader mapping: thread loads k column kk = tid % 16 (so 16 lanes read 16 consecutive channels)
// for rows lr + 16 j (A: j < 8, W: j < 4), lr = tid / 16.

struct GatherF32 {
  float a[8], b[4];

  __device__ __forceinline__ void load(const Conv3dParams& p, const float* x, const float* wp, const RowInfo* rows,
                                       const TapInfo* taps, int ntaps, const KCursor& cur, int k, int lr, int n0) {
    const TapInfo t = lookup_tap(taps, p, cur.tap, ntaps);
#pragma unroll
    for (int j = 0; j < 8; ++j) a[j] = gather(x, p, rows[lr + 16 * j], t, cur.i);
    const bool kv = k < p.k;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int o = n0 + lr + 16 * j;
      b[j] = kv && o < p.co ? wp[static_cast<i64>(o) * p.k + k] : 0.0f;
    }
  }
};

// ---- 16-bit helpers shared by v4..v7 ----

template <class T> struct Mma16;
template <> struct Mma16<bf16> {
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) { mma_bf16_16816(d, a, b); }
  static __device__ __forceinline__ u32 pack(float lo, float hi) { return pack_bf16x2(lo, hi); }
};
template <> struct Mma16<f16> {
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) { mma_f16_16816(d, a, b); }
  static __device__ __forceinline__ u32 pack(float lo, float hi) { return pack_f16x2(lo, hi); }
};

// Shared tiles for v4..v7 hold rows of 32 16-bit K values (64 bytes = four 16-byte chunks). Chunk j
// of row r sits at chunk j ^ ((r >> 1) & 3): the eight rows an ldmatrix phase reads then cover all
// 32 banks, and so do the chunks one warp writes. Every writer and reader goes through this.
__device__ __forceinline__ int swz(int row, int chunk) { return row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4); }

// Lane-constant byte offsets of this lane's ldmatrix row for each k16 step of a stage. Moving a row
// index by a multiple of 8 leaves (row >> 1) & 3 unchanged, so the m16 / n16 sub-tiles of the warp
// are these offsets plus 1024 bytes per 16 rows: no swizzle math inside the K loop.
struct LdsmOffsets {
  int a[2], b[2];
};
__device__ __forceinline__ LdsmOffsets ldsm_offsets(int lane, int wm0, int wn0) {
  LdsmOffsets o;
  // A: matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15) in a[0..3] order: lane bit 3 -> +8 rows, bit 4 -> +8 k.
  const int arow = wm0 + (lane & 7) + ((lane >> 3) & 1) * 8;
  // B (stored n-major): matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
  // = b[0], b[1] of one n8 tile, then of the next: lane bit 3 -> +8 k, bit 4 -> +8 n.
  const int brow = wn0 + (lane & 7) + (lane >> 4) * 8;
#pragma unroll
  for (int ks = 0; ks < 2; ++ks) {
    o.a[ks] = swz(arow, ks * 2 + (lane >> 4));
    o.b[ks] = swz(brow, ks * 2 + ((lane >> 3) & 1));
  }
  return o;
}

// One BK = 32 stage for a warp tile of MT m16 x NT n8 mma tiles (placed by ldsm_offsets).
template <class T, int MT, int NT>
__device__ __forceinline__ void mma_stage(const unsigned char* sa, const unsigned char* sb, float (&acc)[MT][NT][4],
                                          const LdsmOffsets& lo) {
  static_assert(NT % 2 == 0, "B fragments are loaded two n8 blocks at a time");
#pragma unroll
  for (int ks = 0; ks < 2; ++ks) {
    u32 af[MT][4], bfr[NT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) ldmatrix_x4(af[mt], sa + lo.a[ks] + mt * 16 * 64);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      u32 t[4];
      ldmatrix_x4(t, sb + lo.b[ks] + np * 16 * 64);
      bfr[2 * np][0] = t[0];
      bfr[2 * np][1] = t[1];
      bfr[2 * np + 1][0] = t[2];
      bfr[2 * np + 1][1] = t[3];
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) Mma16<T>::mma(acc[mt][nt], af[mt], bfr[nt]);
  }
}

// Pooled epilogue of a warp's MT x NT mma tiles: lane (g, q) holds rows r0 + g and r0 + g + 8 of m16 tile
// mt (r0 = row0 + 16 mt) for the column pairs col0 + 8 nt + 2q (+1): slot 2 nt + e. The 8 lanes of equal q
// (lane bits 2..4) share columns, so after the reduce-scatter lane g keeps slot g: one atomic per lane and
// flush, 32 distinct columns.
template <class T, int MT, int NT>
__device__ __forceinline__ void mma_pool_epilogue(const Conv3dParams& p, const float (&acc)[MT][NT][4], i64 row0,
                                                  int col0, int lane) {
  static_assert(NT == 4, "the reduce-scatter gives each of the 8 lanes of a column quad one of 2 NT = 8 slots");
  const int g = lane >> 2, q = lane & 3, pr = p.pool_rows;
  const auto col_of = [&](int slot) { return col0 + (slot >> 1) * 8 + 2 * q + (slot & 1); };
  float part[2 * NT], next[2 * NT];
#pragma unroll
  for (int j = 0; j < 2 * NT; ++j) part[j] = 0.0f;
  int open = -1;  // pooled row of part (warp-uniform); -1: none yet
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const i64 r0 = row0 + mt * 16;
    if (r0 >= p.m) break;
    const int r = static_cast<int>(r0);
    const int s_lo = r / pr, s_hi = static_cast<int>(min(r0 + 15, p.m - 1)) / pr;
    if (s_hi > s_lo + 1) {  // pool_rows < 16: three or more pooled rows in this tile
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int col = col0 + nt * 8 + 2 * q;
        epilogue_pair<T>(p, r0 + g, col, acc[mt][nt][0], acc[mt][nt][1], false);
        epilogue_pair<T>(p, r0 + g + 8, col, acc[mt][nt][2], acc[mt][nt][3], false);
      }
      continue;
    }
    if (s_lo != open) {
      if (open >= 0) pool_flush<2 * NT, 16, 3>(p, open, part, lane, col_of);
#pragma unroll
      for (int j = 0; j < 2 * NT; ++j) part[j] = 0.0f;
      open = s_lo;
    }
    const int split = pr - (r - s_lo * pr);  // rows r0 + split.. belong to pooled row s_lo + 1
    const bool hi_a = g >= split, hi_b = g + 8 >= split;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int col = col0 + nt * 8 + 2 * q;
      float a0 = acc[mt][nt][0], a1 = acc[mt][nt][1], b0 = acc[mt][nt][2], b1 = acc[mt][nt][3];
      pool_pair<T>(p, r0 + g, col, a0, a1);
      pool_pair<T>(p, r0 + g + 8, col, b0, b1);
      part[2 * nt] += (hi_a ? 0.0f : a0) + (hi_b ? 0.0f : b0);
      part[2 * nt + 1] += (hi_a ? 0.0f : a1) + (hi_b ? 0.0f : b1);
      next[2 * nt] = (hi_a ? a0 : 0.0f) + (hi_b ? b0 : 0.0f);
      next[2 * nt + 1] = (hi_a ? a1 : 0.0f) + (hi_b ? b1 : 0.0f);
    }
    if (s_hi != s_lo) {
      pool_flush<2 * NT, 16, 3>(p, open, part, lane, col_of);
#pragma unroll
      for (int j = 0; j < 2 * NT; ++j) part[j] = next[j];
      open = s_hi;
    }
  }
  if (open >= 0) pool_flush<2 * NT, 16, 3>(p, open, part, lane, col_of);
}

// Calls f(row, col, v0, v1) for every accumulator pair of a warp's MT x NT mma tiles: lane (g, q) holds rows
// r0 + g and r0 + g + 8 of m16 tile mt (r0 = row0 + 16 mt) at columns col0 + 8 nt + 2q and + 1.
template <int MT, int NT, class F>
__device__ __forceinline__ void for_each_mma_pair(const float (&acc)[MT][NT][4], i64 row0, int col0, int lane, F f) {
  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const i64 row = row0 + mt * 16 + g;
      const int col = col0 + nt * 8 + 2 * q;
      f(row, col, acc[mt][nt][0], acc[mt][nt][1]);
      f(row + 8, col, acc[mt][nt][2], acc[mt][nt][3]);
    }
}

template <class T, int MT, int NT>
__device__ __forceinline__ void mma_epilogue(const Conv3dParams& p, const float (&acc)[MT][NT][4], i64 row0, int col0,
                                             int lane) {
  if (p.k_splits > 1) {
    const bool pair_ok = partial_pair_ok(p);
    for_each_mma_pair(acc, row0, col0, lane,
                      [&](i64 row, int col, float v0, float v1) { partial_pair(p, row, col, v0, v1, pair_ok); });
    return;
  }
  if (p.pool != nullptr) {
    mma_pool_epilogue<T, MT, NT>(p, acc, row0, col0, lane);
    return;
  }
  const bool pair_ok = pair_store_ok<T>(p);
  for_each_mma_pair(acc, row0, col0, lane,
                    [&](i64 row, int col, float v0, float v1) { epilogue_pair<T>(p, row, col, v0, v1, pair_ok); });
}

// ---- v1: exact fp32 SIMT ----
// Thread (tx = tid % 16, ty = tid / 16) owns rows ty*4..+3 and 64+ty*4..+3, columns tx*4..+3.

// Pooled epilogue of v1: warp w holds rows m0 + 64 h + 8 w + [0, 8) for h = 0, 1 (lane bit 4 picks the
// upper 4) x the tile's 64 columns; lanes L and L ^ 16 share columns n0 + 4 (L % 16) + slot, slot < 4.
// After the reduce-scatter over lane bit 4 each keeps two slots: two atomics per lane and flush.
__device__ __forceinline__ void simt_pool_epilogue(const Conv3dParams& p, const float (&acc)[8][4], i64 m0, int n0, int tid) {
  const int lane = tid & 31, warp = tid >> 5, pr = p.pool_rows;
  const int col = n0 + (tid & 15) * 4, sub = (lane >> 4) * 4;  // this lane's first column and row in the group
  const auto col_of = [&](int slot) { return col + slot; };
  float part[4] = {0.0f, 0.0f, 0.0f, 0.0f}, next[4];
  int open = -1;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const i64 r0 = m0 + h * 64 + warp * 8;
    if (r0 >= p.m) break;
    const int r = static_cast<int>(r0);
    const int s_lo = r / pr, s_hi = static_cast<int>(min(r0 + 7, p.m - 1)) / pr;
    if (s_hi > s_lo + 1) {  // pool_rows < 8
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        epilogue_pair<float>(p, r0 + sub + i, col, acc[4 * h + i][0], acc[4 * h + i][1], false);
        epilogue_pair<float>(p, r0 + sub + i, col + 2, acc[4 * h + i][2], acc[4 * h + i][3], false);
      }
      continue;
    }
    if (s_lo != open) {
      if (open >= 0) pool_flush<4, 16, 1>(p, open, part, lane, col_of);
#pragma unroll
      for (int j = 0; j < 4; ++j) part[j] = 0.0f;
      open = s_lo;
    }
    const int split = pr - (r - s_lo * pr);  // rows r0 + split.. belong to pooled row s_lo + 1
#pragma unroll
    for (int j = 0; j < 4; ++j) next[j] = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float v[4] = {acc[4 * h + i][0], acc[4 * h + i][1], acc[4 * h + i][2], acc[4 * h + i][3]};
      pool_pair<float>(p, r0 + sub + i, col, v[0], v[1]);
      pool_pair<float>(p, r0 + sub + i, col + 2, v[2], v[3]);
      const bool hi = sub + i >= split;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        part[j] += hi ? 0.0f : v[j];
        next[j] += hi ? v[j] : 0.0f;
      }
    }
    if (s_hi != s_lo) {
      pool_flush<4, 16, 1>(p, open, part, lane, col_of);
#pragma unroll
      for (int j = 0; j < 4; ++j) part[j] = next[j];
      open = s_hi;
    }
  }
  if (open >= 0) pool_flush<4, 16, 1>(p, open, part, lane, col_of);
}

__device__ __forceinline__ void conv3d_f32_simt(const Conv3dParams& p) {
  constexpr int BM = 128, BN = 64, BK = 16;
  constexpr int LDA = BM + 4, LDB = BN + 4;  // k-major rows; +4 keeps float4 alignment, stores 2-way at worst
  constexpr int A_FLOATS = BK * LDA, B_FLOATS = BK * LDB;
  __shared__ Chunk16 sbuf[(2 * (A_FLOATS + B_FLOATS)) / 4];
  __shared__ RowInfo rows[BM];
  __shared__ TapInfo taps[kMaxTaps];
  float* sa = reinterpret_cast<float*>(sbuf);
  float* sb = sa + 2 * A_FLOATS;

  const int tid = threadIdx.x;
  const i64 m0 = static_cast<i64>(blockIdx.x) * BM;
  const int n0 = blockIdx.y * BN;
  const int ntaps = p.kt * p.kh * p.kw;
  build_tables(rows, BM, taps, p, m0);
  __syncthreads();

  const float* x = static_cast<const float*>(p.x);
  const float* wp = static_cast<const float*>(p.wp);
  const int kk = tid & 15, lr = tid >> 4;
  const KRange kr = k_range(p);
  KCursor cur;
  cur.init(kr.begin + kk, p.c);
  const int step_q = BK / p.c, step_r = BK % p.c;
  int k = kr.begin + kk;

  GatherF32 g;
  g.load(p, x, wp, rows, taps, ntaps, cur, k, lr, n0);
#pragma unroll
  for (int j = 0; j < 8; ++j) sa[kk * LDA + lr + 16 * j] = g.a[j];
#pragma unroll
  for (int j = 0; j < 4; ++j) sb[kk * LDB + lr + 16 * j] = g.b[j];
  __syncthreads();

  const int tx = tid & 15, ty = tid >> 4;
  float acc[8][4];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  const int ktiles = ceil_div(kr.len, BK);
  for (int kt = 0; kt < ktiles; ++kt) {
    const int cs = kt & 1;
    const bool more = kt + 1 < ktiles;
    if (more) {  // global loads in flight while this tile computes
      cur.advance(step_q, step_r, p.c);
      k += BK;
      g.load(p, x, wp, rows, taps, ntaps, cur, k, lr, n0);
    }
    const float* ca = sa + cs * A_FLOATS;
    const float* cb = sb + cs * B_FLOATS;
#pragma unroll
    for (int kq = 0; kq < BK; ++kq) {
      const float4 a0 = load4(ca + kq * LDA + ty * 4);
      const float4 a1 = load4(ca + kq * LDA + 64 + ty * 4);
      const float4 b = load4(cb + kq * LDB + tx * 4);
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (more) {  // the other buffer was last read before the previous __syncthreads
      float* na = sa + (cs ^ 1) * A_FLOATS;
      float* nb = sb + (cs ^ 1) * B_FLOATS;
#pragma unroll
      for (int j = 0; j < 8; ++j) na[kk * LDA + lr + 16 * j] = g.a[j];
#pragma unroll
      for (int j = 0; j < 4; ++j) nb[kk * LDB + lr + 16 * j] = g.b[j];
    }
    __syncthreads();
  }

  if (p.k_splits > 1) {
    const bool pair_ok = partial_pair_ok(p);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const i64 row = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
      const int col = n0 + tx * 4;
      partial_pair(p, row, col, acc[i][0], acc[i][1], pair_ok);
      partial_pair(p, row, col + 2, acc[i][2], acc[i][3], pair_ok);
    }
    return;
  }
  if (p.pool != nullptr) {
    simt_pool_epilogue(p, acc, m0, n0, tid);
    return;
  }
  const bool pair_ok = pair_store_ok<float>(p);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const i64 row = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
    const int col = n0 + tx * 4;
    epilogue_pair<float>(p, row, col, acc[i][0], acc[i][1], pair_ok);
    epilogue_pair<float>(p, row, col + 2, acc[i][2], acc[i][3], pair_ok);
  }
}

// ---- v2 / v3: TF32 tensor cores ----
// 8 warps as 4 (m) x 2 (n), warp tile 32 x 32 = 2 m16 x 4 n8 mma tiles; loads as GatherF32.
// Smem rows are m- (or n-) major with 16 K floats + 4 pad (80 bytes): rows stay 16-byte aligned for
// ldmatrix, and 8 consecutive rows land on disjoint banks. ldmatrix on 32-bit data: lane L gets
// b16 columns 2(L%4), +1 of row L/4 = float L%4, which is exactly the tf32 fragment [g][q].
constexpr int kTf32Ld = 20;

// v2 rounds each element to TF32 once, here; v3 keeps fp32 and splits at fragment build.
template <bool SPLIT>
__device__ __forceinline__ void store_tf32_tile(u32* sa, u32* sb, const GatherF32& g, int kk, int lr) {
#pragma unroll
  for (int j = 0; j < 8; ++j) sa[(lr + 16 * j) * kTf32Ld + kk] = SPLIT ? float_to_bits(g.a[j]) : to_tf32(g.a[j]);
#pragma unroll
  for (int j = 0; j < 4; ++j) sb[(lr + 16 * j) * kTf32Ld + kk] = SPLIT ? float_to_bits(g.b[j]) : to_tf32(g.b[j]);
}

__device__ __forceinline__ void split_tf32(u32 v, u32& hi, u32& lo) {
  const float f = bits_to_float(v);
  hi = to_tf32(f);
  lo = to_tf32(f - bits_to_float(hi));  // exact in fp32
}

// One BK = 16 stage (two k8 steps) of a 32 x 32 warp tile at (wm0, wn0).
template <bool SPLIT>
__device__ __forceinline__ void tf32_stage(const u32* sa, const u32* sb, float (&acc)[2][4][4], int wm0, int wn0,
                                           int lane) {
#pragma unroll
  for (int ks = 0; ks < 2; ++ks) {
    u32 af[2][4], bfr[4][2];
    // A matrices: (rows 0-7 | 8-15) x (k 0-3 | 4-7) in a[0..3] order: lane bit 3 -> +8 rows, bit 4 -> +4 k.
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      const int row = wm0 + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
      ldmatrix_x4(af[mt], sa + row * kTf32Ld + ks * 8 + (lane >> 4) * 4);
    }
    // B matrices: (n 0-7, k 0-3), (n 0-7, k 4-7), (n 8-15, k 0-3), (n 8-15, k 4-7) = b of two n8 tiles.
#pragma unroll
    for (int np = 0; np < 2; ++np) {
      const int n = wn0 + np * 16 + (lane & 7) + (lane >> 4) * 8;
      u32 t[4];
      ldmatrix_x4(t, sb + n * kTf32Ld + ks * 8 + ((lane >> 3) & 1) * 4);
      bfr[2 * np][0] = t[0];
      bfr[2 * np][1] = t[1];
      bfr[2 * np + 1][0] = t[2];
      bfr[2 * np + 1][1] = t[3];
    }
    if (!SPLIT) {
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) mma_tf32_1688(acc[mt][nt], af[mt], bfr[nt]);
    } else {
      u32 ah[2][4], al[2][4], bh[4][2], bl[4][2];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int e = 0; e < 4; ++e) split_tf32(af[mt][e], ah[mt][e], al[mt][e]);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) split_tf32(bfr[nt][e], bh[nt][e], bl[nt][e]);
      // Small terms first so they are not lost below the big product's rounding; one pass per term
      // keeps eight independent mma in flight instead of three dependent ones.
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) mma_tf32_1688(acc[mt][nt], al[mt], bh[nt]);
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) mma_tf32_1688(acc[mt][nt], ah[mt], bl[nt]);
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) mma_tf32_1688(acc[mt][nt], ah[mt], bh[nt]);
    }
  }
}

template <bool SPLIT>
__device__ __forceinline__ void conv3d_tf32_mma(const Conv3dParams& p) {
  constexpr int BM = 128, BN = 64, BK = 16;
  constexpr int A_WORDS = BM * kTf32Ld, B_WORDS = BN * kTf32Ld;
  __shared__ Chunk16 sbuf[(2 * (A_WORDS + B_WORDS)) / 4];
  __shared__ RowInfo rows[BM];
  __shared__ TapInfo taps[kMaxTaps];
  u32* sa = reinterpret_cast<u32*>(sbuf);
  u32* sb = sa + 2 * A_WORDS;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const i64 m0 = static_cast<i64>(blockIdx.x) * BM;
  const int n0 = blockIdx.y * BN;
  const int ntaps = p.kt * p.kh * p.kw;
  build_tables(rows, BM, taps, p, m0);
  __syncthreads();

  const float* x = static_cast<const float*>(p.x);
  const float* wp = static_cast<const float*>(p.wp);
  const int kk = tid & 15, lr = tid >> 4;
  const KRange kr = k_range(p);
  KCursor cur;
  cur.init(kr.begin + kk, p.c);
  const int step_q = BK / p.c, step_r = BK % p.c;
  int k = kr.begin + kk;

  GatherF32 g;
  g.load(p, x, wp, rows, taps, ntaps, cur, k, lr, n0);
  store_tf32_tile<SPLIT>(sa, sb, g, kk, lr);
  __syncthreads();

  const int wm0 = (warp & 3) * 32, wn0 = (warp >> 2) * 32;
  float acc[2][4][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;

  const int ktiles = ceil_div(kr.len, BK);
  for (int kt = 0; kt < ktiles; ++kt) {
    const int cs = kt & 1;
    const bool more = kt + 1 < ktiles;
    if (more) {
      cur.advance(step_q, step_r, p.c);
      k += BK;
      g.load(p, x, wp, rows, taps, ntaps, cur, k, lr, n0);
    }
    tf32_stage<SPLIT>(sa + cs * A_WORDS, sb + cs * B_WORDS, acc, wm0, wn0, lane);
    if (more) store_tf32_tile<SPLIT>(sa + (cs ^ 1) * A_WORDS, sb + (cs ^ 1) * B_WORDS, g, kk, lr);
    __syncthreads();
  }
  mma_epilogue<float, 2, 4>(p, acc, m0 + wm0, n0 + wn0, lane);
}

// ---- v4 / v5: 16-bit, cp.async pipeline (c % 32 == 0, so a 32-wide K tile is 32 channels of one tap) ----
// Loads: thread copies 16-byte chunk tid % 4 of rows tid / 4 + 64 j (A: j < 2, W: j < BN / 64).
// Compute: 8 warps as WARPS_M x (8 / WARPS_M), warp tile (128 / WARPS_M) x (BN / (8 / WARPS_M)).
template <class T, int BN, int WARPS_M>
__device__ __forceinline__ void conv3d_16_async(const Conv3dParams& p) {
  constexpr int BM = 128, BK = 32, STAGES = 4;
  constexpr int WARPS_N = 8 / WARPS_M, WM = BM / WARPS_M, WN = BN / WARPS_N;
  constexpr int MT = WM / 16, NT = WN / 8;
  constexpr int A_BYTES = BM * 64, STAGE_BYTES = (BM + BN) * 64;
  constexpr int A_ROWS = BM / 64, B_ROWS = BN / 64;
  static_assert(STAGES * STAGE_BYTES == (BN == 128 ? 65536 : 49152), "launch table smem");
  DFER_DYNAMIC_SMEM(smem);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const i64 m0 = static_cast<i64>(blockIdx.x) * BM;
  const int n0 = blockIdx.y * BN;
  const int chunk = tid & 3, lr = tid >> 2;
  const int soff = swz(lr, chunk);  // rows lr + 64 j share (row >> 1) & 3, so row lr + 64 j is soff + 4096 j
  const u16* x = static_cast<const u16*>(p.x);
  const u16* wp = static_cast<const u16*>(p.wp);

  // Per row: bounds origin and the element offset of (pix, chunk); per tile only a uniform offset is added.
  int rt[A_ROWS], rh[A_ROWS], rw[A_ROWS];
  i64 xoff[A_ROWS];
#pragma unroll
  for (int j = 0; j < A_ROWS; ++j) {
    const RowInfo r = row_info(p, m0 + lr + 64 * j);
    rt[j] = r.t0;
    rh[j] = r.h0;
    rw[j] = r.w0;
    xoff[j] = static_cast<i64>(r.pix) * p.c + chunk * 8;
  }
  bool ov[B_ROWS];
  i64 woff[B_ROWS];
#pragma unroll
  for (int j = 0; j < B_ROWS; ++j) {
    const int o = n0 + lr + 64 * j;
    ov[j] = o < p.co;
    woff[j] = ov[j] ? static_cast<i64>(o) * p.k + chunk * 8 : 0;
  }

  // Load cursor: tile k0 = tap (ka, kb, kc) * C + c0; tiles are issued strictly in order, from the block's
  // first K tile (split-K: k0 = z * k_chunk, a multiple of 32 as c is, so c0 + 32 <= c: one tap per tile).
  const KRange kr = k_range(p);
  int k0 = kr.begin, c0 = k0 % p.c, ka, kb, kc;
  {
    const int tap = k0 / p.c, q = tap / p.kw;
    kc = tap - q * p.kw;
    kb = q % p.kh;
    ka = q / p.kh;
  }
  auto load_tile = [&](int stage) {
    unsigned char* sa = smem + stage * STAGE_BYTES;
    unsigned char* sb = sa + A_BYTES;
    const i64 koff = static_cast<i64>((ka * p.h + kb) * p.w + kc) * p.c + c0;
#pragma unroll
    for (int j = 0; j < A_ROWS; ++j) {
      const bool v = static_cast<unsigned>(rt[j] + ka) < static_cast<unsigned>(p.t) &&
                     static_cast<unsigned>(rh[j] + kb) < static_cast<unsigned>(p.h) &&
                     static_cast<unsigned>(rw[j] + kc) < static_cast<unsigned>(p.w);
      const i64 off = xoff[j] + koff;
      cp_async_16(sa + soff + 4096 * j, x + (v ? off : 0), v);  // padding keeps a harmless in-range address
    }
    // woff is 0 for rows past co, so the (unread) address stays inside the weights.
#pragma unroll
    for (int j = 0; j < B_ROWS; ++j) cp_async_16(sb + soff + 4096 * j, wp + (woff[j] + k0), ov[j]);
    k0 += BK;
    c0 += BK;
    if (c0 == p.c) {
      c0 = 0;
      if (++kc == p.kw) {
        kc = 0;
        if (++kb == p.kh) {
          kb = 0;
          ++ka;
        }
      }
    }
  };

  const int ktiles = kr.len / BK;  // k and the range bounds are multiples of 32
  // Always commit, even empty groups, so "group kt" is tile kt for cp_async_wait's count.
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_tile(s);
    cp_async_commit();
  }

  float acc[MT][NT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
  const LdsmOffsets lo = ldsm_offsets(lane, (warp % WARPS_M) * WM, (warp / WARPS_M) * WN);

  int rs = 0, ws = STAGES - 1;
  for (int kt = 0; kt < ktiles; ++kt) {
    // kt + STAGES - 1 groups are committed; all but the newest STAGES - 2 done = tiles 0..kt landed
    // (this thread's copies); the barrier extends that to every thread and also tells us every warp
    // finished computing tile kt - 1, whose stage (ws) is refilled next.
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    if (kt + STAGES - 1 < ktiles) load_tile(ws);
    cp_async_commit();
    const unsigned char* sa = smem + rs * STAGE_BYTES;
    mma_stage<T, MT, NT>(sa, sa + A_BYTES, acc, lo);
    rs = rs + 1 == STAGES ? 0 : rs + 1;
    ws = ws + 1 == STAGES ? 0 : ws + 1;
  }
  cp_async_wait<0>();
  mma_epilogue<T, MT, NT>(p, acc, m0 + (warp % WARPS_M) * WM, n0 + (warp / WARPS_M) * WN, lane);
}

// ---- v6 / v7: 16-bit, any shape, register-staged gather (XT = input element: u16 for v6, float for v7) ----
// Loads: thread gathers the K pair (2 kp, 2 kp + 1), kp = tid % 16, for rows tid / 16 + 16 j (A: j < 8,
// W: j < 4) and writes it as one 32-bit word. Compute: 8 warps as 4 (m) x 2 (n), warp tile 32 x 32.
template <class T> __device__ __forceinline__ u32 to_word(u16 lo, u16 hi) { return lo | (static_cast<u32>(hi) << 16); }
template <class T> __device__ __forceinline__ u32 to_word(float lo, float hi) { return Mma16<T>::pack(lo, hi); }

template <class T, class XT>
__device__ __forceinline__ void conv3d_16_gather(const Conv3dParams& p) {
  constexpr int BM = 128, BN = 64, BK = 32, MT = 2, NT = 4;
  constexpr int A_BYTES = BM * 64, STAGE_BYTES = (BM + BN) * 64;
  __shared__ Chunk16 sbuf[2 * STAGE_BYTES / 16];
  __shared__ RowInfo rows[BM];
  __shared__ TapInfo taps[kMaxTaps];
  unsigned char* smem = reinterpret_cast<unsigned char*>(sbuf);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const i64 m0 = static_cast<i64>(blockIdx.x) * BM;
  const int n0 = blockIdx.y * BN;
  const int ntaps = p.kt * p.kh * p.kw;
  build_tables(rows, BM, taps, p, m0);
  __syncthreads();

  const XT* x = static_cast<const XT*>(p.x);
  const u16* wp = static_cast<const u16*>(p.wp);
  const int kp = tid & 15, lr = tid >> 4;
  // Rows lr + 16 j share (row >> 1) & 3, so word kp of row lr + 16 j is at soff + 1024 j.
  const int soff = swz(lr, kp >> 2) + (kp & 3) * 4;
  const KRange kr = k_range(p);
  KCursor cur;  // tracks k = k_tile + 2 kp
  cur.init(kr.begin + 2 * kp, p.c);
  const int step_q = BK / p.c, step_r = BK % p.c;
  int k = kr.begin + 2 * kp;

  XT ra[8][2];
  u16 rb[4][2];
  auto load = [&]() {
    const TapInfo t0 = lookup_tap(taps, p, cur.tap, ntaps);
    int tap1 = cur.tap, i1 = cur.i + 1;
    if (i1 == p.c) {  // the pair straddles two taps (odd c)
      i1 = 0;
      ++tap1;
    }
    const TapInfo t1 = tap1 == cur.tap ? t0 : lookup_tap(taps, p, tap1, ntaps);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const RowInfo r = rows[lr + 16 * j];
      ra[j][0] = gather(x, p, r, t0, cur.i);
      ra[j][1] = gather(x, p, r, t1, i1);
    }
    const bool k0v = k < p.k, k1v = k + 1 < p.k;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int o = n0 + lr + 16 * j;
      const i64 base = static_cast<i64>(o) * p.k + k;
      rb[j][0] = o < p.co && k0v ? wp[base] : u16(0);
      rb[j][1] = o < p.co && k1v ? wp[base + 1] : u16(0);
    }
  };
  auto store = [&](int stage) {
    unsigned char* sa = smem + stage * STAGE_BYTES;
    unsigned char* sb = sa + A_BYTES;
#pragma unroll
    for (int j = 0; j < 8; ++j) *reinterpret_cast<u32*>(sa + soff + 1024 * j) = to_word<T>(ra[j][0], ra[j][1]);
#pragma unroll
    for (int j = 0; j < 4; ++j) *reinterpret_cast<u32*>(sb + soff + 1024 * j) = to_word<T>(rb[j][0], rb[j][1]);
  };

  load();
  store(0);
  __syncthreads();

  float acc[MT][NT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
  const int wm0 = (warp & 3) * 32, wn0 = (warp >> 2) * 32;
  const LdsmOffsets lo = ldsm_offsets(lane, wm0, wn0);

  const int ktiles = ceil_div(kr.len, BK);
  for (int kt = 0; kt < ktiles; ++kt) {
    const int cs = kt & 1;
    const bool more = kt + 1 < ktiles;
    if (more) {  // gathers in flight while this tile computes
      cur.advance(step_q, step_r, p.c);
      k += BK;
      load();
    }
    const unsigned char* sa = smem + cs * STAGE_BYTES;
    mma_stage<T, MT, NT>(sa, sa + A_BYTES, acc, lo);
    if (more) store(cs ^ 1);  // that stage was last read before the previous barrier
    __syncthreads();
  }
  mma_epilogue<T, MT, NT>(p, acc, m0 + wm0, n0 + wn0, lane);
}

// ---- split-K finish: sum the k_splits slices of partial, then the normal epilogue, per output element ----
// Grid-stride over idx = row * co + col: coalesced reads of each slice and coalesced stores of y.
template <class T>
__device__ __forceinline__ void conv3d_splitk_finish(const Conv3dParams& p) {
  const i64 total = p.m * p.co;
  const i64 stride = static_cast<i64>(gridDim.x) * kThreads;
  for (i64 idx = static_cast<i64>(blockIdx.x) * kThreads + threadIdx.x; idx < total; idx += stride) {
    const float* s = p.partial + idx;
    float v = s[0];
    for (int z = 1; z < p.k_splits; ++z) v += s[z * total];  // z order: deterministic
    const i64 row = idx / p.co;
    const int col = static_cast<int>(idx - row * p.co);
    float unused = 0.0f;
    finish_pair<T>(p, idx, col, false, v, unused);
    if (p.pool != nullptr) {
      atomic_add_f32(pool_at(p, static_cast<int>(row) / p.pool_rows, col), v * p.pool_scale);
    } else {
      static_cast<T*>(p.y)[idx] = from_float<T>(v);
    }
  }
}

}  // namespace

// ---- kernels ----

// 256 threads, 128 x 64 outputs; thread (tid % 16, tid / 16) computes an 8 x 4 block in fp32 FMA.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_f32_v1(Conv3dParams p) { conv3d_f32_simt(p); }

// 8 warps, 128 x 64 outputs; warp (w % 4, w / 4) owns a 32 x 32 sub-tile of m16n8k8 TF32 accumulators.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_tf32_v2(Conv3dParams p) { conv3d_tf32_mma<false>(p); }

// As v2; each product is hi*hi + hi*lo + lo*hi of the TF32 split.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_3xtf32_v3(Conv3dParams p) { conv3d_tf32_mma<true>(p); }

// 8 warps, 128 x 128 outputs; warp (w % 2, w / 2) owns a 64 x 32 sub-tile (4 x 4 m16n8k16 tiles).
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_bf16_v4(Conv3dParams p) { conv3d_16_async<bf16, 128, 2>(p); }
// As conv3d_bf16_v4 with f16 operands.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_f16_v4(Conv3dParams p) { conv3d_16_async<f16, 128, 2>(p); }

// 8 warps, 128 x 64 outputs; warp (w % 4, w / 4) owns a 32 x 32 sub-tile (2 x 4 m16n8k16 tiles).
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_bf16_v5(Conv3dParams p) { conv3d_16_async<bf16, 64, 4>(p); }
// As conv3d_bf16_v5 with f16 operands.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_f16_v5(Conv3dParams p) { conv3d_16_async<f16, 64, 4>(p); }

// 8 warps, 128 x 64 outputs; warp (w % 4, w / 4) owns a 32 x 32 sub-tile; every thread gathers 16 A + 8 W values per K tile.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_bf16_v6(Conv3dParams p) { conv3d_16_gather<bf16, u16>(p); }
// As conv3d_bf16_v6 with f16 operands.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_f16_v6(Conv3dParams p) { conv3d_16_gather<f16, u16>(p); }

// As v6 but x is fp32: every thread gathers 16 fp32 x values per K tile and rounds them to bf16 into smem.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_bf16_v7(Conv3dParams p) { conv3d_16_gather<bf16, float>(p); }
// As conv3d_bf16_v7 rounding to f16.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) conv3d_f16_v7(Conv3dParams p) { conv3d_16_gather<f16, float>(p); }

// Split-K finish (after a variant's split pass with the same Conv3dParams): thread per output element, grid-stride.
// fp32 y / residual (after v1, v2, v3).
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) conv3d_splitk_finish_f32(Conv3dParams p) { conv3d_splitk_finish<float>(p); }
// bf16 y / residual (after conv3d_bf16_v4..v7).
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) conv3d_splitk_finish_bf16(Conv3dParams p) { conv3d_splitk_finish<bf16>(p); }
// f16 y / residual (after conv3d_f16_v4..v7).
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) conv3d_splitk_finish_f16(Conv3dParams p) { conv3d_splitk_finish<f16>(p); }
