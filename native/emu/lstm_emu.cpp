// LSTM kernels of native/kernels/lstm.cu run on the CPU emulator against a float64 reference.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -o /tmp/lstm_emu native/emu/lstm_emu.cpp
//   /tmp/lstm_emu native/kernels/lstm.cu [--filter SUBSTRING] [--verbose]
// Launch shapes come from the `// launch` lines of the .cu file named on the command line, as the C#
// host reads them. Each case runs the host's launch sequence (per layer: lstm_proj_f32, then
// lstm_rec_f32) in several modes:
//   persistent/smem   : one co-resident launch per layer (dfer_emu::launch_coresident: every block resident,
//                       the grid barrier really synchronises), W_hh rows staged in shared memory
//   persistent/global : the same with W_hh read from global memory
//   step/global       : one ordinary launch per time step (blocks one after another), W_hh from global
//   step/smem         : one launch per time step, W_hh staged per launch
// Pass = no kernel error, guards intact, every output written, |y - ref| <= atol + rtol*|ref| and NMSE
// within bound, and every mode of a case bitwise equal to the first (same arithmetic, same order).
// Emulator checks first: the persistent kernel under the sequential launch() must be reported as a
// deadlock in the grid barrier, and with the barrier disabled (counter pre-set) it must give wrong
// results: both show that the co-resident mode exercises the barrier for real.
// Exit code 0 = all pass, 1 = a case or check failed, 2 = harness error.
#include "cuda_emu.h"

#ifndef DFER_LSTM_SOURCE
#define DFER_LSTM_SOURCE "../kernels/lstm.cu"
#endif
#include DFER_LSTM_SOURCE

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
  int b, l, in, h, layers;
  bool bidir;
  float wscale;               // weights U(-wscale/sqrt(H), wscale/sqrt(H)) (1 = PyTorch's init)
  std::vector<int> slices;    // hidden units per block to run (each with every mode)
  int dirs() const { return bidir ? 2 : 1; }
};

std::vector<Case> cases() {
  return {
      // M3DFEL's LSTM; slice 16 = 64 co-resident blocks (the emulator keeps at most 65536 fibers).
      {"m3dfel_b2_l4_in512_h512_x2_bi", 2, 4, 512, 512, 2, true, 1.0f, {16}},
      {"b3_l5_in37_h29_x1_uni", 3, 5, 37, 29, 1, false, 1.0f, {1, 8, 29}},
      {"b3_l5_in37_h29_x1_bi", 3, 5, 37, 29, 1, true, 1.0f, {8}},
      {"b3_l5_in37_h29_x2_uni", 3, 5, 37, 29, 2, false, 1.0f, {7}},
      {"b3_l5_in37_h29_x2_bi", 3, 5, 37, 29, 2, true, 1.0f, {5, 29}},
      {"b3_l5_in37_h29_x2_bi_w3", 3, 5, 37, 29, 2, true, 3.0f, {8}},  // saturated gates
      {"b2_l1_in37_h29_x2_bi", 2, 1, 37, 29, 2, true, 1.0f, {8}},
      {"b1_l1_in5_h3_x1_uni", 1, 1, 5, 3, 1, false, 1.0f, {1, 3}},
      {"b6_l3_in19_h45_x2_bi", 6, 3, 19, 45, 2, true, 1.0f, {6}},      // two batch chunks, the last partial
      {"b9_l2_in70_h33_x1_bi", 9, 2, 70, 33, 1, true, 1.0f, {33}},
  };
}

struct Weights {
  // per layer, directions stacked as the host packs them
  std::vector<std::vector<float>> wih;   // [dirs*4H, in_l]
  std::vector<std::vector<float>> whh;   // [dirs*4H, H]
  std::vector<std::vector<float>> bias;  // [dirs*4H] = b_ih + b_hh (the fp32 sum, as the host folds it)
  std::vector<std::vector<float>> bih, bhh;
  std::vector<float> x;                  // [B, L, In]
};

