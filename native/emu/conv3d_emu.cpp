// Conv3d kernels of native/kernels/conv3d.cu run on the CPU emulator against a float64 reference.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -o /tmp/conv3d_emu native/emu/conv3d_emu.cpp
//   /tmp/conv3d_emu native/kernels/conv3d.cu [--filter SUBSTRING] [--allow-missing] [--verbose]
// The launch shapes come from the `// launch <name>: block B, tile_m M, tile_n N, smem S` lines of the
// .cu file named on the command line (read at run time, as the C# host does). One line per
// (variant, case); exit code 0 = all pass, 1 = a case failed (or a kernel is missing), 2 = harness error.
// Cases named pool_* run the pooled epilogue (Conv3dParams::pool set: AdaptiveAvgPool3d(1) folded in) and
// compare pool [n, co] with the float64 mean over each clip's To*Ho*Wo rows; y must stay untouched.
// Cases named split*/pool_split* run split-K: the variant with grid.z = k_splits writing raw fp32 sums to
// Conv3dParams::partial (checked per split against float64 sums over the split's K range, guard bands, y and
// pool untouched), then conv3d_splitk_finish_<y type> (launch line of its own) producing y or pool.
// Build against another kernel file (e.g. the emulator's sample) with
//   -DDFER_CONV3D_SOURCE='"sample_conv3d.cu"'
#include "cuda_emu.h"

#ifndef DFER_CONV3D_SOURCE
#define DFER_CONV3D_SOURCE "../kernels/conv3d.cu"
#endif

// Every kernel of the contract is weak: a source that lacks one still builds, and the harness
// reports it as missing.
#pragma weak conv3d_f32_v1
#pragma weak conv3d_tf32_v2
#pragma weak conv3d_3xtf32_v3
#pragma weak conv3d_bf16_v4
#pragma weak conv3d_f16_v4
#pragma weak conv3d_bf16_v5
#pragma weak conv3d_f16_v5
#pragma weak conv3d_bf16_v6
#pragma weak conv3d_f16_v6
#pragma weak conv3d_bf16_v7
#pragma weak conv3d_f16_v7
#pragma weak conv3d_splitk_finish_f32
#pragma weak conv3d_splitk_finish_bf16
#pragma weak conv3d_splitk_finish_f16

#include DFER_CONV3D_SOURCE

extern "C" {
void conv3d_f32_v1(Conv3dParams);
void conv3d_tf32_v2(Conv3dParams);
void conv3d_3xtf32_v3(Conv3dParams);
void conv3d_bf16_v4(Conv3dParams);
void conv3d_f16_v4(Conv3dParams);
void conv3d_bf16_v5(Conv3dParams);
void conv3d_f16_v5(Conv3dParams);
void conv3d_bf16_v6(Conv3dParams);
void conv3d_f16_v6(Conv3dParams);
void conv3d_bf16_v7(Conv3dParams);
void conv3d_f16_v7(Conv3dParams);
void conv3d_splitk_finish_f32(Conv3dParams);
void conv3d_splitk_finish_bf16(Conv3dParams);
void conv3d_splitk_finish_f16(Conv3dParams);
}

#include "harness.h"

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

using dfer_emu::DeviceBuffer;
using dfer_emu::KernelError;
typedef void (*KernelFn)(Conv3dParams);

using dfer_harness::HarnessError;
using dfer_harness::LaunchShape;
using dfer_harness::parse_launch_table;

enum DT { F32, BF16, F16 };
const char* dt_name(DT t) { return t == F32 ? "f32" : t == BF16 ? "bf16" : "f16"; }
size_t dt_size(DT t) { return t == F32 ? 4 : 2; }

// Value of v rounded to type t (what the kernel sees when it reads a t-typed buffer).
float round_to(DT t, float v) {
  if (t == BF16) return dfer_emu::bf16_bits_to_f32(dfer_emu::f32_to_bf16_bits(v));
  if (t == F16) return dfer_emu::f16_bits_to_f32(dfer_emu::f32_to_f16_bits(v));
  return v;
}
void store(DT t, void* base, size_t i, float v) {
  if (t == F32) static_cast<float*>(base)[i] = v;
  else if (t == BF16) static_cast<uint16_t*>(base)[i] = dfer_emu::f32_to_bf16_bits(v);
  else static_cast<uint16_t*>(base)[i] = dfer_emu::f32_to_f16_bits(v);
}
float load(DT t, const void* base, size_t i) {
  if (t == F32) return static_cast<const float*>(base)[i];
  uint16_t b = static_cast<const uint16_t*>(base)[i];
  return t == BF16 ? dfer_emu::bf16_bits_to_f32(b) : dfer_emu::f16_bits_to_f32(b);
}
// y guard/unwritten sentinel: a NaN with a recognisable payload in each type.
uint32_t sentinel_bits(DT t) { return t == F32 ? 0x7FA5A5A5u : t == BF16 ? 0x7FA5u : 0x7DA5u; }
bool is_sentinel(DT t, const void* base, size_t i) {
  if (t == F32) { uint32_t u; std::memcpy(&u, static_cast<const char*>(base) + 4 * i, 4); return u == sentinel_bits(t); }
  return static_cast<const uint16_t*>(base)[i] == sentinel_bits(t);
}
void set_sentinel(DT t, void* base, size_t i) {
  if (t == F32) { uint32_t u = sentinel_bits(t); std::memcpy(static_cast<char*>(base) + 4 * i, &u, 4); }
  else static_cast<uint16_t*>(base)[i] = (uint16_t)sentinel_bits(t);
}

struct Tol {
  double nmse, atol, rtol;
  bool accepts(double err, double ref) const { return err <= atol + rtol * std::fabs(ref); }  // false for NaN
};

// Error statistics of an output against its float64 reference, element by element (NaN counts as an infinite error).
struct ErrorStats {
  double se = 0, sr = 0, maxerr = 0;
  long long nbad = 0;
  // Adds one element; false when it is outside the tolerance.
  bool add(double got, double ref, const Tol& tol) {
    double e = std::isnan(got) ? INFINITY : std::fabs(got - ref);
    se += e * e;
    sr += ref * ref;
    maxerr = std::max(maxerr, e);
    bool ok = tol.accepts(e, ref);
    if (!ok) nbad++;
    return ok;
  }
  double nmse() const { return sr > 0 ? se / sr : se; }
};

