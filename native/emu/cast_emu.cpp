// The precision casts of native/kernels/cast.cu (cast_f32_bf16, cast_f32_f16, cast_bf16_f32, cast_f16_f32) run on
// the CPU emulator against a reference that works on values, not bits: a narrowing cast is the float64 value
// rounded to the format's precision with nearbyint (round to nearest even) at the exponent the format gives it
// (subnormals below its smallest normal, infinity from its largest finite + half an ulp), then encoded; a widening
// cast decodes sign, exponent and mantissa with ldexp. Results are compared bit for bit (signed zeros included);
// a NaN must stay a NaN.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -o /tmp/cast_emu native/emu/cast_emu.cpp
//   /tmp/cast_emu native/kernels/cast.cu [--filter SUBSTRING] [--verbose]
// The launch shapes come from the `// launch <name>: ...` lines of the .cu file named on the command line:
// grid = (min(ceil(n / tile_m), cap), 1, 1), cap = 1 << 20 as in the host, or 1-3 blocks to exercise the
// grid-stride loop. Every output sits between guard bands of sentinels that must stay untouched, and every
// element must be written. One line per case; exit code 0 = all pass, 1 = a case failed, 2 = harness error.
#include "cuda_emu.h"

#ifndef DFER_CAST_SOURCE
#define DFER_CAST_SOURCE "../kernels/cast.cu"
#endif
#include DFER_CAST_SOURCE

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

constexpr unsigned kHostGridCap = 1u << 20;  // the host's cap on grid.x
const size_t G = 64;                         // sentinel elements on each side of an output

// Sentinels: NaNs with a payload no cast produces (a narrowing cast's NaN is sign | 0x7fff).
const uint16_t kSentinel16 = 0x7FA5u;
const uint32_t kSentinel32 = 0x7FA5A5A5u;

// A binary floating-point format: mantissa bits (without the hidden one), exponent bits.
struct Format { const char* name; int mant, exp; };
const Format kBf16{"bf16", 7, 8}, kF16{"f16", 10, 5}, kF32{"f32", 23, 8};

int bias(const Format& f) { return (1 << (f.exp - 1)) - 1; }

// The value of an encoding (NaN for every NaN encoding).
double decode(const Format& f, uint32_t bits) {
  const uint32_t mmask = (1u << f.mant) - 1, emax = (1u << f.exp) - 1;
  const bool neg = (bits >> (f.mant + f.exp)) & 1u;
  const uint32_t e = (bits >> f.mant) & emax, m = bits & mmask;
  double v;
  if (e == emax) v = m ? std::nan("") : INFINITY;
  else if (e == 0) v = std::ldexp((double)m, 1 - bias(f) - f.mant);
  else v = std::ldexp((double)(m | (1u << f.mant)), (int)e - bias(f) - f.mant);
  return neg ? -v : v;
}

// x rounded to the format (nearest, ties to even; overflow to infinity), encoded. x is finite or infinite, not NaN.
uint32_t round_encode(const Format& f, double x) {
  const uint32_t sign = std::signbit(x) ? 1u << (f.mant + f.exp) : 0u;
  const uint32_t emax = (1u << f.exp) - 1;
  const double a = std::fabs(x);
  if (a == 0) return sign;
  if (std::isinf(a)) return sign | (emax << f.mant);
  int e2;
  std::frexp(a, &e2);              // a = r * 2^e2, r in [0.5, 1): the leading bit has weight 2^(e2 - 1)
  const int emin = 1 - bias(f);    // exponent of the smallest normal
  const int lead = std::max(e2 - 1, emin);
  const double ulp = std::ldexp(1.0, lead - f.mant);
  const double q = std::nearbyint(a / ulp);  // a / ulp is exact (a has at most 24 significant bits); rint is ties-to-even
  const double r = q * ulp;
  if (r >= std::ldexp(1.0, (int)emax - bias(f))) return sign | (emax << f.mant);  // past the largest finite: infinity
  if (r < std::ldexp(1.0, emin)) return sign | (uint32_t)q;                       // subnormal (or zero): q is the mantissa
  int er;
  const double rr = std::frexp(r, &er);  // r = rr * 2^er, rr in [0.5, 1)
  const uint32_t m = (uint32_t)std::ldexp(rr, f.mant + 1) - (1u << f.mant);
  return sign | ((uint32_t)(er - 1 + bias(f)) << f.mant) | m;
}