Weights make_weights(const Case& cs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Weights w;
  int dirs = cs.dirs(), h4 = 4 * cs.h;
  float k = cs.wscale / std::sqrt((float)cs.h);
  for (int l = 0; l < cs.layers; l++) {
    int in = l == 0 ? cs.in : dirs * cs.h;
    std::vector<float> wih((size_t)dirs * h4 * in), whh((size_t)dirs * h4 * cs.h), bih(dirs * h4), bhh(dirs * h4), bias(dirs * h4);
    for (float& v : wih) v = k * u(rng);
    for (float& v : whh) v = k * u(rng);
    for (float& v : bih) v = k * u(rng);
    for (float& v : bhh) v = k * u(rng);
    for (int i = 0; i < dirs * h4; i++) bias[i] = bih[i] + bhh[i];
    w.wih.push_back(wih); w.whh.push_back(whh); w.bias.push_back(bias); w.bih.push_back(bih); w.bhh.push_back(bhh);
  }
  w.x.resize((size_t)cs.b * cs.l * cs.in);
  for (float& v : w.x) v = u(rng);
  return w;
}

// float64 nn.LSTM (same formulas as LstmReference.cs): [B, L, dirs*H], forward half first.
std::vector<double> reference(const Case& cs, const Weights& w) {
  int dirs = cs.dirs(), H = cs.h, B = cs.b, L = cs.l;
  std::vector<double> input(w.x.begin(), w.x.end());
  int in = cs.in;
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int l = 0; l < cs.layers; l++) {
    std::vector<double> out((size_t)B * L * dirs * H);
    for (int d = 0; d < dirs; d++)
      for (int b = 0; b < B; b++) {
        std::vector<double> h(H, 0.0), c(H, 0.0), g(4 * H);
        for (int step = 0; step < L; step++) {
          int t = d == 0 ? step : L - 1 - step;
          const double* xt = &input[((size_t)b * L + t) * in];
          for (int r = 0; r < 4 * H; r++) {
            size_t row = (size_t)d * 4 * H + r;
            double acc = (double)w.bih[l][row] + (double)w.bhh[l][row];
            for (int k = 0; k < in; k++) acc += (double)w.wih[l][row * in + k] * xt[k];
            for (int k = 0; k < H; k++) acc += (double)w.whh[l][row * H + k] * h[k];
            g[r] = acc;
          }
          for (int j = 0; j < H; j++) {
            double ig = sig(g[j]), fg = sig(g[H + j]), gg = std::tanh(g[2 * H + j]), og = sig(g[3 * H + j]);
            c[j] = fg * c[j] + ig * gg;
            h[j] = og * std::tanh(c[j]);
            out[(((size_t)b * L + t) * dirs + d) * H + j] = h[j];
          }
        }
      }
    input = std::move(out);
    in = dirs * H;
  }
  return input;
}

enum Mode { kPersistentSmem, kPersistentGlobal, kStepGlobal, kStepSmem, kNumModes };
// (namespace scope: the emulator treats function-local statics as __shared__ memory and poisons them)
const char* const kModeNames[] = {"persistent/smem", "persistent/global", "step/global", "step/smem"};
const char* mode_name(int m) { return kModeNames[m]; }
bool mode_persistent(int m) { return m == kPersistentSmem || m == kPersistentGlobal; }
bool mode_smem(int m) { return m == kPersistentSmem || m == kStepSmem; }

const uint32_t kSentinel = 0x7FA5A5A5u;  // NaN with a recognisable payload
const size_t kGuard = 64;                // sentinel floats before and after y
bool is_sentinel(const float* p) { uint32_t u; std::memcpy(&u, p, 4); return u == kSentinel; }
void fill_sentinel(float* p, size_t n) { for (size_t i = 0; i < n; i++) std::memcpy(p + i, &kSentinel, 4); }

struct Shapes { LaunchShape proj, rec; };

// How the barrier is treated, for the emulator checks.
enum BarrierTest { kBarrierNormal, kBarrierSequential, kBarrierDisabled };

struct RunResult { std::vector<float> y; std::string error; std::string guard; long long unwritten = 0; double secs = 0; };

