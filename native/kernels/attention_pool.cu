// M3DFEL's head after the BiLSTM, fused (AttentionPoolOp in src/Dfer.Engine/Ops/AttentionPool/AttentionPool.cs):
//   x = ori [b, n, d] -> qkv = x Wqkv^T ([3d, d], no bias) -> per head softmax(q k^T * scale) v over the n
//   instances -> DMIN over the instances -> g = x * sigmoid(z) -> pwconv (n channels -> 1, kernel k, padding
//   pad, length d -> lout) -> fc [classes, lout] -> logits [b, classes]. Exact fp32 (FMA, fp32 accumulation).
// Two kernels, launched back to back on one stream with the same parameter struct:
//   attention_pool_qkv_f32_v1  : the projection, split over (row tiles x column tiles) so the 3d x d weight
//                                (12 MiB for M3DFEL) streams through every SM; writes qkv to the workspace.
//   attention_pool_tail_f32_v1 : one block per batch row: attention, DMIN, gate, pwconv and fc, in place in
//                                that row's workspace slice (q's slots take y then g, k's the instance
//                                statistics, v's the pooled vector), probabilities and reductions in shared memory.
// Launch table; qkv: grid = (ceil(rows / tile_m), ceil(3d / tile_n), 1) with rows = b*n; tail: grid = (b, 1, 1).
// launch attention_pool_qkv_f32_v1: block 256, tile_m 8, tile_n 16, smem 0
// launch attention_pool_tail_f32_v1: block 256, tile_m 1, tile_n 1, smem 0
// Limits (the host checks them): heads*n*n <= 1024 (the probabilities live in static shared memory),
// n >= 2 (unbiased variance), lout <= n*d (the pooled vector lives in the v slots), 3d/16 <= 65535.
#include "common.cuh"

using namespace dfer;

// Layout mirrored by the C# host (AttentionPoolCudaParams, StructLayout.Sequential, 144 bytes).
struct AttentionPoolParams {
  const float* x;       // ori [b, n, d]
  const float* wqkv;    // [3d, d]: q rows, then k rows, then v rows (head-major inside each)
  float* qkv;           // workspace [b, n, 3d]; written by the qkv kernel, reused in place by the tail
  const float* norm_w;  // DMIN weight [d]
  const float* norm_b;  // DMIN bias [d]
  const float* conv_w;  // pwconv weight [n, k]
  const float* fc_w;    // [classes, lout]
  const float* fc_b;    // [classes]
  float* y;             // logits [b, classes]
  int b, n, d, heads, head_dim, classes, k, pad, lout, rows;  // rows = b*n
  float scale;          // attention scale, head_dim^-0.5
  float wm0, wm1, wv0, wv1;  // softmax(mean_weight), softmax(var_weight), folded on the host
  float eps, conv_b;
  float unused;         // keeps the size a multiple of 8 explicitly
};

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kQkvRows = 8;                       // tile_m of the qkv kernel
constexpr int kQkvCols = 16;                      // tile_n of the qkv kernel
constexpr int kColsPerWarp = kQkvCols / kWarps;   // 2
constexpr int kMaxScores = 1024;                  // heads*n*n

__device__ __forceinline__ void attention_pool_qkv(const AttentionPoolParams& p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r0 = blockIdx.x * kQkvRows;
  const int nr = min(kQkvRows, p.rows - r0);
  const int cols = 3 * p.d;
  int col[kColsPerWarp];
#pragma unroll
  for (int c = 0; c < kColsPerWarp; c++) col[c] = blockIdx.y * kQkvCols + warp + c * kWarps;
  float acc[kColsPerWarp][kQkvRows];
#pragma unroll
  for (int c = 0; c < kColsPerWarp; c++)
#pragma unroll
    for (int r = 0; r < kQkvRows; r++) acc[c][r] = 0.f;

  const float* x0 = p.x + static_cast<i64>(r0) * p.d;
#pragma unroll 4
  for (int k = lane; k < p.d; k += 32) {
    float xv[kQkvRows];
#pragma unroll
    for (int r = 0; r < kQkvRows; r++) xv[r] = r < nr ? x0[static_cast<i64>(r) * p.d + k] : 0.f;
#pragma unroll
    for (int c = 0; c < kColsPerWarp; c++) {
      if (col[c] >= cols) continue;
      const float w = p.wqkv[static_cast<i64>(col[c]) * p.d + k];
#pragma unroll
      for (int r = 0; r < kQkvRows; r++) acc[c][r] = fmaf(xv[r], w, acc[c][r]);
    }
  }
#pragma unroll
  for (int c = 0; c < kColsPerWarp; c++)
#pragma unroll
    for (int r = 0; r < kQkvRows; r++) {
      const float s = warp_sum(acc[c][r]);
      if (lane == r && r < nr && col[c] < cols) p.qkv[static_cast<i64>(r0 + r) * cols + col[c]] = s;
    }
}

// Sum over the block; every thread gets the same value (fixed order: deterministic). red holds kWarps floats.
__device__ __forceinline__ float block_sum(float v, float* red) {
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0.f;
#pragma unroll
  for (int w = 0; w < kWarps; w++) s += red[w];
  __syncthreads();
  return s;
}