// The split-K finish kernel for a variant's output type.
struct Finish { const char* name; KernelFn fn; };
Finish finish_for(DT y) {
  if (y == F32) return {"conv3d_splitk_finish_f32", conv3d_splitk_finish_f32};
  if (y == BF16) return {"conv3d_splitk_finish_bf16", conv3d_splitk_finish_bf16};
  return {"conv3d_splitk_finish_f16", conv3d_splitk_finish_f16};
}

struct Variant {
  const char* name;
  KernelFn fn;
  DT x, w, y;     // storage types of x, weights, res/y
  DT op;          // operand type the kernel computes with (inputs are pre-rounded to it)
  bool needs_c32; // v4/v5
  Tol tol;
};

// Tolerances (per element: |y - ref| <= atol + rtol*|ref|, plus NMSE over the case):
//  fp32 (v1) and 3xTF32 (v3): fp32-level; TF32 (v2): 10-bit mantissa products;
//  16-bit outputs: the kernel rounds its fp32 result once to bf16/f16 (<= 1 ulp from the exact value
//  of the pre-rounded inputs: half an ulp of output rounding + fp32 accumulation).
const Tol kTolF32{1e-10, 1e-4, 1e-5};
const Tol kTolTf32{1e-5, 1e-2, 1e-2};
const Tol kTolBf16{1e-4, 1e-3, 0x1p-7};
const Tol kTolF16{1e-5, 1e-4, 0x1p-10};

std::vector<Variant> variants() {
  return {
      {"conv3d_f32_v1", conv3d_f32_v1, F32, F32, F32, F32, false, kTolF32},
      {"conv3d_tf32_v2", conv3d_tf32_v2, F32, F32, F32, F32, false, kTolTf32},
      {"conv3d_3xtf32_v3", conv3d_3xtf32_v3, F32, F32, F32, F32, false, kTolF32},
      {"conv3d_bf16_v4", conv3d_bf16_v4, BF16, BF16, BF16, BF16, true, kTolBf16},
      {"conv3d_f16_v4", conv3d_f16_v4, F16, F16, F16, F16, true, kTolF16},
      {"conv3d_bf16_v5", conv3d_bf16_v5, BF16, BF16, BF16, BF16, true, kTolBf16},
      {"conv3d_f16_v5", conv3d_f16_v5, F16, F16, F16, F16, true, kTolF16},
      {"conv3d_bf16_v6", conv3d_bf16_v6, BF16, BF16, BF16, BF16, false, kTolBf16},
      {"conv3d_f16_v6", conv3d_f16_v6, F16, F16, F16, F16, false, kTolF16},
      {"conv3d_bf16_v7", conv3d_bf16_v7, F32, BF16, BF16, BF16, false, kTolBf16},
      {"conv3d_f16_v7", conv3d_f16_v7, F32, F16, F16, F16, false, kTolF16},
  };
}

// What the epilogue produces: y, or the pool [n, co] with y poisoned (must stay untouched) or null.
enum PoolMode { kNoPool, kPoolYPoisoned, kPoolYNull };

struct Case {
  const char* name;
  int n, t, h, w, c, co, kt, kh, kw, st, sh, sw, pt, ph, pw;
  bool relu, res;
  PoolMode pool = kNoPool;
  // split-K: k_splits (1 = none), k_chunk (a multiple of 64), the finish kernel's grid cap (0 = the host's
  // 2^20; small caps exercise its grid-stride loop), partial placed 4 bytes off 8-byte alignment.
  int splits = 1, chunk = 0, finish_cap = 0;
  bool partial_misaligned = false;
  int pool_rows() const { return to() * ho() * wo(); }
  int to() const { return (t + 2 * pt - kt) / st + 1; }
  int ho() const { return (h + 2 * ph - kh) / sh + 1; }
  int wo() const { return (w + 2 * pw - kw) / sw + 1; }
  long long m() const { return (long long)n * to() * ho() * wo(); }
  int k() const { return kt * kh * kw * c; }
};