// The host's launch sequence for one case and mode; returns the final layer's output.
RunResult run_lstm(const Case& cs, const Weights& w, int slice, int mode, const Shapes& sh, BarrierTest bt = kBarrierNormal) {
  RunResult rr;
  int dirs = cs.dirs(), H = cs.h, B = cs.b, L = cs.l, M = B * L, N = dirs * 4 * H;
  int kNBh = sh.rec.tile_m;
  int nblk = dirs * ((H + slice - 1) / slice);
  bool smem = mode_smem(mode);
  size_t rec_smem = 4 * ((smem ? (size_t)4 * slice * H : 0) + (size_t)kNBh * H + (size_t)4 * slice * kNBh);
  DeviceBuffer bx(w.x.size() * 4, "x");
  std::memcpy(bx.data(), w.x.data(), w.x.size() * 4);
  DeviceBuffer bg((size_t)M * N * 4, "gates G");
  DeviceBuffer bc((size_t)dirs * B * H * 4, "cell c");
  DeviceBuffer bbar(4 * cs.layers, "barrier counters");
  size_t ny = (size_t)M * dirs * H;
  DeviceBuffer bmid((ny + 2 * kGuard) * 4, "y of inner layers(+guards)");
  DeviceBuffer bout((ny + 2 * kGuard) * 4, "y(+guards)");
  std::vector<DeviceBuffer> wih(cs.layers), whh(cs.layers), bias(cs.layers);
  for (int l = 0; l < cs.layers; l++) {
    wih[l].alloc(w.wih[l].size() * 4, "w_ih"); std::memcpy(wih[l].data(), w.wih[l].data(), w.wih[l].size() * 4);
    whh[l].alloc(w.whh[l].size() * 4, "w_hh"); std::memcpy(whh[l].data(), w.whh[l].data(), w.whh[l].size() * 4);
    bias[l].alloc(w.bias[l].size() * 4, "bias"); std::memcpy(bias[l].data(), w.bias[l].data(), w.bias[l].size() * 4);
  }
  uint32_t* counters = bbar.as<uint32_t>();
  for (int l = 0; l < cs.layers; l++) counters[l] = bt == kBarrierDisabled ? 0x40000000u : 0u;
  auto t0 = std::chrono::steady_clock::now();
  const float* input = bx.as<float>();
  int in = cs.in;
  float* y = nullptr;
  try {
    for (int l = 0; l < cs.layers; l++) {
      // the last layer writes the output; layers alternate so a layer never reads the buffer it writes
      bool to_out = (cs.layers - 1 - l) % 2 == 0;
      DeviceBuffer& by = to_out ? bout : bmid;
      fill_sentinel(by.as<float>(), ny + 2 * kGuard);
      y = by.as<float>() + kGuard;
      fill_sentinel(bg.as<float>(), (size_t)M * N);
      fill_sentinel(bc.as<float>(), (size_t)dirs * B * H);
      LstmProjParams pp{input, wih[l].as<float>(), bias[l].as<float>(), bg.as<float>(), M, N, in};
      dim3 pgrid((unsigned)((M + sh.proj.tile_m - 1) / sh.proj.tile_m), (unsigned)((N + sh.proj.tile_n - 1) / sh.proj.tile_n), 1);
      dfer_emu::launch(lstm_proj_f32, pgrid, dim3(sh.proj.block), (size_t)sh.proj.smem, pp);
      LstmRecParams rp{bg.as<float>(), whh[l].as<float>(), y, bc.as<float>(), counters + l, B, L, H, dirs, slice, 0, L, smem ? 1 : 0};
      if (mode_persistent(mode)) {
        if (bt == kBarrierSequential) dfer_emu::launch(lstm_rec_f32, dim3(nblk), dim3(sh.rec.block), rec_smem, rp);
        else dfer_emu::launch_coresident(lstm_rec_f32, dim3(nblk), dim3(sh.rec.block), rec_smem, rp);
      } else {
        for (int s = 0; s < L; s++) {
          rp.step_begin = s;
          rp.step_end = s + 1;
          dfer_emu::launch(lstm_rec_f32, dim3(nblk), dim3(sh.rec.block), rec_smem, rp);
        }
      }
      // guards of this layer's output
      for (size_t i = 0; i < kGuard && rr.guard.empty(); i++) {
        if (!is_sentinel(by.as<float>() + i)) rr.guard = dfer_emu::format("layer %d wrote y[%lld] (before y)", l, (long long)i - (long long)kGuard);
        if (!is_sentinel(y + ny + i)) rr.guard = dfer_emu::format("layer %d wrote y[%zu] (past the end, %zu elements)", l, ny + i, ny);
      }
      input = y;
      in = dirs * H;
    }
  } catch (const KernelError& e) {
    rr.error = e.what();
  }
  rr.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rr.error.empty()) {
    rr.y.assign(y, y + ny);
    for (size_t i = 0; i < ny; i++) rr.unwritten += is_sentinel(y + i);
  }
  return rr;
}

