// Bidirectional multi-layer LSTM for short sequences (PyTorch nn.LSTM: batch first, zero initial
// state, gate order i, f, g, o, both biases; semantics = LstmOp in src/Dfer.Engine/Ops/Lstm/Lstm.cs,
// host = Lstm.Cuda.cs). Exact fp32 throughout. Per layer the host launches:
//   lstm_proj_f32 : the input projection of every time step and both directions as one GEMM,
//                   G[m, n] = sum_k X[m, k] * W[n, k] + bias[n], m = b*L + t, n = d*4H + gate*H + j,
//                   W = the directions' W_ih stacked [dirs*4H, In], bias = b_ih + b_hh. 16x32 tile, SIMT FMA.
//   lstm_rec_f32  : the recurrence for steps [step_begin, step_end) of every direction. Block = one
//                   direction d and a slice of `slice` hidden units; it owns their 4 gate rows of W_hh
//                   (staged once in dynamic shared memory when w_smem) and their cell state. Per step it
//                   reads h_{t-1} of all units from y (the layer output at the previous time step, so no
//                   separate h state), adds h_{t-1}·W_hhᵀ to G and updates c and y. Between steps inside one
//                   launch a grid-wide barrier (global arrival counter, acq_rel atomic + acquire spin).
// Launch modes of lstm_rec_f32 (chosen by the host, both exact and tested against each other):
//   persistent: one launch per layer, steps [0, L), grid = dirs*ceil(H/slice) blocks that MUST all be
//               co-resident (the host sizes slice from the SM count and the occupancy query); barrier
//               counter zeroed before the launch.
//   per step:   one launch per time step (step_end = step_begin + 1): no barrier is executed, kernel
//               boundaries order the steps; used when the co-resident blocks cannot hold W_hh in smem.
// Launch table. lstm_proj_f32: grid = (ceil(m / tile_m), ceil(n / tile_n), 1). lstm_rec_f32: block
// 256, grid = (dirs*ceil(hidden/slice), 1, 1), dynamic smem from the host: 4 * ((w_smem ? 4*slice*hidden
// : 0) + tile_m*hidden + 4*slice*tile_m) bytes (tile_m = batch rows per chunk, kNB below).
// launch lstm_proj_f32: block 128, tile_m 16, tile_n 32, smem 0
// launch lstm_rec_f32: block 256, tile_m 4, tile_n 1, smem 0
#include "common.cuh"

using namespace dfer;

// Layout mirrored by the C# host (StructLayout.Sequential, 48 bytes).
struct LstmProjParams {
  const float* x;     // [m, k]
  const float* w;     // [n, k]
  const float* bias;  // [n]
  float* g;           // [m, n]
  int m, n, k;
};

// Layout mirrored by the C# host (StructLayout.Sequential, 80 bytes).
struct LstmRecParams {
  const float* g;    // [B*L, dirs*4H] input projections, both biases included
  const float* whh;  // [dirs*4H, H]: direction d's W_hh (PyTorch [4H, H], rows i, f, g, o) at row d*4H
  float* y;          // [B, L, dirs*H] layer output; also h_{t-1} for the next step
  float* c;          // [dirs, B, H] cell state, kept across per-step launches
  u32* barrier;      // arrival counter of the grid barrier, zero at launch (persistent mode only)
  int batch, len, hidden, dirs;
  int slice;         // hidden units per block
  int step_begin, step_end;
  int w_smem;        // 1: the block's 4*slice W_hh rows live in dynamic shared memory
};

namespace {

constexpr int kProjThreads = 128, kProjTM = 16, kProjTN = 32, kProjTK = 32;
constexpr int kRecThreads = 256;
constexpr int kNB = 4;  // batch rows per chunk of the recurrence (h_{t-1} rows staged in smem at once)

__device__ __forceinline__ float sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }

// tanh from expf (the wrapper rule has no tanhf): odd Taylor polynomial below 1/8 where 1 - e^{-2a}
// would cancel, (1 - e^{-2a}) / (1 + e^{-2a}) above (e^{-2a} underflows to 0 for large a: exactly ±1).
__device__ __forceinline__ float tanh_f32(float x) {
  const float a = fmaxf(x, -x);
  if (a < 0.125f) {
    const float x2 = x * x;
    return x * fmaf(x2, fmaf(x2, fmaf(x2, -17.0f / 315.0f, 2.0f / 15.0f), -1.0f / 3.0f), 1.0f);
  }
  const float t = expf(-2.0f * a);
  const float r = (1.0f - t) / (1.0f + t);
  return x < 0.0f ? -r : r;
}

