// The attention_pool kernels of native/kernels/attention_pool.cu run on the CPU emulator against a float64 reference.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -o /tmp/attention_pool_emu native/emu/attention_pool_emu.cpp
//   /tmp/attention_pool_emu native/kernels/attention_pool.cu [--filter SUBSTRING] [--verbose]
// The launch shapes come from the `// launch <name>: block B, tile_m M, tile_n N, smem S` lines of the .cu file
// named on the command line (read at run time, as the C# host does): qkv grid = (ceil(b*n / tile_m),
// ceil(3d / tile_n), 1), tail grid = (b, 1, 1). Each case checks both stages: the qkv workspace after the first
// kernel (against the float64 projection) and the logits after the second (against the float64 head).
// Guard bands of sentinels surround the workspace and the logits; every logit and every qkv element must be
// written. One line per case; exit code 0 = all pass, 1 = a case failed, 2 = harness error.
#include "cuda_emu.h"

#ifndef DFER_ATTENTION_POOL_SOURCE
#define DFER_ATTENTION_POOL_SOURCE "../kernels/attention_pool.cu"
#endif
#include DFER_ATTENTION_POOL_SOURCE

#include "harness.h"

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

namespace {

using dfer_emu::DeviceBuffer;
using dfer_emu::KernelError;

using dfer_harness::HarnessError;
using dfer_harness::LaunchShape;
using dfer_harness::parse_launch_table;

struct Case {
  const char* name;
  int b, n, d, heads, classes, k, pad;
  int lout() const { return d + 2 * pad - k + 1; }
  int hd() const { return d / heads; }
};

// M3DFEL's head at batch 2 (and 3, rows not a multiple of the 8-row tile), then odd shapes: d not a multiple
// of 32 or of the 16-column tile, head dims above and below a warp, n from 2 to 8, heads*n*n at the
// 1024 limit, classes above the 8 warps, kernels 1..5, padding 0 (lout < d) and padding past the kernel
// (lout > d: the pooled vector wraps into the next instance's v slot).
std::vector<Case> cases() {
  //        name                                b  n     d heads cls k pad
  return {
      {"m3dfel_b2_d1024_h8_n4_c7",              2, 4, 1024, 8, 7, 3, 1},
      {"m3dfel_b3_d1024_h8_n4_c7",              3, 4, 1024, 8, 7, 3, 1},
      {"b1_d40_h4_n3_c5_k3p1",                  1, 3, 40, 4, 5, 3, 1},
      {"b3_d35_h5_n2_c3_k5p2",                  3, 2, 35, 5, 3, 5, 2},
      {"b5_d66_h2_n5_c9_k3p0",                  5, 5, 66, 2, 9, 3, 0},
      {"b2_d24_h3_n3_c11_k2p3_lout_gt_d",       2, 3, 24, 3, 11, 2, 3},
      {"b1_d64_h16_n8_c7_k1p0_scores1024",      1, 8, 64, 16, 7, 1, 0},
      {"b7_d97_h1_n2_c2_k3p1",                  7, 2, 97, 1, 2, 3, 1},
  };
}

struct Inputs {
  std::vector<float> x, wqkv, norm_w, norm_b, conv_w, fc_w, fc_b;
  float mean_w[2], var_w[2], conv_b;
  double wm0, wm1, wv0, wv1, scale, eps = 1e-5;
  std::vector<double> qkv;     // [b*n, 3d]
  std::vector<double> logits;  // [b, classes]
};

void softmax2(const float* w, double& a, double& b) {
  double m = std::max((double)w[0], (double)w[1]);
  double ea = std::exp(w[0] - m), eb = std::exp(w[1] - m);
  a = ea / (ea + eb);
  b = eb / (ea + eb);
}

Inputs make_inputs(const Case& cs, uint64_t seed) {
  Inputs in;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& v, size_t count, float lo, float hi) {
    v.resize(count);
    for (float& e : v) e = lo + (hi - lo) * 0.5f * (u(rng) + 1.0f);
  };
  const int b = cs.b, n = cs.n, d = cs.d, lout = cs.lout(), hd = cs.hd();
  float wb = std::sqrt(3.0f / d), cb = std::sqrt(3.0f / (n * cs.k)), fb = std::sqrt(3.0f / lout);
  fill(in.x, (size_t)b * n * d, -1, 1);
  fill(in.wqkv, (size_t)3 * d * d, -wb, wb);
  fill(in.norm_w, d, 0.5f, 1.5f);
  fill(in.norm_b, d, -0.5f, 0.5f);
  fill(in.conv_w, (size_t)n * cs.k, -cb, cb);
  fill(in.fc_w, (size_t)cs.classes * lout, -fb, fb);
  fill(in.fc_b, cs.classes, -0.5f, 0.5f);
  for (float& v : in.mean_w) v = u(rng);
  for (float& v : in.var_w) v = u(rng);
  in.conv_b = 0.5f * u(rng);
  softmax2(in.mean_w, in.wm0, in.wm1);
  softmax2(in.var_w, in.wv0, in.wv1);
  in.scale = 1.0 / std::sqrt((double)hd);