// Small but covering: strides 1 and 2, padding on every axis, 1x1x1 downsamples, residual+ReLU,
// ReLU only, m not a multiple of any tile, co below a tile / not a multiple of 8 / odd / above 128,
// odd c, c = 32/64/96, and the 3x7x7 stem with c = 3.
std::vector<Case> cases() {
  //        name                           n  t   h   w   c   co  kt kh kw st sh sw pt ph pw relu res
  return {
      {"c5_k333_s1_p1_co12",              1, 4,  6,  5,  5,  12, 3, 3, 3, 1, 1, 1, 1, 1, 1, false, false},
      {"c7_k333_s2_p1_co20_relu",         2, 5,  7,  6,  7,  20, 3, 3, 3, 2, 2, 2, 1, 1, 1, true, false},
      {"c5_k135_s121_p021_co9_res_relu",  1, 3,  7,  8,  5,   9, 1, 3, 5, 1, 2, 1, 0, 2, 1, true, true},
      {"c16_k111_s2_co24_down_res_relu",  2, 4,  9,  7, 16,  24, 1, 1, 1, 2, 2, 2, 0, 0, 0, true, true},
      {"c32_k333_s1_p1_co36_res_relu",    1, 4,  8,  9, 32,  36, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true},
      {"c64_k333_s2_p1_co64_relu",        1, 5,  9, 10, 64,  64, 3, 3, 3, 2, 2, 2, 1, 1, 1, true, false},
      {"c64_k111_s2_co128_down",          1, 6, 12, 12, 64, 128, 1, 1, 1, 2, 2, 2, 0, 0, 0, false, false},
      {"c96_k133_s1_p011_co136_res",      2, 3,  5,  6, 96, 136, 1, 3, 3, 1, 1, 1, 0, 1, 1, false, true},
      {"c32_k333_s1_p1_co64_m576",        1, 4, 12, 12, 32,  64, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true},
      {"c3_stem_k377_s122_p133_co64",     1, 4, 16, 16,  3,  64, 3, 7, 7, 1, 2, 2, 1, 3, 3, true, false},
      {"c3_stem_k377_s122_p133_co24_res", 2, 2, 10,  9,  3,  24, 3, 7, 7, 1, 2, 2, 1, 3, 3, false, true},
      // Pooled epilogue; pool_rows = To*Ho*Wo (r<N> in the name). M3DFEL's last layer scaled down (49 rows,
      // 5 clips over two 128-row tiles), pool_rows below 8 (every variant's per-element fallback), 12 and 15
      // (mma tiles mixing the reducing and the per-element paths), 16, 20, 50 and 200 (a pooled row spanning
      // blocks), several clips per tile, odd c, odd co, co above one tile, residual+ReLU, y null.
      {"pool_r49_c64_k333_p1_co64_n5_res_relu", 5, 1,  7,  7, 64,  64, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true, kPoolYPoisoned},
      {"pool_r49_c64_k333_s2_p1_co64_n5_ynull", 5, 2, 13, 13, 64,  64, 3, 3, 3, 2, 2, 2, 1, 1, 1, false, false, kPoolYNull},
      {"pool_r6_c5_k333_s2_p1_co9_n7_relu",     7, 2,  4,  5,  5,   9, 3, 3, 3, 2, 2, 2, 1, 1, 1, true, false, kPoolYPoisoned},
      {"pool_r12_c7_k333_p1_co20_n11",         11, 3,  2,  2,  7,  20, 3, 3, 3, 1, 1, 1, 1, 1, 1, false, false, kPoolYPoisoned},
      {"pool_r15_c64_k333_p1_co17_n13_res_relu", 13, 1, 3, 5, 64,  17, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true, kPoolYPoisoned},
      {"pool_r16_c32_k133_p011_co64_n10_relu", 10, 1,  4,  4, 32,  64, 1, 3, 3, 1, 1, 1, 0, 1, 1, true, false, kPoolYNull},
      {"pool_r20_c32_k111_co72_n9_res",         9, 2,  5,  2, 32,  72, 1, 1, 1, 1, 1, 1, 0, 0, 0, false, true, kPoolYPoisoned},
      {"pool_r50_c3_stem_k377_co24_n3",         3, 2, 10,  9,  3,  24, 3, 7, 7, 1, 2, 2, 1, 3, 3, true, false, kPoolYPoisoned},
      {"pool_r200_c32_k133_p011_co40_n2_relu",  2, 2, 10, 10, 32,  40, 1, 3, 3, 1, 1, 1, 0, 1, 1, true, false, kPoolYPoisoned},
      // Split-K (k_splits, k_chunk after the pool mode): 2 and 3 splits, empty splits (K of 3 and of 0.5 chunks
      // over 5 splits), ranges starting mid-tap (odd c), a partial last K tile, odd co, m not a multiple of 128,
      // several m tiles, residual+ReLU, the stem, pooled (y poisoned and null), a finish grid capped at 3 blocks,
      // partial misaligned for pair stores.
      {"split2_c32_k333_p1_co37_m288_res_relu", 1, 4,  8,  9, 32,  37, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true, kNoPool, 2, 448},
      {"split3_c64_k333_s2_p1_co67_relu",       1, 5,  9, 10, 64,  67, 3, 3, 3, 2, 2, 2, 1, 1, 1, true, false, kNoPool, 3, 576, 3},
      {"split5_empty_c64_k113_p001_co40_res_relu", 2, 3, 5, 6, 64, 40, 1, 1, 3, 1, 1, 1, 0, 0, 1, true, true, kNoPool, 5, 64, 0, true},
      {"split3_c5_k333_p1_co9_m240_res_relu",   2, 4,  6,  5,  5,   9, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true, kNoPool, 3, 64},
      {"split4_c3_stem_k377_s122_p133_co24_res", 2, 2, 10,  9,  3,  24, 3, 7, 7, 1, 2, 2, 1, 3, 3, false, true, kNoPool, 4, 128, 1},
      {"pool_split3_r49_c64_k333_p1_co64_n5_res_relu", 5, 1, 7, 7, 64, 64, 3, 3, 3, 1, 1, 1, 1, 1, 1, true, true, kPoolYPoisoned, 3, 576},
      {"pool_split2_r6_c5_k333_s2_p1_co9_n7_relu", 7, 2, 4,  5,  5,   9, 3, 3, 3, 2, 2, 2, 1, 1, 1, true, false, kPoolYNull, 2, 128},
      {"pool_split5_r20_c32_k111_co72_n9_res",  9, 2,  5,  2, 32,  72, 1, 1, 1, 1, 1, 1, 0, 0, 0, false, true, kPoolYNull, 5, 64, 2},
  };
}

// Inputs of one case, values already rounded to the operand type.
struct Inputs {
  std::vector<float> x, w, bias, res;  // w[o*K + k]
  std::vector<double> ref;             // [m*co + o], float64 reference
  std::vector<double> pool_ref;        // [n*co + o], mean of ref over each clip's rows (pooled cases)
};

