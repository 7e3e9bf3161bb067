// The kernels of native/kernels/small_ops.cu (permute_f32, softmax_rows_f32, avgpool3d_f32) run on the CPU
// emulator against a float64 reference.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -o /tmp/small_ops_emu native/emu/small_ops_emu.cpp
//   /tmp/small_ops_emu native/kernels/small_ops.cu [--filter SUBSTRING] [--verbose]
// The launch shapes come from the `// launch <name>: block B, tile_m M, tile_n N, smem S` lines of the .cu file
// named on the command line (read at run time, as the C# hosts do): grid = (min(ceil(work / tile_m), cap), 1, 1),
// cap = 1 << 20 as in the hosts, or a small cap in the cases that exercise the kernels' grid-stride loops.
// Every output sits between guard bands of sentinels that must stay untouched, and every output element must be
// written. Permute is a copy (exact); softmax and avgpool are checked against float64 with fp32 tolerances.
// One line per case; exit code 0 = all pass, 1 = a case failed, 2 = harness error.
#include "cuda_emu.h"

#ifndef DFER_SMALL_OPS_SOURCE
#define DFER_SMALL_OPS_SOURCE "../kernels/small_ops.cu"
#endif
#include DFER_SMALL_OPS_SOURCE

#include "harness.h"

#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using dfer_emu::DeviceBuffer;
using dfer_emu::KernelError;

using dfer_harness::HarnessError;
using dfer_harness::LaunchShape;
using dfer_harness::parse_launch_table;

constexpr unsigned kHostGridCap = 1u << 20;  // the hosts' cap on grid.x
const size_t G = 64;                         // sentinel elements on each side of an output

const uint32_t kSentinel = 0x7FA5A5A5u;  // a NaN with a recognisable payload
bool is_sentinel(const float* p) { uint32_t u; std::memcpy(&u, p, 4); return u == kSentinel; }
void set_sentinel(float* p) { std::memcpy(p, &kSentinel, 4); }

struct Tol { double nmse, atol, rtol; };
const Tol kExact{0, 0, 0};
// softmax: expf (a few ulp) and a sum of n terms in fp32; avgpool: a sum of T*H*W terms in fp32, then a division.
const Tol kTolSoftmax{1e-11, 1e-7, 1e-5};
const Tol kTolPool{1e-11, 1e-6, 1e-5};

unsigned grid_for(long long work, int per_block, unsigned cap) {
  long long g = (work + per_block - 1) / per_block;
  if (g < 1) g = 1;
  return (unsigned)std::min<long long>(g, cap);
}

// A guarded output buffer: G sentinels, count elements (sentinels too), G sentinels.
struct Guarded {
  DeviceBuffer buf;
  size_t count;
  Guarded(size_t n, const char* name) : buf((n + 2 * G) * 4, name), count(n) {
    for (size_t i = 0; i < n + 2 * G; i++) set_sentinel(buf.as<float>() + i);
  }
  float* data() { return buf.as<float>() + G; }
};