// Grid-wide barrier number `round` (1, 2, ...) of this launch: every block adds one arrival to the
// counter and waits until all gridDim.x blocks of that round have arrived. The counter only grows
// (target = round * gridDim.x), so no reset or generation flag is needed within a launch. Correct only
// when every block of the grid is resident at once (the host's occupancy-sized grid).
__device__ __forceinline__ void grid_barrier(u32* counter, u32 round) {
  __syncthreads();  // the block's writes of this step happen before its arrival
  if (threadIdx.x == 0) {
    const u32 target = round * gridDim.x;
    fence_acq_rel_gpu();
    atom_add_acq_rel_gpu(counter, 1u);
    while (ld_acquire_gpu(counter) < target) {
    }
    fence_acq_rel_gpu();
  }
  __syncthreads();  // the other threads of the block are ordered after thread 0's acquire
}

}  // namespace

// Thread (tx = tid % 8, ty = tid / 8) computes G rows m0+ty, columns n0+4tx..n0+4tx+3; X and W k-tiles
// are staged (transposed, padded) in shared memory, the next tile's loads held in registers meanwhile.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kProjThreads, 4) lstm_proj_f32(LstmProjParams p) {
  __shared__ float xs[kProjTK][kProjTM + 1];
  __shared__ float ws[kProjTK][kProjTN + 1];
  const int tid = threadIdx.x, tx = tid % 8, ty = tid / 8;
  const int m0 = blockIdx.x * kProjTM, n0 = blockIdx.y * kProjTN;
  constexpr int kXPer = kProjTM * kProjTK / kProjThreads;  // 4
  constexpr int kWPer = kProjTN * kProjTK / kProjThreads;  // 8
  float xr[kXPer], wr[kWPer];
  // element e = tid + i*threads of a tile: row e / TK, k e % TK (a warp reads 32 consecutive k: coalesced)
  auto load = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kXPer; i++) {
      const int e = tid + i * kProjThreads, r = e / kProjTK, kk = e % kProjTK;
      const int m = m0 + r, k = k0 + kk;
      xr[i] = (m < p.m && k < p.k) ? p.x[static_cast<i64>(m) * p.k + k] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < kWPer; i++) {
      const int e = tid + i * kProjThreads, r = e / kProjTK, kk = e % kProjTK;
      const int n = n0 + r, k = k0 + kk;
      wr[i] = (n < p.n && k < p.k) ? p.w[static_cast<i64>(n) * p.k + k] : 0.0f;
    }
  };
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  load(0);
  for (int k0 = 0; k0 < p.k; k0 += kProjTK) {
#pragma unroll
    for (int i = 0; i < kXPer; i++) {
      const int e = tid + i * kProjThreads;
      xs[e % kProjTK][e / kProjTK] = xr[i];
    }
#pragma unroll
    for (int i = 0; i < kWPer; i++) {
      const int e = tid + i * kProjThreads;
      ws[e % kProjTK][e / kProjTK] = wr[i];
    }
    __syncthreads();
    if (k0 + kProjTK < p.k) load(k0 + kProjTK);
#pragma unroll 8
    for (int kk = 0; kk < kProjTK; kk++) {
      const float a = xs[kk][ty];
#pragma unroll
      for (int j = 0; j < 4; j++) acc[j] = fmaf(a, ws[kk][4 * tx + j], acc[j]);
    }
    __syncthreads();
  }
  const int m = m0 + ty;
  if (m >= p.m) return;
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const int n = n0 + 4 * tx + j;
    if (n < p.n) p.g[static_cast<i64>(m) * p.n + n] = acc[j] + p.bias[n];
  }
}