Inputs make_inputs(const Case& cs, DT op, DT res_type, uint64_t seed) {
  Inputs in;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  size_t nx = (size_t)cs.n * cs.t * cs.h * cs.w * cs.c;
  int K = cs.k();
  float ws = std::sqrt(3.0f / K);
  in.x.resize(nx);
  for (float& v : in.x) v = round_to(op, u(rng));
  in.w.resize((size_t)cs.co * K);
  for (float& v : in.w) v = round_to(op, u(rng) * ws);
  in.bias.resize(cs.co);
  for (float& v : in.bias) v = 0.5f * u(rng);
  long long M = cs.m();
  if (cs.res) {
    in.res.resize((size_t)M * cs.co);
    for (float& v : in.res) v = round_to(res_type, u(rng));
  }
  // float64 reference
  in.ref.assign((size_t)M * cs.co, 0.0);
  int To = cs.to(), Ho = cs.ho(), Wo = cs.wo();
  std::vector<double> acc(cs.co);
  for (long long m = 0; m < M; m++) {
    long long q = m;
    int wo = q % Wo; q /= Wo;
    int ho = q % Ho; q /= Ho;
    int to = q % To;
    int n = (int)(q / To);
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int a = 0; a < cs.kt; a++) {
      int ti = to * cs.st - cs.pt + a;
      if (ti < 0 || ti >= cs.t) continue;
      for (int b = 0; b < cs.kh; b++) {
        int hi = ho * cs.sh - cs.ph + b;
        if (hi < 0 || hi >= cs.h) continue;
        for (int c = 0; c < cs.kw; c++) {
          int wi = wo * cs.sw - cs.pw + c;
          if (wi < 0 || wi >= cs.w) continue;
          const float* xp = &in.x[((((size_t)n * cs.t + ti) * cs.h + hi) * cs.w + wi) * cs.c];
          int k0 = ((a * cs.kh + b) * cs.kw + c) * cs.c;
          for (int o = 0; o < cs.co; o++) {
            const float* wpp = &in.w[(size_t)o * K + k0];
            double s = 0;
            for (int i = 0; i < cs.c; i++) s += (double)xp[i] * (double)wpp[i];
            acc[o] += s;
          }
        }
      }
    }
    for (int o = 0; o < cs.co; o++) {
      double v = acc[o] + in.bias[o];
      if (cs.res) v += in.res[(size_t)m * cs.co + o];
      if (cs.relu) v = std::max(v, 0.0);
      in.ref[(size_t)m * cs.co + o] = v;
    }
  }
  if (cs.pool != kNoPool) {
    long long R = cs.pool_rows();
    in.pool_ref.assign((size_t)cs.n * cs.co, 0.0);
    for (long long m = 0; m < M; m++)
      for (int o = 0; o < cs.co; o++) in.pool_ref[(size_t)(m / R) * cs.co + o] += in.ref[(size_t)m * cs.co + o];
    for (double& v : in.pool_ref) v /= (double)R;
  }
  return in;
}

// Contribution of one tap (a,b,c) (all channels) or one channel i (all taps) to pre-activation (m,o).
double tap_contribution(const Case& cs, const Inputs& in, long long m, int o, int a, int b, int c, int only_i) {
  int To = cs.to(), Ho = cs.ho(), Wo = cs.wo(), K = cs.k();
  long long q = m;
  int wo = q % Wo; q /= Wo;
  int ho = q % Ho; q /= Ho;
  int to = q % To;
  int n = (int)(q / To);
  int ti = to * cs.st - cs.pt + a, hi = ho * cs.sh - cs.ph + b, wi = wo * cs.sw - cs.pw + c;
  if (ti < 0 || ti >= cs.t || hi < 0 || hi >= cs.h || wi < 0 || wi >= cs.w) return 0;
  const float* xp = &in.x[((((size_t)n * cs.t + ti) * cs.h + hi) * cs.w + wi) * cs.c];
  int k0 = ((a * cs.kh + b) * cs.kw + c) * cs.c;
  double s = 0;
  for (int i = 0; i < cs.c; i++)
    if (only_i < 0 || only_i == i) s += (double)xp[i] * in.w[(size_t)o * K + k0 + i];
  return s;
}

bool touches_padding(const Case& cs, long long m) {
  int To = cs.to(), Ho = cs.ho(), Wo = cs.wo();
  long long q = m;
  int wo = q % Wo; q /= Wo;
  int ho = q % Ho; q /= Ho;
  int to = q % To;
  int t0 = to * cs.st - cs.pt, h0 = ho * cs.sh - cs.ph, w0 = wo * cs.sw - cs.pw;
  return t0 < 0 || t0 + cs.kt > cs.t || h0 < 0 || h0 + cs.kh > cs.h || w0 < 0 || w0 + cs.kw > cs.w;
}

std::string describe_m(const Case& cs, long long m) {
  int To = cs.to(), Ho = cs.ho(), Wo = cs.wo();
  long long q = m;
  int wo = q % Wo; q /= Wo;
  int ho = q % Ho; q /= Ho;
  int to = q % To;
  int n = (int)(q / To);
  return dfer_emu::format("m=%lld (n%d,t%d,h%d,w%d)", m, n, to, ho, wo);
}