// Compares got (with G guard elements on each side) against ref; returns "" or the reason. Reference NaNs must be
// matched by NaNs (other than the sentinel) and infinities exactly.
std::string compare(Guarded& out, const std::vector<double>& ref, const Tol& tol, double& nmse_out, double& maxerr_out) {
  const float* guarded = out.buf.as<float>();
  const size_t count = out.count;
  std::string why;
  for (size_t i = 0; i < G && why.empty(); i++)
    if (!is_sentinel(guarded + i)) why = dfer_emu::format("guard band: wrote element %lld (before the start)", (long long)i - (long long)G);
  for (size_t i = 0; i < G && why.empty(); i++)
    if (!is_sentinel(guarded + G + count + i)) why = dfer_emu::format("guard band: wrote element %zu (past the end, %zu)", count + i, count);
  const float* got = guarded + G;
  double se = 0, sr = 0, maxerr = 0;
  long long bad = 0, unwritten = 0, first_bad = -1;
  for (size_t i = 0; i < count; i++) {
    if (is_sentinel(got + i)) { unwritten++; if (first_bad < 0) first_bad = (long long)i; continue; }
    const double g = got[i], r = ref[i];
    if (!std::isfinite(r) || !std::isfinite(g)) {
      bool same = std::isnan(r) ? std::isnan(g) : g == r;
      if (!same) { bad++; if (first_bad < 0) first_bad = (long long)i; }
      continue;
    }
    double e = std::fabs(g - r);
    se += e * e;
    sr += r * r;
    maxerr = std::max(maxerr, e);
    if (!(e <= tol.atol + tol.rtol * std::fabs(r))) { bad++; if (first_bad < 0) first_bad = (long long)i; }
  }
  nmse_out = sr > 0 ? se / sr : se;
  maxerr_out = maxerr;
  if (why.empty() && unwritten) why = dfer_emu::format("%lld elements never written (first %lld)", unwritten, first_bad);
  if (why.empty() && bad)
    why = dfer_emu::format("%lld elements out of tolerance; first [%lld]: got %.9g, expected %.9g", bad, first_bad,
                           (double)got[first_bad], ref[first_bad]);
  if (why.empty() && nmse_out > tol.nmse) why = dfer_emu::format("nmse %.3e > %.0e", nmse_out, tol.nmse);
  return why;
}

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& e : v) e = u(rng);
  return v;
}

void upload(DeviceBuffer& buf, const std::vector<float>& v, const char* name) {
  buf.alloc(v.size() * 4, name);
  std::memcpy(buf.data(), v.data(), v.size() * 4);
}

struct Result { std::string err; double nmse = 0, maxerr = 0; unsigned grid = 0; };

void report(const char* op, const std::string& name, const Result& r, bool verbose, double secs) {
  bool pass = r.err.empty();
  std::printf("%-10s %-44s nmse %.2e max %.2e  %s", op, name.c_str(), r.nmse, r.maxerr, pass ? "pass" : "FAIL");
  if (verbose) std::printf("  (grid %u, %.2f s)", r.grid, secs);
  std::printf("\n");
  if (!pass) std::printf("      %s\n", r.err.c_str());
  std::fflush(stdout);
}

// ---- permute

struct PermuteCase {
  std::string name;
  std::vector<int> input, view, axes;  // view may hold one -1
  bool merge;                          // as the host: drop unit axes, merge axes that stay adjacent
  unsigned cap;
};

std::vector<PermuteCase> permute_cases() {
  return {
      // M3DFEL's clip [B,16,3,112,112] -> instances [B*4,4,112,112,3], scaled down (h 9, w 7): raw 6 axes and as the host plans it
      {"m3dfel_clip_b2_f16_c3_h9_w7_raw6", {2, 16, 3, 9, 7}, {-1, 4, 4, 3, 9, 7}, {0, 1, 2, 4, 5, 3}, false, kHostGridCap},
      {"m3dfel_clip_b2_f16_c3_h9_w7_merged", {2, 16, 3, 9, 7}, {-1, 4, 4, 3, 9, 7}, {0, 1, 2, 4, 5, 3}, true, kHostGridCap},
      {"m3dfel_clip_b3_f16_c3_h13_w11_merged", {3, 16, 3, 13, 11}, {-1, 4, 4, 3, 13, 11}, {0, 1, 2, 4, 5, 3}, true, kHostGridCap},
      {"clip_b1_f4_c3_h5_w7_gridstride", {1, 4, 3, 5, 7}, {-1, 2, 2, 3, 5, 7}, {0, 1, 2, 4, 5, 3}, false, 2},
      {"3x5x7_axes_2_0_1", {3, 5, 7}, {3, 5, 7}, {2, 0, 1}, false, kHostGridCap},
      {"rank6_reversed_2x3x4x5x3x2", {2, 3, 4, 5, 3, 2}, {2, 3, 4, 5, 3, 2}, {5, 4, 3, 2, 1, 0}, false, kHostGridCap},
      {"rank6_reversed_merged", {2, 3, 4, 5, 3, 2}, {2, 3, 4, 5, 3, 2}, {5, 4, 3, 2, 1, 0}, true, kHostGridCap},
      {"unit_axes_3x1x5x1x7_axes_4_1_0_3_2", {105}, {3, 1, 5, 1, 7}, {4, 1, 0, 3, 2}, false, kHostGridCap},
      {"unit_axes_merged", {105}, {3, 1, 5, 1, 7}, {4, 1, 0, 3, 2}, true, kHostGridCap},
      {"identity_1001", {1001}, {1001}, {0}, false, kHostGridCap},
      {"identity_merged_to_one_axis", {7, 11, 13}, {7, 11, 13}, {0, 1, 2}, true, 3},
      {"single_element", {1}, {1, 1}, {1, 0}, true, kHostGridCap},
      {"2x257x3_axes_1_2_0_gridstride", {2, 257, 3}, {2, 257, 3}, {1, 2, 0}, false, 1},
  };
}