unsigned grid_for(long long work, int per_block, unsigned cap) {
  long long g = (work + per_block - 1) / per_block;
  if (g < 1) g = 1;
  return (unsigned)std::min<long long>(g, cap);
}

uint32_t f32_bits(float v) { uint32_t u; std::memcpy(&u, &v, 4); return u; }
float f32_of(uint32_t u) { float v; std::memcpy(&v, &u, 4); return v; }

// Inputs of a narrowing cast: the boundaries of both formats (ties at even and odd, the overflow threshold, the
// subnormal range and its ties, signed zeros, infinities, NaN), then `random` random bit patterns (NaNs kept
// positive) and `random` values of every binade that f16 reaches.
std::vector<float> narrowing_inputs(size_t random, uint64_t seed) {
  std::vector<float> v;
  for (double s : {1.0, -1.0}) {
    for (double d : {0.0, 1.0, 1.5, 65504.0, 65519.0, 65520.0, 65535.0, 65536.0, 1e6, 3.0e38,
                     1.0 + std::ldexp(1.0, -8), 1.0 + 3 * std::ldexp(1.0, -8), 1.0 + std::ldexp(1.0, -11),
                     1.0 + 3 * std::ldexp(1.0, -11), 1.0 + std::ldexp(1.0, -9), 1.0 + std::ldexp(1.0, -12),
                     std::ldexp(1.0, -14), std::ldexp(1.0, -15), std::ldexp(1.0, -24), std::ldexp(1.0, -25),
                     3 * std::ldexp(1.0, -25), std::ldexp(1.0, -26), std::ldexp(1.0, -126), std::ldexp(1.0, -133),
                     std::ldexp(1.0, -149), 3 * std::ldexp(1.0, -134)})
      v.push_back((float)(s * d));
    v.push_back((float)(s * INFINITY));
    v.push_back(f32_of(f32_bits(3.0e38f) | 0xFFFFu));  // the largest finite floats
    v.push_back(s > 0 ? f32_of(0x7F7FFFFFu) : f32_of(0xFF7FFFFFu));
  }
  v.push_back(std::nanf(""));
  v.push_back(f32_of(0x7F800001u));  // a signalling NaN
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < random; i++) {
    uint32_t u = (uint32_t)rng();
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu)) u &= 0x7FFFFFFFu;  // NaNs positive
    v.push_back(f32_of(u));
  }
  std::uniform_real_distribution<double> frac(1.0, 2.0);
  for (size_t i = 0; i < random; i++) {
    const int e = (int)(rng() % 45) - 28;  // 2^-28 .. 2^16: subnormal f16 to past its overflow
    const double d = std::ldexp(frac(rng), e) * ((rng() & 1) ? -1 : 1);
    v.push_back((float)d);
  }
  return v;
}

struct Result { std::string err; long long n = 0; unsigned grid = 0; };