// Explains a mismatch pattern: where the bad elements lie and what single term explains the first.
std::string diagnose(const Case& cs, const Variant& v, const LaunchShape& ls, const Inputs& in,
                     const std::vector<float>& got, const std::vector<char>& bad) {
  long long M = cs.m();
  int Co = cs.co;
  std::string out;
  long long nbad = 0, nnan = 0, first = -1;
  std::set<long long> rows; std::set<int> cols; std::set<std::pair<long long, int>> tiles;
  long long pad_rows = 0, pad_bad_rows = 0, in_rows = 0, in_bad_rows = 0;
  std::vector<int> row_bad(M, 0), col_bad(Co, 0);
  int minmt = 1 << 30, maxmt = -1, minnt = 1 << 30, maxnt = -1;
  for (long long m = 0; m < M; m++)
    for (int o = 0; o < Co; o++) {
      size_t i = (size_t)m * Co + o;
      if (!bad[i]) continue;
      nbad++;
      if (std::isnan(got[i])) nnan++;
      if (first < 0) first = (long long)i;
      rows.insert(m); cols.insert(o); row_bad[m]++; col_bad[o]++;
      tiles.insert({m / ls.tile_m, o / ls.tile_n});
      minmt = std::min(minmt, (int)(m % ls.tile_m)); maxmt = std::max(maxmt, (int)(m % ls.tile_m));
      minnt = std::min(minnt, o % ls.tile_n); maxnt = std::max(maxnt, o % ls.tile_n);
    }
  for (long long m = 0; m < M; m++) {
    if (touches_padding(cs, m)) { pad_rows++; pad_bad_rows += row_bad[m] > 0; }
    else { in_rows++; in_bad_rows += row_bad[m] > 0; }
  }
  long long whole_rows = 0, whole_cols = 0;
  for (long long m : rows) whole_rows += row_bad[m] == Co;
  for (int o : cols) whole_cols += col_bad[o] == M;
  long long mt_tiles = (M + ls.tile_m - 1) / ls.tile_m, nt_tiles = (Co + ls.tile_n - 1) / ls.tile_n;
  out += dfer_emu::format("      %lld of %lld elements bad (%lld NaN); %zu distinct rows m in [%lld,%lld] (%lld whole rows), "
                          "%zu distinct columns o in [%d,%d] (%lld whole columns)\n",
                          nbad, M * Co, nnan, rows.size(), *rows.begin(), *rows.rbegin(), whole_rows, cols.size(),
                          *cols.begin(), *cols.rbegin(), whole_cols);
  out += dfer_emu::format("      tiles (%dx%d) with errors: %zu of %lld; inside a tile: m%%%d in [%d,%d], o%%%d in [%d,%d]; "
                          "rows touching padding: %lld of %lld bad, interior rows: %lld of %lld bad\n",
                          ls.tile_m, ls.tile_n, tiles.size(), mt_tiles * nt_tiles, ls.tile_m, minmt, maxmt, ls.tile_n,
                          minnt, maxnt, pad_bad_rows, pad_rows, in_bad_rows, in_rows);
  // first few
  int shown = 0;
  for (long long m = 0; m < M && shown < 4; m++)
    for (int o = 0; o < Co && shown < 4; o++) {
      size_t i = (size_t)m * Co + o;
      if (!bad[i]) continue;
      shown++;
      out += dfer_emu::format("      (%s, o=%d): got %.7g, expected %.7g\n", describe_m(cs, m).c_str(), o, got[i], in.ref[i]);
    }
  // explain the first bad element (only meaningful before the ReLU clamps it)
  if (first >= 0 && !std::isnan(got[first])) {
    long long m = first / Co;
    int o = (int)(first % Co);
    double diff = (double)got[first] - in.ref[first];
    double tol = v.tol.atol + v.tol.rtol * std::fabs(in.ref[first]) + 1e-6;
    std::string why;
    auto consider = [&](const std::string& what, double contrib) {
      if (std::fabs(contrib) < 4 * tol) return;
      if (std::fabs(diff + contrib) <= tol) why += "        consistent with " + what + " MISSING (contribution " + dfer_emu::format("%.6g", contrib) + ")\n";
      else if (std::fabs(diff - contrib) <= tol) why += "        consistent with " + what + " COUNTED TWICE (contribution " + dfer_emu::format("%.6g", contrib) + ")\n";
    };
    consider("bias[o]", in.bias[o]);
    if (cs.res) consider("res[m,o]", in.res[(size_t)first]);
    for (int a = 0; a < cs.kt; a++)
      for (int b = 0; b < cs.kh; b++)
        for (int c = 0; c < cs.kw; c++)
          consider(dfer_emu::format("tap (%d,%d,%d)", a, b, c), tap_contribution(cs, in, m, o, a, b, c, -1));
    for (int i = 0; i < cs.c && i < 128; i++) {
      double s = 0;
      for (int a = 0; a < cs.kt; a++)
        for (int b = 0; b < cs.kh; b++)
          for (int c = 0; c < cs.kw; c++) s += tap_contribution(cs, in, m, o, a, b, c, i);
      consider(dfer_emu::format("channel i=%d (all taps)", i), s);
    }
    out += dfer_emu::format("      first bad (%s, o=%d): diff %.6g", describe_m(cs, m).c_str(), o, diff);
    out += why.empty() ? " (no single bias/residual/tap/channel term explains it)\n" : "\n" + why;
  }
  return out;
}

// Explains bad pooled outputs: where they lie and whether the first is off by one output row's share
// (ref[m, o] / pool_rows) of a row of its own clip (missing / counted twice) or of a neighbour clip's
// boundary row (a row pooled into the wrong clip).
std::string diagnose_pool(const Case& cs, const Variant& v, const Inputs& in, const std::vector<float>& got,
                          const std::vector<char>& bad) {
  int Co = cs.co, R = cs.pool_rows();
  long long nbad = 0, nnan = 0, first = -1;
  std::set<int> clips, cols;
  for (size_t i = 0; i < got.size(); i++) {
    if (!bad[i]) continue;
    nbad++;
    if (std::isnan(got[i])) nnan++;
    if (first < 0) first = (long long)i;
    clips.insert((int)(i / Co));
    cols.insert((int)(i % Co));
  }
  std::string out = dfer_emu::format("      %lld of %zu pooled elements bad (%lld NaN); %zu clips in [%d,%d], %zu columns in [%d,%d]\n",
                                     nbad, got.size(), nnan, clips.size(), *clips.begin(), *clips.rbegin(), cols.size(),
                                     *cols.begin(), *cols.rbegin());
  int shown = 0;
  for (size_t i = 0; i < got.size() && shown < 4; i++)
    if (bad[i]) {
      shown++;
      out += dfer_emu::format("      (clip %zu, o=%zu): got %.7g, expected %.7g\n", i / Co, i % Co, got[i], in.pool_ref[i]);
    }
  if (first >= 0 && !std::isnan(got[first])) {
    long long clip = first / Co;
    int o = (int)(first % Co);
    double diff = (double)got[first] - in.pool_ref[first];
    double tol = v.tol.atol + v.tol.rtol * std::fabs(in.pool_ref[first]) + 1e-7;
    std::string why;
    for (long long m = std::max(0LL, clip * R - 1); m < std::min(cs.m(), (clip + 1) * R + 1); m++) {
      double share = in.ref[(size_t)m * Co + o] / R;
      if (std::fabs(share) < 4 * tol) continue;
      bool own = m / R == clip;
      if (own && std::fabs(diff + share) <= tol) why += dfer_emu::format("        consistent with row %s MISSING\n", describe_m(cs, m).c_str());
      else if (own && std::fabs(diff - share) <= tol) why += dfer_emu::format("        consistent with row %s COUNTED TWICE\n", describe_m(cs, m).c_str());
      else if (!own && std::fabs(diff - share) <= tol) why += dfer_emu::format("        consistent with row %s of the neighbour clip ADDED HERE\n", describe_m(cs, m).c_str());
    }
    out += dfer_emu::format("      first bad (clip %lld, o=%d): diff %.6g", clip, o, diff);
    out += why.empty() ? " (no single output row explains it)\n" : "\n" + why;
  }
  return out;
}

using dfer_harness::Options;