  // float64 reference, written from the formula (AttentionPoolOp)
  const int cols = 3 * d;
  in.qkv.assign((size_t)b * n * cols, 0.0);
  for (int r = 0; r < b * n; r++)
    for (int o = 0; o < cols; o++) {
      double s = 0;
      for (int c = 0; c < d; c++) s += (double)in.wqkv[(size_t)o * d + c] * in.x[(size_t)r * d + c];
      in.qkv[(size_t)r * cols + o] = s;
    }
  in.logits.assign((size_t)b * cs.classes, 0.0);
  std::vector<double> y((size_t)n * d), g((size_t)n * d), pooled(lout), sc(n), mean_in(d), var_in(d);
  for (int bi = 0; bi < b; bi++) {
    auto Q = [&](int l, int part, int c) { return in.qkv[((size_t)bi * n + l) * cols + (size_t)part * d + c]; };
    for (int h = 0; h < cs.heads; h++)
      for (int l = 0; l < n; l++) {
        double mx = -INFINITY;
        for (int m = 0; m < n; m++) {
          double s = 0;
          for (int j = 0; j < hd; j++) s += Q(l, 0, h * hd + j) * Q(m, 1, h * hd + j);
          sc[m] = s * in.scale;
          mx = std::max(mx, sc[m]);
        }
        double sum = 0;
        for (int m = 0; m < n; m++) sum += sc[m] = std::exp(sc[m] - mx);
        for (int j = 0; j < hd; j++) {
          double a = 0;
          for (int m = 0; m < n; m++) a += sc[m] / sum * Q(m, 2, h * hd + j);
          y[(size_t)l * d + h * hd + j] = a;
        }
      }
    double mean_ln = 0, sq_ln = 0;
    for (int c = 0; c < d; c++) {
      double s = 0, v = 0;
      for (int l = 0; l < n; l++) s += y[(size_t)l * d + c];
      double mu = s / n;
      for (int l = 0; l < n; l++) v += (y[(size_t)l * d + c] - mu) * (y[(size_t)l * d + c] - mu);
      mean_in[c] = mu;
      var_in[c] = v / (n - 1);
      mean_ln += mu;
      sq_ln += var_in[c] + mu * mu;
    }
    mean_ln /= d;
    double var_ln = sq_ln / d - mean_ln * mean_ln;
    for (int c = 0; c < d; c++) {
      double mean = in.wm0 * mean_in[c] + in.wm1 * mean_ln, var = in.wv0 * var_in[c] + in.wv1 * var_ln;
      for (int l = 0; l < n; l++) {
        double z = (y[(size_t)l * d + c] - mean) / std::sqrt(var + in.eps) * in.norm_w[c] + in.norm_b[c];
        g[(size_t)l * d + c] = in.x[((size_t)bi * n + l) * d + c] / (1 + std::exp(-z));
      }
    }
    for (int t = 0; t < lout; t++) {
      double s = in.conv_b;
      for (int i = 0; i < n; i++)
        for (int kk = 0; kk < cs.k; kk++) {
          int at = t - cs.pad + kk;
          if (at >= 0 && at < d) s += (double)in.conv_w[(size_t)i * cs.k + kk] * g[(size_t)i * d + at];
        }
      pooled[t] = s;
    }
    for (int cls = 0; cls < cs.classes; cls++) {
      double s = in.fc_b[cls];
      for (int t = 0; t < lout; t++) s += (double)in.fc_w[(size_t)cls * lout + t] * pooled[t];
      in.logits[(size_t)bi * cs.classes + cls] = s;
    }
  }
  return in;
}