// First problem of a 16-bit output against its reference bits: guard bands, unwritten elements, mismatches.
template <class Out, class Ref>
std::string check(const Out* guarded, size_t count, Out sentinel, const Ref& expect, const char* what) {
  for (size_t i = 0; i < G; i++)
    if (guarded[i] != sentinel) return dfer_emu::format("guard band: wrote element %lld (before the start)", (long long)i - (long long)G);
  for (size_t i = 0; i < G; i++)
    if (guarded[G + count + i] != sentinel) return dfer_emu::format("guard band: wrote element %zu (past the end, %zu)", count + i, count);
  long long unwritten = 0, bad = 0, first = -1;
  std::string first_why;
  for (size_t i = 0; i < count; i++) {
    const Out got = guarded[G + i];
    if (got == sentinel) { unwritten++; continue; }
    std::string why = expect(i, got);
    if (!why.empty()) { if (!bad++) { first = (long long)i; first_why = why; } }
  }
  if (unwritten) return dfer_emu::format("%lld elements never written", unwritten);
  if (bad) return dfer_emu::format("%lld of %zu %s elements wrong; first [%lld]: %s", bad, count, what, first, first_why.c_str());
  return "";
}

template <class T>
Result run_narrow(const Format& f, void (*kernel)(const float*, T*, dfer::i64), const std::vector<float>& x,
                  const LaunchShape& l, unsigned cap, const char* kname) {
  Result res;
  res.n = (long long)x.size();
  DeviceBuffer bx(x.size() * 4, "x"), by((x.size() + 2 * G) * 2, "y(+guards)");
  std::memcpy(bx.data(), x.data(), x.size() * 4);
  uint16_t* yg = by.as<uint16_t>();
  for (size_t i = 0; i < x.size() + 2 * G; i++) yg[i] = kSentinel16;
  res.grid = grid_for(res.n, l.tile_m, cap);
  try {
    dfer_emu::launch(kernel, dim3(res.grid), dim3(l.block), (size_t)l.smem, bx.as<const float>(),
                     reinterpret_cast<T*>(yg + G), (dfer::i64)res.n);
  } catch (const KernelError& e) {
    res.err = std::string(kname) + ": " + e.what();
    return res;
  }
  const uint32_t nan_exp = ((1u << f.exp) - 1) << f.mant, mmask = (1u << f.mant) - 1;
  res.err = check<uint16_t>(yg, x.size(), kSentinel16, [&](size_t i, uint16_t got) -> std::string {
    const float v = x[i];
    if (std::isnan(v)) {
      if ((got & nan_exp) == nan_exp && (got & mmask)) return "";
      return dfer_emu::format("x = NaN (0x%08x): got 0x%04x, not a NaN", f32_bits(v), got);
    }
    const uint32_t want = round_encode(f, (double)v);
    if (got == want) return "";
    return dfer_emu::format("x = %.9g (0x%08x): got 0x%04x (%.9g), expected 0x%04x (%.9g)", (double)v, f32_bits(v), got,
                            decode(f, got), want, decode(f, want));
  }, f.name);
  return res;
}