// Split-K: float64 raw sums (no bias, residual, ReLU) of each split's K range, [z][m*co + o].
std::vector<double> split_refs(const Case& cs, const Inputs& in) {
  long long M = cs.m();
  int K = cs.k(), Co = cs.co, To = cs.to(), Ho = cs.ho(), Wo = cs.wo();
  std::vector<double> ref((size_t)cs.splits * M * Co, 0.0);
  for (long long m = 0; m < M; m++) {
    long long q = m;
    int wo = q % Wo; q /= Wo;
    int ho = q % Ho; q /= Ho;
    int to = q % To;
    int n = (int)(q / To);
    for (int a = 0; a < cs.kt; a++)
      for (int b = 0; b < cs.kh; b++)
        for (int c = 0; c < cs.kw; c++) {
          int ti = to * cs.st - cs.pt + a, hi = ho * cs.sh - cs.ph + b, wi = wo * cs.sw - cs.pw + c;
          if (ti < 0 || ti >= cs.t || hi < 0 || hi >= cs.h || wi < 0 || wi >= cs.w) continue;
          const float* xp = &in.x[((((size_t)n * cs.t + ti) * cs.h + hi) * cs.w + wi) * cs.c];
          int k0 = ((a * cs.kh + b) * cs.kw + c) * cs.c;
          for (int i = 0; i < cs.c; i++) {
            int k = k0 + i, z = k / cs.chunk;
            double* r = &ref[((size_t)z * M + m) * Co];
            for (int o = 0; o < Co; o++) r[o] += (double)xp[i] * in.w[(size_t)o * K + k];
          }
        }
  }
  return ref;
}

// After the split pass: y untouched, pool untouched (zero, guards intact), partial guards intact and every
// partial[z, m, o] written and within tolerance of the split's float64 raw sum. Returns "" or what is wrong.
std::string check_split_pass(const Variant& v, const Case& cs, const Inputs& in, const DeviceBuffer& by, size_t ny,
                             size_t G, const float* pool, size_t np, const float* partial, double& maxerr) {
  std::string msg;
  for (size_t i = 0; i < ny + 2 * G && msg.empty(); i++)
    if (!is_sentinel(v.y, by.data(), i)) msg = dfer_emu::format("split pass wrote y[%lld]", (long long)i - (long long)G);
  if (pool) {
    for (size_t i = 0; i < G && msg.empty(); i++)
      if (!is_sentinel(F32, pool - G, i) || !is_sentinel(F32, pool + np, i)) msg = "split pass wrote pool's guard band";
    for (size_t i = 0; i < np && msg.empty(); i++)
      if (pool[i] != 0.0f) msg = dfer_emu::format("split pass wrote pool[%zu]", i);
  }
  for (size_t i = 0; i < G && msg.empty(); i++) {
    if (!is_sentinel(F32, partial - G, i)) msg = dfer_emu::format("split pass wrote partial[%lld] (before partial)", (long long)i - (long long)G);
    else if (!is_sentinel(F32, partial + cs.splits * ny, i))
      msg = dfer_emu::format("split pass wrote partial[%zu] (past the end, k_splits*m*co = %zu)", cs.splits * ny + i, cs.splits * ny);
  }
  if (!msg.empty()) return msg;
  std::vector<double> ref = split_refs(cs, in);
  long long unwritten = 0, nbad = 0, first = -1;
  std::vector<long long> bad_per_split(cs.splits, 0);
  for (size_t i = 0; i < ref.size(); i++) {
    bool unw = is_sentinel(F32, partial, i);
    double e = std::fabs((double)partial[i] - ref[i]);
    if (unw || std::isnan(partial[i])) e = INFINITY;
    else maxerr = std::max(maxerr, e);
    unwritten += unw;
    if (!v.tol.accepts(e, ref[i])) {
      nbad++;
      bad_per_split[i / ny]++;
      if (first < 0) first = (long long)i;
    }
  }
  if (nbad == 0) return "";
  msg = dfer_emu::format("split pass: %lld of %zu partial values bad (%lld never written); bad per split:", nbad, ref.size(), unwritten);
  for (int z = 0; z < cs.splits; z++) {
    int b = z * cs.chunk, e = std::min(cs.k(), b + cs.chunk);
    msg += dfer_emu::format(" z%d [k %d,%d) %lld", z, b, std::max(b, e), bad_per_split[z]);
  }
  size_t z = (size_t)first / ny, mo = (size_t)first % ny;
  msg += dfer_emu::format("\n      first bad partial[z=%zu, %s, o=%zu]: got %.7g, expected %.7g", z, describe_m(cs, (long long)(mo / cs.co)).c_str(),
                          mo % cs.co, partial[first], ref[(size_t)first]);
  for (int z2 = 0; z2 < cs.splits; z2++)
    if ((size_t)z2 != z && v.tol.accepts(std::fabs(partial[first] - ref[(size_t)z2 * ny + mo]), ref[(size_t)z2 * ny + mo]))
      msg += dfer_emu::format(" (= split %d's sum)", z2);
  return msg;
}

// A pooled case after its launch: y untouched (every element and guard still the sentinel), pool guards
// intact, pool within tolerance of the float64 means. Prints its line; returns true on pass.
bool check_pooled(const Variant& v, const Case& cs, const Inputs& in, const Options& opt, const DeviceBuffer& by,
                  size_t ny, size_t G, const float* pool, size_t np, double secs) {
  std::string y_msg, guard_msg;
  for (size_t i = 0; i < ny + 2 * G && y_msg.empty(); i++)
    if (!is_sentinel(v.y, by.data(), i))
      y_msg = dfer_emu::format("wrote y[%lld] although pool is set", (long long)i - (long long)G);
  for (size_t i = 0; i < G && guard_msg.empty(); i++) {
    if (!is_sentinel(F32, pool - G, i)) guard_msg = dfer_emu::format("wrote pool[%lld] (before pool)", (long long)i - (long long)G);
    else if (!is_sentinel(F32, pool + np, i)) guard_msg = dfer_emu::format("wrote pool[%zu] (past the end, n*co = %zu)", np + i, np);
  }
  std::vector<float> got(pool, pool + np);
  std::vector<char> bad(np, 0);
  ErrorStats st;
  for (size_t i = 0; i < np; i++)
    if (!st.add(got[i], in.pool_ref[i], v.tol)) bad[i] = 1;
  const double nmse = st.nmse(), maxerr = st.maxerr;
  const long long nbad = st.nbad;
  bool pass = y_msg.empty() && guard_msg.empty() && nbad == 0 && nmse <= v.tol.nmse;
  std::printf("%-18s %-34s nmse %.2e  max err %.2e  %s", v.name, cs.name, nmse, maxerr, pass ? "pass" : "FAIL");
  if (opt.verbose) std::printf("  (pool_rows %d, %.2f s, %llu atomics)", cs.pool_rows(), secs, dfer_emu::last_stats().atomics);
  std::printf("\n");
  if (!pass) {
    if (!y_msg.empty()) std::printf("      %s\n", y_msg.c_str());
    if (!guard_msg.empty()) std::printf("      guard band: %s\n", guard_msg.c_str());
    if (nmse > v.tol.nmse) std::printf("      nmse %.3e > %.0e\n", nmse, v.tol.nmse);
    if (nbad) std::printf("%s", diagnose_pool(cs, v, in, got, bad).c_str());
  }
  std::fflush(stdout);
  return pass;
}