const uint32_t kSentinel = 0x7FA5A5A5u;  // a NaN with a recognisable payload
bool is_sentinel(const float* p) { uint32_t u; std::memcpy(&u, p, 4); return u == kSentinel; }
void set_sentinel(float* p) { std::memcpy(p, &kSentinel, 4); }

struct Tol { double nmse, atol, rtol; };
// qkv: one fp32 dot product of length d per element. logits: the whole chain in fp32 (DMIN divides by a
// standard deviation, which amplifies relative error a little).
const Tol kTolQkv{1e-11, 1e-5, 1e-5};
const Tol kTolLogits{1e-10, 1e-4, 1e-4};

// "" when the G sentinels before and after the count elements are untouched.
std::string guards(const char* what, const float* guarded, size_t count, size_t G) {
  for (size_t i = 0; i < G; i++)
    if (!is_sentinel(guarded + i)) return dfer_emu::format("%s guard band: wrote element %lld (before the start)", what, (long long)i - (long long)G);
  for (size_t i = 0; i < G; i++)
    if (!is_sentinel(guarded + G + count + i)) return dfer_emu::format("%s guard band: wrote element %zu (past the end, %zu)", what, count + i, count);
  return "";
}

// Compares got (with G guard elements on each side) against ref; returns "" or the reason.
std::string compare(const char* what, const float* guarded, size_t count, size_t G, const std::vector<double>& ref,
                    const Tol& tol, double& nmse_out, double& maxerr_out) {
  std::string why = guards(what, guarded, count, G);
  const float* got = guarded + G;
  double se = 0, sr = 0, maxerr = 0;
  long long bad = 0, unwritten = 0, first_bad = -1;
  for (size_t i = 0; i < count; i++) {
    if (is_sentinel(got + i)) { unwritten++; if (first_bad < 0) first_bad = (long long)i; continue; }
    double e = std::fabs((double)got[i] - ref[i]);
    if (std::isnan(got[i])) e = INFINITY;
    se += e * e;
    sr += ref[i] * ref[i];
    maxerr = std::max(maxerr, e);
    if (!(e <= tol.atol + tol.rtol * std::fabs(ref[i]))) { bad++; if (first_bad < 0) first_bad = (long long)i; }
  }
  nmse_out = sr > 0 ? se / sr : se;
  maxerr_out = maxerr;
  if (why.empty() && unwritten) why = dfer_emu::format("%s: %lld elements never written (first %lld)", what, unwritten, first_bad);
  if (why.empty() && bad)
    why = dfer_emu::format("%s: %lld elements out of tolerance; first [%lld]: got %.8g, expected %.8g", what, bad, first_bad,
                           got[first_bad], ref[first_bad]);
  if (why.empty() && nmse_out > tol.nmse) why = dfer_emu::format("%s: nmse %.3e > %.0e", what, nmse_out, tol.nmse);
  return why;
}