template <class T>
Result run_widen(const Format& f, void (*kernel)(const T*, float*, dfer::i64), const std::vector<uint16_t>& x,
                 const LaunchShape& l, unsigned cap, const char* kname) {
  Result res;
  res.n = (long long)x.size();
  DeviceBuffer bx(x.size() * 2, "x"), by((x.size() + 2 * G) * 4, "y(+guards)");
  std::memcpy(bx.data(), x.data(), x.size() * 2);
  uint32_t* yg = by.as<uint32_t>();
  for (size_t i = 0; i < x.size() + 2 * G; i++) yg[i] = kSentinel32;
  res.grid = grid_for(res.n, l.tile_m, cap);
  try {
    dfer_emu::launch(kernel, dim3(res.grid), dim3(l.block), (size_t)l.smem, reinterpret_cast<const T*>(bx.data()),
                     reinterpret_cast<float*>(yg + G), (dfer::i64)res.n);
  } catch (const KernelError& e) {
    res.err = std::string(kname) + ": " + e.what();
    return res;
  }
  res.err = check<uint32_t>(yg, x.size(), kSentinel32, [&](size_t i, uint32_t got) -> std::string {
    const double want = decode(f, x[i]);
    const float g = f32_of(got);
    if (std::isnan(want) ? std::isnan(g) : round_encode(kF32, want) == got) return "";
    return dfer_emu::format("x = 0x%04x: got 0x%08x (%.9g), expected %.9g", x[i], got, (double)g, want);
  }, "f32");
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  dfer_harness::Options opt;
  if (!dfer_harness::parse_options(argc, argv, "cast_emu", "cast.cu", false, opt)) return 2;
  const bool verbose = opt.verbose;
  auto t0 = std::chrono::steady_clock::now();
  int passed = 0, failed = 0;
  try {
    auto table = parse_launch_table(opt.path);
    for (const char* k : {"cast_f32_bf16", "cast_f32_f16", "cast_bf16_f32", "cast_f16_f32"})
      if (!table.count(k)) throw HarnessError(std::string(k) + " is missing from the launch table");
    auto run = [&](const std::string& name, auto&& body) {
      if (name.find(opt.filter) == std::string::npos) return;
      auto c0 = std::chrono::steady_clock::now();
      Result r = body();
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      std::printf("%-40s n %8lld  %s", name.c_str(), r.n, r.err.empty() ? "pass" : "FAIL");
      if (verbose) std::printf("  (grid %u, %.2f s)", r.grid, secs);
      std::printf("\n");
      if (!r.err.empty()) std::printf("      %s\n", r.err.c_str());
      (r.err.empty() ? passed : failed)++;
    };
    const std::vector<float> big = narrowing_inputs(20000, 0xCA57), one = {1.0f + std::ldexp(1.0f, -9)};
    std::vector<float> odd(big.begin(), big.begin() + 1000 + 37);
    std::vector<uint16_t> all(65536);
    for (size_t i = 0; i < all.size(); i++) all[i] = (uint16_t)i;
    std::vector<uint16_t> few(all.begin() + 0x3C00, all.begin() + 0x3C00 + 300);
    struct Cap { const char* name; unsigned cap; };
    for (Cap c : {Cap{"", kHostGridCap}, Cap{" grid3", 3u}, Cap{" grid1", 1u}}) {
      const bool capped = c.cap != kHostGridCap;
      auto nm = [&](const char* k, const char* what) { return std::string(k) + " " + what + c.name; };
      run(nm("cast_f32_bf16", capped ? "n1037" : "boundaries+random"), [&] {
        return run_narrow<dfer::bf16>(kBf16, cast_f32_bf16, capped ? odd : big, table["cast_f32_bf16"], c.cap, "cast_f32_bf16");
      });
      run(nm("cast_f32_f16", capped ? "n1037" : "boundaries+random"), [&] {
        return run_narrow<dfer::f16>(kF16, cast_f32_f16, capped ? odd : big, table["cast_f32_f16"], c.cap, "cast_f32_f16");
      });
      run(nm("cast_bf16_f32", capped ? "n300" : "all65536"), [&] {
        return run_widen<dfer::bf16>(kBf16, cast_bf16_f32, capped ? few : all, table["cast_bf16_f32"], c.cap, "cast_bf16_f32");
      });
      run(nm("cast_f16_f32", capped ? "n300" : "all65536"), [&] {
        return run_widen<dfer::f16>(kF16, cast_f16_f32, capped ? few : all, table["cast_f16_f32"], c.cap, "cast_f16_f32");
      });
    }
    run("cast_f32_bf16 n1", [&] { return run_narrow<dfer::bf16>(kBf16, cast_f32_bf16, one, table["cast_f32_bf16"], kHostGridCap, "cast_f32_bf16"); });
    run("cast_f32_f16 n1", [&] { return run_narrow<dfer::f16>(kF16, cast_f32_f16, one, table["cast_f32_f16"], kHostGridCap, "cast_f32_f16"); });
  } catch (const std::exception& e) {
    std::printf("harness error: %s\n", e.what());
    return 2;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("cast_emu: %d passed, %d failed (%.1f s)\n", passed, failed, secs);
  return failed ? 1 : 0;
}