struct Tol { double nmse, atol, rtol; };
const Tol kTol{1e-10, 1e-5, 1e-4};

using dfer_harness::Options;

// max |tanh_f32 - tanh| and |sigmoid_f32 - sigmoid| over a sweep (the kernel's own device functions).
bool check_activations() {
  double worst_t = 0, worst_t_rel = 0, worst_s = 0, at_t = 0, at_s = 0;
  for (int i = -2000000; i <= 2000000; i++) {
    float x = (float)i * 1e-5f;  // [-20, 20]
    double rt = std::tanh((double)x), rs = 1.0 / (1.0 + std::exp(-(double)x));
    double et = std::fabs((double)tanh_f32(x) - rt), es = std::fabs((double)sigmoid_f32(x) - rs);
    if (et > worst_t) { worst_t = et; at_t = x; }
    if (rt != 0 && et / std::fabs(rt) > worst_t_rel) worst_t_rel = et / std::fabs(rt);
    if (es > worst_s) { worst_s = es; at_s = x; }
  }
  bool ok = worst_t < 2e-7 && worst_t_rel < 1e-6 && worst_s < 2e-7 && tanh_f32(1e-30f) == 1e-30f && tanh_f32(-100.f) == -1.0f &&
            sigmoid_f32(-200.f) == 0.0f && sigmoid_f32(200.f) == 1.0f;
  std::printf("%-44s tanh max abs err %.2e (x=%.4g), max rel %.2e; sigmoid max abs err %.2e (x=%.4g)  %s\n",
              "activations (host expf)", worst_t, at_t, worst_t_rel, worst_s, at_s, ok ? "pass" : "FAIL");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  dfer_harness::Options opt;
  if (!dfer_harness::parse_options(argc, argv, "lstm_emu", "lstm.cu", false, opt)) return 2;
  auto t0 = std::chrono::steady_clock::now();
  int passed = 0, failed = 0;
  try {
    auto table = parse_launch_table(opt.path);
    if (!table.count("lstm_proj_f32") || !table.count("lstm_rec_f32")) throw HarnessError("launch table lacks lstm_proj_f32 or lstm_rec_f32");
    Shapes sh{table["lstm_proj_f32"], table["lstm_rec_f32"]};
    if (sh.rec.tile_m != kNB) throw HarnessError(dfer_emu::format("lstm_rec_f32 launch line says tile_m %d, the kernel's kNB is %d", sh.rec.tile_m, kNB));
    if (opt.filter.empty() || std::string("activations").find(opt.filter) != std::string::npos) (check_activations() ? passed : failed)++;

    // Emulator checks on a small bidirectional case: the barrier must really hold the blocks.
    if (opt.filter.empty() || std::string("barrier").find(opt.filter) != std::string::npos) {
      Case cs{"barrier_check", 2, 3, 11, 13, 1, true, 1.0f, {4}};
      Weights w = make_weights(cs, 77);
      std::vector<double> ref = reference(cs, w);
      RunResult seq = run_lstm(cs, w, 4, kPersistentSmem, sh, kBarrierSequential);
      bool ok1 = seq.error.find("deadlock") != std::string::npos && seq.error.find("ld_acquire_gpu") != std::string::npos;
      std::printf("%-44s %s\n      (%s)\n", "barrier: persistent under sequential launch()", ok1 ? "deadlock reported: pass" : "FAIL: no deadlock",
                  seq.error.empty() ? "no error" : seq.error.c_str());
      RunResult dis = run_lstm(cs, w, 4, kPersistentSmem, sh, kBarrierDisabled);
      double maxerr = 0;
      for (size_t i = 0; i < dis.y.size(); i++) maxerr = std::max(maxerr, std::isnan(dis.y[i]) ? INFINITY : std::fabs(dis.y[i] - ref[i]));
      bool ok2 = dis.error.empty() && maxerr > 1e-3;
      std::printf("%-44s %s (max err %.2e)\n", "barrier: disabled barrier gives wrong output", ok2 ? "pass" : "FAIL", maxerr);
      (ok1 ? passed : failed)++;
      (ok2 ? passed : failed)++;
    }

    int seed = 0;
    for (const Case& cs : cases()) {
      seed++;
      if (std::string(cs.name).find(opt.filter) == std::string::npos) continue;
      Weights w = make_weights(cs, 1000 + seed);
      std::vector<double> ref = reference(cs, w);
      for (int slice : cs.slices) {
        std::vector<float> first;
        for (int mode = 0; mode < kNumModes; mode++) {
          RunResult rr = run_lstm(cs, w, slice, mode, sh);
          int nblk = cs.dirs() * ((cs.h + slice - 1) / slice);
          std::string label = dfer_emu::format("%s slice %d (%d blocks)", cs.name, slice, nblk);
          if (!rr.error.empty()) {
            std::printf("%-44s %-18s KERNEL ERROR  FAIL\n      %s\n", label.c_str(), mode_name(mode), rr.error.c_str());
            failed++;
            continue;
          }
          double se = 0, sr = 0, maxerr = 0;
          long long nbad = 0, firstbad = -1;
          for (size_t i = 0; i < rr.y.size(); i++) {
            double r = ref[i], e = std::isnan(rr.y[i]) ? INFINITY : std::fabs(rr.y[i] - r);
            se += e * e; sr += r * r;
            maxerr = std::max(maxerr, e);
            if (!(e <= kTol.atol + kTol.rtol * std::fabs(r))) { nbad++; if (firstbad < 0) firstbad = (long long)i; }
          }
          double nmse = sr > 0 ? se / sr : se;
          bool same = true;
          if (first.empty()) first = rr.y;
          else same = std::memcmp(first.data(), rr.y.data(), first.size() * 4) == 0;
          bool pass = rr.guard.empty() && rr.unwritten == 0 && nbad == 0 && nmse <= kTol.nmse && same;
          std::printf("%-44s %-18s nmse %.2e  max err %.2e%s  %s", label.c_str(), mode_name(mode), nmse, maxerr,
                      mode == 0 ? "" : same ? "  =first" : "  DIFFERS", pass ? "pass" : "FAIL");
          if (opt.verbose) std::printf("  (%.2f s, %llu grid-barrier atomics in the last launch)", rr.secs, dfer_emu::last_stats().atomics);
          std::printf("\n");
          if (!pass) {
            if (!rr.guard.empty()) std::printf("      guard band: %s\n", rr.guard.c_str());
            if (rr.unwritten) std::printf("      %lld output elements never written\n", rr.unwritten);
            if (!same) std::printf("      output differs bitwise from %s\n", mode_name(0));
            if (firstbad >= 0) {
              int dirs = cs.dirs();
              long long i = firstbad;
              int j = (int)(i % cs.h), d = (int)(i / cs.h % dirs), t = (int)(i / (cs.h * dirs) % cs.l), b = (int)(i / ((long long)cs.h * dirs * cs.l));
              std::printf("      %lld bad; first (b%d, t%d, d%d, j%d): got %.7g, expected %.7g\n", nbad, b, t, d, j, rr.y[i], ref[i]);
            }
          }
          std::fflush(stdout);
          (pass ? passed : failed)++;
        }
      }
    }
  } catch (const std::exception& e) {
    std::printf("harness error: %s\n", e.what());
    return 2;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("lstm_emu: %d passed, %d failed (%.1f s)\n", passed, failed, secs);
  return failed ? 1 : 0;
}