Result run_permute(const PermuteCase& cs, const LaunchShape& l) {
  Result res;
  long long total = 1;
  for (int v : cs.input) total *= v;
  std::vector<int> view = cs.view;
  long long known = 1;
  int free_axis = -1;
  for (size_t a = 0; a < view.size(); a++) (view[a] < 0 ? free_axis = (int)a : (known *= view[a], 0));
  if (free_axis >= 0) view[free_axis] = (int)(total / known);
  const int rank = (int)view.size();
  std::vector<long long> in_strides(rank, 1);
  for (int a = rank - 2; a >= 0; a--) in_strides[a] = in_strides[a + 1] * view[a + 1];
  std::vector<int> dims;
  std::vector<long long> strides;
  for (int a : cs.axes) {
    if (cs.merge && view[a] == 1) continue;
    if (cs.merge && !dims.empty() && strides.back() == (long long)view[a] * in_strides[a]) {
      dims.back() *= view[a];
      strides.back() = in_strides[a];
    } else {
      dims.push_back(view[a]);
      strides.push_back(in_strides[a]);
    }
  }
  if (dims.size() > 6) throw HarnessError(cs.name + ": more than 6 axes");
  while (dims.size() < 6) { dims.insert(dims.begin(), 1); strides.insert(strides.begin(), 0); }

  std::vector<float> x = random_floats((size_t)total, 0x9E3 + total, -1.f, 1.f);
  // float64 reference: walk the output (permuted) index space, as PermuteReference does
  std::vector<double> ref((size_t)total);
  std::vector<int> out_shape(rank), idx(rank, 0);
  for (int d = 0; d < rank; d++) out_shape[d] = view[cs.axes[d]];
  for (long long i = 0; i < total; i++) {
    long long src = 0;
    for (int d = 0; d < rank; d++) src += idx[d] * in_strides[cs.axes[d]];
    ref[(size_t)i] = x[(size_t)src];
    for (int d = rank - 1; d >= 0; d--) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  DeviceBuffer bx;
  upload(bx, x, "x");
  Guarded y((size_t)total, "y(+guards)");
  PermuteParams p{};
  p.x = bx.as<float>();
  p.y = y.data();
  p.total = total;
  p.d0 = dims[0]; p.d1 = dims[1]; p.d2 = dims[2]; p.d3 = dims[3]; p.d4 = dims[4]; p.d5 = dims[5];
  p.s0 = strides[0]; p.s1 = strides[1]; p.s2 = strides[2]; p.s3 = strides[3]; p.s4 = strides[4]; p.s5 = strides[5];
  res.grid = grid_for(total, l.tile_m, cs.cap);
  try {
    dfer_emu::launch(permute_f32, dim3(res.grid), dim3(l.block), (size_t)l.smem, p);
  } catch (const KernelError& e) {
    res.err = std::string("permute_f32: ") + e.what();
    return res;
  }
  res.err = compare(y, ref, kExact, res.nmse, res.maxerr);
  return res;
}

// ---- softmax

struct SoftmaxCase {
  std::string name;
  long long rows;
  int n;
  float lo, hi;      // input range
  int neg_inf_every; // every k-th element is -inf (0: none)
  bool in_place;     // y == x
  unsigned cap;
};

std::vector<SoftmaxCase> softmax_cases() {
  return {
      {"m3dfel_b3_classes7", 3, 7, -8.f, 8.f, 0, false, kHostGridCap},
      {"rows37_n7", 37, 7, -8.f, 8.f, 0, false, kHostGridCap},
      {"rows1_n1", 1, 1, -3.f, 3.f, 0, false, kHostGridCap},
      {"rows13_n1", 13, 1, -3.f, 3.f, 0, false, kHostGridCap},
      {"rows5_n1000", 5, 1000, -10.f, 10.f, 0, false, kHostGridCap},
      {"rows11_n33", 11, 33, -4.f, 4.f, 0, false, kHostGridCap},
      {"rows9_n64_gridstride", 9, 64, -4.f, 4.f, 0, false, 1},
      {"rows30_n5_gridstride", 30, 5, -4.f, 4.f, 0, false, 2},
      {"rows4_n7_large_80_100", 4, 7, 80.f, 100.f, 0, false, kHostGridCap},
      {"rows6_n31_neg_inf_every3", 6, 31, -5.f, 5.f, 3, false, kHostGridCap},
      {"rows7_n45_in_place", 7, 45, -6.f, 6.f, 0, true, kHostGridCap},
  };
}

Result run_softmax(const SoftmaxCase& cs, const LaunchShape& l) {
  Result res;
  const size_t count = (size_t)cs.rows * cs.n;
  std::vector<float> x = random_floats(count, 0x50F7 + count, cs.lo, cs.hi);
  if (cs.neg_inf_every > 0)
    for (size_t i = 1; i < count; i += cs.neg_inf_every) x[i] = -INFINITY;
  std::vector<double> ref(count);
  for (long long r = 0; r < cs.rows; r++) {
    const size_t b = (size_t)r * cs.n;
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < cs.n; i++) mx = std::max(mx, (double)x[b + i]);
    for (int i = 0; i < cs.n; i++) sum += ref[b + i] = std::exp((double)x[b + i] - mx);
    for (int i = 0; i < cs.n; i++) ref[b + i] /= sum;
  }
  DeviceBuffer bx;
  upload(bx, x, "x");
  Guarded y(count, "y(+guards)");
  if (cs.in_place) std::memcpy(y.data(), x.data(), count * 4);
  SoftmaxParams p{};
  p.x = cs.in_place ? y.data() : bx.as<float>();
  p.y = y.data();
  p.rows = cs.rows;
  p.n = cs.n;
  res.grid = grid_for(cs.rows, l.tile_m, cs.cap);
  try {
    dfer_emu::launch(softmax_rows_f32, dim3(res.grid), dim3(l.block), (size_t)l.smem, p);
  } catch (const KernelError& e) {
    res.err = std::string("softmax_rows_f32: ") + e.what();
    return res;
  }
  res.err = compare(y, ref, kTolSoftmax, res.nmse, res.maxerr);
  if (res.err.empty() && !cs.in_place && std::memcmp(bx.data(), x.data(), count * 4) != 0) res.err = "the input changed";
  return res;
}