__device__ __forceinline__ void attention_pool_tail(const AttentionPoolParams& p) {
  __shared__ float s_prob[kMaxScores];
  __shared__ float s_red[kWarps];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int n = p.n, d = p.d, hd = p.head_dim;
  const i64 stride = 3 * static_cast<i64>(d);
  float* row = p.qkv + static_cast<i64>(blockIdx.x) * n * stride;  // instance l: q at row + l*stride, k at +d, v at +2d
  const float* xrow = p.x + static_cast<i64>(blockIdx.x) * n * d;

  // Scores: warp per (head, query l, key m); lanes split the head dimension.
  const int nscores = p.heads * n * n;
  for (int idx = warp; idx < nscores; idx += kWarps) {
    const int m = idx % n, hl = idx / n, l = hl % n, h = hl / n;
    const float* q = row + l * stride + h * hd;
    const float* kk = row + m * stride + d + h * hd;
    float s = 0.f;
    for (int j = lane; j < hd; j += 32) s = fmaf(q[j], kk[j], s);
    s = warp_sum(s);
    if (lane == 0) s_prob[idx] = s * p.scale;
  }
  __syncthreads();
  // Softmax: thread per (head, query) row of n.
  for (int r = tid; r < p.heads * n; r += kThreads) {
    float* pr = s_prob + r * n;
    float mx = pr[0];
    for (int m = 1; m < n; m++) mx = fmaxf(mx, pr[m]);
    float sum = 0.f;
    for (int m = 0; m < n; m++) {
      const float e = expf(pr[m] - mx);
      pr[m] = e;
      sum += e;
    }
    const float inv = 1.f / sum;
    for (int m = 0; m < n; m++) pr[m] *= inv;
  }
  __syncthreads();

  // Thread per channel c from here on (q and k are no longer read): y -> q slots, mean_in -> k slot of
  // instance 0, var_in -> k slot of instance 1.
  float part = 0.f;
  for (int c = tid; c < d; c += kThreads) {
    const float* pr = s_prob + (c / hd) * n * n;
    float sum = 0.f;
    for (int l = 0; l < n; l++) {
      float yl = 0.f;
      for (int m = 0; m < n; m++) yl = fmaf(pr[l * n + m], row[m * stride + 2 * d + c], yl);
      row[l * stride + c] = yl;
      sum += yl;
    }
    const float mean = sum / n;
    float sq = 0.f;
    for (int l = 0; l < n; l++) {
      const float dl = row[l * stride + c] - mean;
      sq = fmaf(dl, dl, sq);
    }
    row[d + c] = mean;
    row[stride + d + c] = sq / (n - 1);
    part += mean;
  }
  const float mean_ln = block_sum(part, s_red) / d;
  // var_ln = mean_c(var_in + mean_in^2) - mean_ln^2, summed as mean_c(var_in + (mean_in - mean_ln)^2):
  // equal, without the cancellation.
  part = 0.f;
  for (int c = tid; c < d; c += kThreads) {
    const float dm = row[d + c] - mean_ln;
    part += row[stride + d + c] + dm * dm;
  }
  const float var_ln = block_sum(part, s_red) / d;

  // DMIN and the gate: g = x * sigmoid(z) over y in the q slots.
  for (int c = tid; c < d; c += kThreads) {
    const float mean = p.wm0 * row[d + c] + p.wm1 * mean_ln;
    const float var = p.wv0 * row[stride + d + c] + p.wv1 * var_ln;
    const float scale = 1.f / sqrtf(var + p.eps) * p.norm_w[c];
    const float shift = p.norm_b[c];
    for (int l = 0; l < n; l++) {
      const float z = (row[l * stride + c] - mean) * scale + shift;
      row[l * stride + c] = xrow[static_cast<i64>(l) * d + c] / (1.f + expf(-z));
    }
  }
  __syncthreads();

  // pwconv: thread per output position t; the pooled vector goes to the v slots (position t at instance
  // t / d, channel t % d; v is no longer read).
  for (int t = tid; t < p.lout; t += kThreads) {
    float s = p.conv_b;
    for (int i = 0; i < n; i++)
      for (int kk = 0; kk < p.k; kk++) {
        const int at = t - p.pad + kk;
        if (at >= 0 && at < d) s = fmaf(p.conv_w[i * p.k + kk], row[i * stride + at], s);
      }
    row[(t / d) * stride + 2 * d + t % d] = s;
  }
  __syncthreads();

  // fc: warp per class, lanes split the pooled vector.
  for (int cls = warp; cls < p.classes; cls += kWarps) {
    const float* w = p.fc_w + static_cast<i64>(cls) * p.lout;
    float s = 0.f;
    for (int t = lane; t < p.lout; t += 32) s = fmaf(w[t], row[(t / d) * stride + 2 * d + t % d], s);
    s = warp_sum(s);
    if (lane == 0) p.y[static_cast<i64>(blockIdx.x) * p.classes + cls] = s + p.fc_b[cls];
  }
}

}  // namespace

// ---- kernels ----

// Block = 8 rows x 16 qkv columns; warp w owns columns w and w + 8 for all 8 rows, lane L sums k = L mod 32, then a warp sum.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 4) attention_pool_qkv_f32_v1(AttentionPoolParams p) { attention_pool_qkv(p); }

// Block = one batch row; warp per (head, query, key) score and per class, thread per channel and per pooled position.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 1) attention_pool_tail_f32_v1(AttentionPoolParams p) { attention_pool_tail(p); }