// Runs one (variant, case); returns true on pass. Prints its line.
bool run_one(const Variant& v, const LaunchShape& ls, const LaunchShape& fls, const Case& cs, const Inputs& in, const Options& opt) {
  long long M = cs.m();
  int K = cs.k();
  int Co = cs.co;
  DeviceBuffer bx(in.x.size() * dt_size(v.x), "x");
  DeviceBuffer bw(in.w.size() * dt_size(v.w), "wp");
  DeviceBuffer bb(in.bias.size() * 4, "bias");
  DeviceBuffer br;
  if (cs.res) br.alloc(in.res.size() * dt_size(v.y), "res");
  const size_t G = 64;  // guard elements before and after y
  size_t ny = (size_t)M * Co;
  DeviceBuffer by((ny + 2 * G) * dt_size(v.y), "y(+guards)");
  for (size_t i = 0; i < in.x.size(); i++) store(v.x, bx.data(), i, in.x[i]);
  for (size_t i = 0; i < in.w.size(); i++) store(v.w, bw.data(), i, in.w[i]);
  std::memcpy(bb.data(), in.bias.data(), in.bias.size() * 4);
  if (cs.res)
    for (size_t i = 0; i < in.res.size(); i++) store(v.y, br.data(), i, in.res[i]);
  for (size_t i = 0; i < ny + 2 * G; i++) set_sentinel(v.y, by.data(), i);
  void* y = by.data() + G * dt_size(v.y);
  // pooled cases: pool [n, co] fp32 zeroed (as the host does) between G sentinel floats on both sides
  const bool pooled = cs.pool != kNoPool;
  const size_t np = pooled ? (size_t)cs.n * Co : 0;
  DeviceBuffer bp;
  float* pool = nullptr;
  if (pooled) {
    bp.alloc((np + 2 * G) * 4, "pool(+guards)");
    for (size_t i = 0; i < np + 2 * G; i++) set_sentinel(F32, bp.data(), i);
    pool = bp.as<float>() + G;
    std::fill(pool, pool + np, 0.0f);
  }

  // split-K: partial [k_splits, m, co] fp32 between G sentinel floats on both sides (optionally 4 bytes off
  // 8-byte alignment); not split: k_splits 1 and partial null, as the host passes them
  const bool split = cs.splits > 1;
  const size_t npart = split ? (size_t)cs.splits * ny : 0;
  const size_t poff = cs.partial_misaligned ? 1 : 0;
  DeviceBuffer bpart;
  float* partial = nullptr;
  if (split) {
    bpart.alloc((npart + 2 * G + poff) * 4, "partial(+guards)");
    for (size_t i = 0; i < npart + 2 * G + poff; i++) set_sentinel(F32, bpart.data(), i);
    partial = bpart.as<float>() + G + poff;
  }

  Conv3dParams p{bx.data(), bw.data(), bb.as<float>(), cs.res ? br.data() : nullptr,
                 cs.pool == kPoolYNull ? nullptr : y, (dfer::i64)M,
                 cs.n, cs.t, cs.h, cs.w, cs.c, cs.to(), cs.ho(), cs.wo(), Co, cs.kt, cs.kh, cs.kw,
                 cs.st, cs.sh, cs.sw, cs.pt, cs.ph, cs.pw, K, cs.relu ? 1 : 0,
                 pool, pooled ? cs.pool_rows() : 0, pooled ? 1.0f / (float)cs.pool_rows() : 0.0f,
                 partial, split ? cs.splits : 1, split ? cs.chunk : 0};
  dim3 grid((unsigned)((M + ls.tile_m - 1) / ls.tile_m), (unsigned)((Co + ls.tile_n - 1) / ls.tile_n), split ? cs.splits : 1);
  auto t0 = std::chrono::steady_clock::now();
  std::string kerr;
  try {
    dfer_emu::launch(v.fn, grid, dim3(ls.block), (size_t)ls.smem, p);
  } catch (const KernelError& e) {
    kerr = e.what();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!kerr.empty()) {
    std::printf("%-18s %-34s KERNEL ERROR  FAIL\n      %s\n", v.name, cs.name, kerr.c_str());
    return false;
  }
  if (split) {
    double perr = 0;
    std::string msg = check_split_pass(v, cs, in, by, ny, G, pool, np, partial, perr);
    if (!msg.empty()) {
      std::printf("%-18s %-34s split pass  FAIL\n      %s\n", v.name, cs.name, msg.c_str());
      return false;
    }
    // the finish kernel, grid as the host computes it (optionally capped lower)
    const dfer_emu::LaunchStats split_stats = dfer_emu::last_stats();
    const Finish fin = finish_for(v.y);
    long long blocks = std::min<long long>(((long long)ny + fls.tile_m - 1) / fls.tile_m, 1LL << 20);
    if (cs.finish_cap > 0) blocks = std::min<long long>(blocks, cs.finish_cap);
    try {
      dfer_emu::launch(fin.fn, dim3((unsigned)blocks, 1, 1), dim3(fls.block), (size_t)fls.smem, p);
    } catch (const KernelError& e) {
      kerr = e.what();
    }
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!kerr.empty()) {
      std::printf("%-18s %-34s KERNEL ERROR (%s)  FAIL\n      %s\n", v.name, cs.name, fin.name, kerr.c_str());
      return false;
    }
    // --verbose reports the split pass's mma / ldmatrix / cp.async counts and the finish's atomics
    dfer_emu::LaunchStats& st = dfer_emu::last_stats();
    st.mma = split_stats.mma;
    st.ldmatrix = split_stats.ldmatrix;
    st.cp_async = split_stats.cp_async;
    if (opt.verbose) std::printf("%-18s %-34s split pass ok (%d splits of %d, grid.z %u): partial max err %.2e; %s grid %lld\n", v.name,
                                 cs.name, cs.splits, cs.chunk, grid.z, perr, fin.name, blocks);
    // the partial guard bands again: the finish must not write partial
    for (size_t i = 0; i < npart + 2 * G; i++)
      if (i < G || i >= G + npart ? !is_sentinel(F32, partial - G, i) : false) {
        std::printf("%-18s %-34s finish wrote partial's guard band  FAIL\n", v.name, cs.name);
        return false;
      }
  }
  if (pooled) return check_pooled(v, cs, in, opt, by, ny, G, pool, np, secs);
  // guards
  std::string guard_msg;
  for (size_t i = 0; i < G && guard_msg.empty(); i++)
    if (!is_sentinel(v.y, by.data(), i)) guard_msg = dfer_emu::format("wrote y[%lld] (before y)", (long long)i - (long long)G);
  for (size_t i = 0; i < G && guard_msg.empty(); i++)
    if (!is_sentinel(v.y, by.data(), G + ny + i)) guard_msg = dfer_emu::format("wrote y[%zu] (past the end, m*co = %zu)", ny + i, ny);
  std::vector<float> got(ny);
  std::vector<char> bad(ny, 0);
  long long unwritten = 0, first_unwritten = -1;
  ErrorStats st;
  for (size_t i = 0; i < ny; i++) {
    if (is_sentinel(v.y, y, i)) { unwritten++; if (first_unwritten < 0) first_unwritten = (long long)i; }
    got[i] = load(v.y, y, i);
    if (!st.add(got[i], in.ref[i], v.tol)) bad[i] = 1;
  }
  const double nmse = st.nmse(), maxerr = st.maxerr;
  const long long nbad = st.nbad;
  bool pass = guard_msg.empty() && unwritten == 0 && nbad == 0 && nmse <= v.tol.nmse;
  std::printf("%-18s %-34s nmse %.2e  max err %.2e  %s", v.name, cs.name, nmse, maxerr, pass ? "pass" : "FAIL");
  if (opt.verbose) std::printf("  (m %lld, k %d, grid %ux%u, %.2f s, %llu mma, %llu ldmatrix, %llu cp.async)", M, K, grid.x, grid.y, secs,
                               dfer_emu::last_stats().mma, dfer_emu::last_stats().ldmatrix, dfer_emu::last_stats().cp_async);
  std::printf("\n");
  if (!pass) {
    if (!guard_msg.empty()) std::printf("      guard band: %s\n", guard_msg.c_str());
    if (unwritten) std::printf("      %lld output elements never written (first: %s, o=%lld)\n", unwritten,
                               describe_m(cs, first_unwritten / Co).c_str(), first_unwritten % Co);
    if (nmse > v.tol.nmse) std::printf("      nmse %.3e > %.0e\n", nmse, v.tol.nmse);
    if (nbad) std::printf("%s", diagnose(cs, v, ls, in, got, bad).c_str());
  }
  std::fflush(stdout);
  return pass;
}

}  // namespace