// ---- avgpool3d

struct PoolCase {
  std::string name;
  int n, t, h, w, c;
  unsigned cap;
};

std::vector<PoolCase> pool_cases() {
  return {
      {"n3_t2_h5_w7_c33", 3, 2, 5, 7, 33, kHostGridCap},
      {"m3dfel_b2x4_t2_h4_w4_c512", 8, 2, 4, 4, 512, kHostGridCap},
      {"n2_t3_h5_w7_c11", 2, 3, 5, 7, 11, kHostGridCap},
      {"n1_t1_h1_w1_c1", 1, 1, 1, 1, 1, kHostGridCap},
      {"n2_t3_h1_w1_c5_fewer_positions_than_warps", 2, 3, 1, 1, 5, kHostGridCap},
      {"n5_t1_h3_w3_c64_gridstride", 5, 1, 3, 3, 64, 3},
      {"n3_t1_h7_w7_c97_gridstride", 3, 1, 7, 7, 97, 1},
      {"n1_t4_h56_w56_c64", 1, 4, 56, 56, 64, kHostGridCap},
  };
}

Result run_pool(const PoolCase& cs, const LaunchShape& l) {
  Result res;
  const long long positions = (long long)cs.t * cs.h * cs.w;
  const size_t count = (size_t)cs.n * positions * cs.c, ny = (size_t)cs.n * cs.c;
  std::vector<float> x = random_floats(count, 0xA7A + count, -1.f, 1.f);
  std::vector<double> ref(ny, 0.0);
  for (int b = 0; b < cs.n; b++)
    for (int ch = 0; ch < cs.c; ch++) {
      double s = 0;
      for (long long q = 0; q < positions; q++) s += x[((size_t)b * positions + q) * cs.c + ch];
      ref[(size_t)b * cs.c + ch] = s / positions;
    }
  DeviceBuffer bx;
  upload(bx, x, "x");
  Guarded y(ny, "y(+guards)");
  AvgPool3dParams p{};
  p.x = bx.as<float>();
  p.y = y.data();
  p.n = cs.n;
  p.positions = (int)positions;
  p.c = cs.c;
  p.ctiles = (cs.c + l.tile_n - 1) / l.tile_n;
  p.tiles = (long long)cs.n * p.ctiles;
  res.grid = grid_for(p.tiles, 1, cs.cap);
  try {
    dfer_emu::launch(avgpool3d_f32, dim3(res.grid), dim3(l.block), (size_t)l.smem, p);
  } catch (const KernelError& e) {
    res.err = std::string("avgpool3d_f32: ") + e.what();
    return res;
  }
  res.err = compare(y, ref, kTolPool, res.nmse, res.maxerr);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  dfer_harness::Options opt;
  if (!dfer_harness::parse_options(argc, argv, "small_ops_emu", "small_ops.cu", false, opt)) return 2;
  const std::string &path = opt.path, &filter = opt.filter;
  const bool verbose = opt.verbose;
  auto t0 = std::chrono::steady_clock::now();
  int passed = 0, failed = 0;
  double worst[3] = {0, 0, 0};
  try {
    auto table = parse_launch_table(path);
    for (const char* k : {"permute_f32", "softmax_rows_f32", "avgpool3d_f32"})
      if (!table.count(k)) throw HarnessError(std::string(k) + " is missing from the launch table");
    const LaunchShape& lp = table["permute_f32"];
    const LaunchShape& ls = table["softmax_rows_f32"];
    const LaunchShape& la = table["avgpool3d_f32"];
    // The kernels' compile-time shapes: softmax one row per warp, avgpool one channel per lane and one position group per warp.
    if (ls.tile_m * 32 != ls.block) throw HarnessError("softmax_rows_f32: tile_m must be block / 32 (one row per warp)");
    if (la.tile_n != 32 || la.tile_m * 32 != la.block) throw HarnessError("avgpool3d_f32: tile_n must be 32 and tile_m block / 32");
    auto run = [&](const char* op, const std::string& name, int which, auto&& body) {
      if ((std::string(op) + " " + name).find(filter) == std::string::npos) return;
      auto c0 = std::chrono::steady_clock::now();
      Result r = body();
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      report(op, name, r, verbose, secs);
      worst[which] = std::max(worst[which], r.maxerr);
      (r.err.empty() ? passed : failed)++;
    };
    for (const PermuteCase& cs : permute_cases()) run("permute", cs.name, 0, [&] { return run_permute(cs, lp); });
    for (const SoftmaxCase& cs : softmax_cases()) run("softmax", cs.name, 1, [&] { return run_softmax(cs, ls); });
    for (const PoolCase& cs : pool_cases()) run("avgpool3d", cs.name, 2, [&] { return run_pool(cs, la); });
  } catch (const std::exception& e) {
    std::printf("harness error: %s\n", e.what());
    return 2;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("worst abs error: permute %.2e, softmax %.2e, avgpool3d %.2e\n", worst[0], worst[1], worst[2]);
  std::printf("small_ops_emu: %d passed, %d failed (%.1f s)\n", passed, failed, secs);
  return failed ? 1 : 0;
}