bool run_case(const Case& cs, const LaunchShape& lq, const LaunchShape& lt, bool verbose) {
  Inputs in = make_inputs(cs, 0xA77E + cs.d * 131 + cs.b);
  const int rows = cs.b * cs.n, cols = 3 * cs.d;
  const size_t G = 64;
  auto upload = [](DeviceBuffer& buf, const std::vector<float>& v, const char* name) {
    buf.alloc(v.size() * 4, name);
    std::memcpy(buf.data(), v.data(), v.size() * 4);
  };
  DeviceBuffer bx, bw, bnw, bnb, bcw, bfw, bfb;
  upload(bx, in.x, "x");
  upload(bw, in.wqkv, "wqkv");
  upload(bnw, in.norm_w, "norm_w");
  upload(bnb, in.norm_b, "norm_b");
  upload(bcw, in.conv_w, "conv_w");
  upload(bfw, in.fc_w, "fc_w");
  upload(bfb, in.fc_b, "fc_b");
  size_t nq = (size_t)rows * cols, ny = (size_t)cs.b * cs.classes;
  DeviceBuffer bq((nq + 2 * G) * 4, "qkv(+guards)"), by((ny + 2 * G) * 4, "y(+guards)");
  for (size_t i = 0; i < nq + 2 * G; i++) set_sentinel(bq.as<float>() + i);
  for (size_t i = 0; i < ny + 2 * G; i++) set_sentinel(by.as<float>() + i);

  AttentionPoolParams p{};
  p.x = bx.as<float>();
  p.wqkv = bw.as<float>();
  p.qkv = bq.as<float>() + G;
  p.norm_w = bnw.as<float>();
  p.norm_b = bnb.as<float>();
  p.conv_w = bcw.as<float>();
  p.fc_w = bfw.as<float>();
  p.fc_b = bfb.as<float>();
  p.y = by.as<float>() + G;
  p.b = cs.b; p.n = cs.n; p.d = cs.d; p.heads = cs.heads; p.head_dim = cs.hd(); p.classes = cs.classes;
  p.k = cs.k; p.pad = cs.pad; p.lout = cs.lout(); p.rows = rows;
  p.scale = (float)in.scale;
  p.wm0 = (float)in.wm0; p.wm1 = (float)in.wm1; p.wv0 = (float)in.wv0; p.wv1 = (float)in.wv1;
  p.eps = (float)in.eps; p.conv_b = in.conv_b;

  auto t0 = std::chrono::steady_clock::now();
  std::string err;
  dim3 gq((unsigned)((rows + lq.tile_m - 1) / lq.tile_m), (unsigned)((cols + lq.tile_n - 1) / lq.tile_n), 1);
  try {
    dfer_emu::launch(attention_pool_qkv_f32_v1, gq, dim3(lq.block), (size_t)lq.smem, p);
  } catch (const KernelError& e) {
    err = std::string("attention_pool_qkv_f32_v1: ") + e.what();
  }
  double nmse_q = 0, max_q = 0, nmse_y = 0, max_y = 0;
  if (err.empty()) err = compare("qkv", bq.as<float>(), nq, G, in.qkv, kTolQkv, nmse_q, max_q);
  if (err.empty()) {
    // The tail must see exactly the kernel's qkv; it is in place already.
    try {
      dfer_emu::launch(attention_pool_tail_f32_v1, dim3((unsigned)cs.b), dim3(lt.block), (size_t)lt.smem, p);
    } catch (const KernelError& e) {
      err = std::string("attention_pool_tail_f32_v1: ") + e.what();
    }
    if (err.empty()) {
      // The tail works in place in its row's workspace slice: the workspace guard bands must still hold.
      err = guards("workspace after the tail", bq.as<float>(), nq, G);
    }
    if (err.empty()) err = compare("logits", by.as<float>(), ny, G, in.logits, kTolLogits, nmse_y, max_y);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bool pass = err.empty();
  std::printf("%-36s qkv nmse %.2e max %.2e  logits nmse %.2e max %.2e  %s", cs.name, nmse_q, max_q, nmse_y, max_y, pass ? "pass" : "FAIL");
  if (verbose) std::printf("  (qkv grid %ux%u, tail grid %d, %.2f s)", gq.x, gq.y, cs.b, secs);
  std::printf("\n");
  if (!pass) std::printf("      %s\n", err.c_str());
  std::fflush(stdout);
  return pass;
}

}  // namespace

int main(int argc, char** argv) {
  dfer_harness::Options opt;
  if (!dfer_harness::parse_options(argc, argv, "attention_pool_emu", "attention_pool.cu", false, opt)) return 2;
  const std::string &path = opt.path, &filter = opt.filter;
  const bool verbose = opt.verbose;
  auto t0 = std::chrono::steady_clock::now();
  int passed = 0, failed = 0;
  try {
    auto table = parse_launch_table(path);
    for (const char* k : {"attention_pool_qkv_f32_v1", "attention_pool_tail_f32_v1"})
      if (!table.count(k)) throw HarnessError(std::string(k) + " is missing from the launch table");
    const LaunchShape& lq = table["attention_pool_qkv_f32_v1"];
    const LaunchShape& lt = table["attention_pool_tail_f32_v1"];
    if (lq.tile_m != 8 || lq.tile_n != 16 || lq.block != 256)
      std::printf("note: qkv launch line differs from the kernel's compile-time tile (8 x 16, 256 threads)\n");
    for (const Case& cs : cases()) {
      if (std::string(cs.name).find(filter) == std::string::npos) continue;
      (run_case(cs, lq, lt, verbose) ? passed : failed)++;
    }
  } catch (const std::exception& e) {
    std::printf("harness error: %s\n", e.what());
    return 2;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("attention_pool_emu: %d passed, %d failed (%.1f s)\n", passed, failed, secs);
  return failed ? 1 : 0;
}