// Block = (direction d, hidden units j0..j0+slice-1). Per step and chunk of kNB batch rows: threads stage
// h_{t-1} rows in smem; warp w takes gate rows r = w, w+8, ... (r = gate*slice + unit), lanes split the
// dot product over k (stride 32) and reduce with shuffles; then thread e updates (unit e / kNB, batch
// e % kNB): its c (only this thread ever touches it) and y.
extern "C" __global__ void DFER_LAUNCH_BOUNDS(kRecThreads, 1) lstm_rec_f32(LstmRecParams p) {
  DFER_DYNAMIC_SMEM(smem);
  const int H = p.hidden, S = p.slice, rows = 4 * S;
  const int nslices = ceil_div(H, S);
  const int d = blockIdx.x / nslices, j0 = (blockIdx.x % nslices) * S;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
  float* ws = reinterpret_cast<float*>(smem);             // [rows][H] when w_smem
  float* hs = ws + (p.w_smem ? static_cast<i64>(rows) * H : 0);  // [kNB][H]
  float* gs = hs + kNB * H;                               // [rows][kNB] gate pre-activations
  const float* wd = p.whh + static_cast<i64>(d) * 4 * H * H;
  if (p.w_smem) {
    // visible to all threads after the first __syncthreads of the step loop
    for (i64 e = tid; e < static_cast<i64>(rows) * H; e += blockDim.x) {
      const int r = static_cast<int>(e / H), k = static_cast<int>(e % H);
      const int q = r / S, j = j0 + r % S;
      ws[e] = j < H ? wd[static_cast<i64>(q * H + j) * H + k] : 0.0f;
    }
  }
  const i64 gstride = static_cast<i64>(p.dirs) * 4 * H;  // elements per G row (b, t)
  const i64 ystride = static_cast<i64>(p.dirs) * H;      // elements per y row (b, t)
  for (int s = p.step_begin; s < p.step_end; s++) {
    const int t = d == 0 ? s : p.len - 1 - s;
    const int tp = d == 0 ? t - 1 : t + 1;  // time step of h_{t-1} (valid when s > 0)
    for (int b0 = 0; b0 < p.batch; b0 += kNB) {
      for (int e = tid; e < kNB * H; e += blockDim.x) {
        const int bb = e / H, k = e % H, b = b0 + bb;
        hs[e] = (s > 0 && b < p.batch) ? p.y[(static_cast<i64>(b) * p.len + tp) * ystride + static_cast<i64>(d) * H + k] : 0.0f;
      }
      __syncthreads();
      for (int r = warp; r < rows; r += nwarps) {
        const int q = r / S, j = j0 + r % S;
        if (j >= H) continue;  // warp-uniform: the last slice may be partial
        const float* wrow = p.w_smem ? ws + static_cast<i64>(r) * H : wd + static_cast<i64>(q * H + j) * H;
        float acc[kNB];
#pragma unroll
        for (int bb = 0; bb < kNB; bb++) acc[bb] = 0.0f;
        for (int k = lane; k < H; k += 32) {
          const float w = wrow[k];
#pragma unroll
          for (int bb = 0; bb < kNB; bb++) acc[bb] = fmaf(w, hs[bb * H + k], acc[bb]);
        }
        float mine = 0.0f;  // lane bb keeps batch row bb's sum (no dynamic register indexing)
#pragma unroll
        for (int bb = 0; bb < kNB; bb++) {
          const float v = warp_sum(acc[bb]);
          if (lane == bb) mine = v;
        }
        const int b = b0 + lane;
        if (lane < kNB && b < p.batch)
          gs[r * kNB + lane] = mine + p.g[(static_cast<i64>(b) * p.len + t) * gstride + static_cast<i64>(d) * 4 * H + q * H + j];
      }
      __syncthreads();
      for (int e = tid; e < S * kNB; e += blockDim.x) {
        const int jj = e / kNB, bb = e % kNB, j = j0 + jj, b = b0 + bb;
        if (j >= H || b >= p.batch) continue;
        const float gi = gs[(0 * S + jj) * kNB + bb], gf = gs[(1 * S + jj) * kNB + bb];
        const float gg = gs[(2 * S + jj) * kNB + bb], go = gs[(3 * S + jj) * kNB + bb];
        const i64 ci = (static_cast<i64>(d) * p.batch + b) * H + j;
        const float cprev = s > 0 ? p.c[ci] : 0.0f;
        const float cn = fmaf(sigmoid_f32(gf), cprev, sigmoid_f32(gi) * tanh_f32(gg));
        p.c[ci] = cn;
        p.y[(static_cast<i64>(b) * p.len + t) * ystride + static_cast<i64>(d) * H + j] = sigmoid_f32(go) * tanh_f32(cn);
      }
      __syncthreads();  // hs and gs are refilled by the next chunk
    }
    if (s + 1 < p.step_end) grid_barrier(p.barrier, static_cast<u32>(s + 1 - p.step_begin));
  }
}