int main(int argc, char** argv) {
  dfer_harness::Options opt;
  if (!dfer_harness::parse_options(argc, argv, "conv3d_emu", "conv3d.cu", true, opt)) return 2;
  auto t0 = std::chrono::steady_clock::now();
  int failed = 0, passed = 0, missing = 0;
  try {
    auto table = parse_launch_table(opt.path);
    auto vs = variants();
    for (const auto& [name, shape] : table) {
      bool known = false;
      for (const Variant& v : vs) known |= name == v.name || name == finish_for(v.y).name;
      if (!known) std::printf("note: launch table lists %s, which the harness does not know\n", name.c_str());
    }
    std::map<std::string, Inputs> cache;
    auto cs_list = cases();
    for (const Variant& v : vs) {
      bool any = false;
      for (const Case& cs : cs_list) any |= (std::string(v.name) + " " + cs.name).find(opt.filter) != std::string::npos;
      if (!any) continue;
      auto it = table.find(v.name);
      if (!v.fn || it == table.end()) {
        std::printf("%-18s %s%s\n", v.name, !v.fn ? "MISSING kernel" : "MISSING from the launch table",
                    opt.allow_missing ? " (allowed)" : "  FAIL");
        if (!opt.allow_missing) missing++;
        continue;
      }
      const LaunchShape& ls = it->second;
      if (ls.block <= 0 || ls.block > 1024 || ls.tile_m <= 0 || ls.tile_n <= 0)
        throw HarnessError(dfer_emu::format("%s: bad launch shape", v.name));
      for (size_t ci = 0; ci < cs_list.size(); ci++) {
        const Case& cs = cs_list[ci];
        if ((std::string(v.name) + " " + cs.name).find(opt.filter) == std::string::npos) continue;
        if (v.needs_c32 && cs.c % 32 != 0) continue;
        std::string key = std::string(cs.name) + "/" + dt_name(v.op) + "/" + dt_name(v.y);
        auto ci_it = cache.find(key);
        if (ci_it == cache.end()) ci_it = cache.emplace(key, make_inputs(cs, v.op, v.y, 1000 + ci)).first;
        LaunchShape fls;
        if (cs.splits > 1) {  // split-K cases need the finish kernel of the variant's output type
          const Finish fin = finish_for(v.y);
          auto fit = table.find(fin.name);
          if (!fin.fn || fit == table.end()) {
            std::printf("%-18s %-34s %s %s  FAIL\n", v.name, cs.name, fin.name, !fin.fn ? "MISSING kernel" : "MISSING from the launch table");
            failed++;
            continue;
          }
          fls = fit->second;
          if (fls.block <= 0 || fls.block > 1024 || fls.tile_m <= 0) throw HarnessError(dfer_emu::format("%s: bad launch shape", fin.name));
        }
        (run_one(v, ls, fls, cs, ci_it->second, opt) ? passed : failed)++;
      }
    }
  } catch (const std::exception& e) {
    std::printf("harness error: %s\n", e.what());
    return 2;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("conv3d_emu: %d passed, %d failed, %d missing (%.1f s)\n", passed, failed, missing, secs);
  return failed || missing ? 1 : 0;
}
