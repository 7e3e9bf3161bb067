// Self-test of the CUDA emulator (cuda_emu.h) against hand-computed values. It is the arbiter of the
// emulator: the fragment layouts here are written out independently from docs/kernel-interface.md.
//   g++ -std=c++20 -O2 -DDFER_EMULATE -o /tmp/emu_selftest native/emu/emu_selftest.cpp && /tmp/emu_selftest
// Exit code 0 = all checks pass, 1 = a check failed.
#define DFER_EMU_DEFINE_TYPES
#include "cuda_emu.h"

#include <cstdio>
#include <random>
#include <string>

using namespace dfer;
using dfer_emu::DeviceBuffer;
using dfer_emu::KernelError;

static int g_failures = 0, g_checks = 0;
#define CHECK(cond, ...)                                              \
  do {                                                                \
    g_checks++;                                                       \
    if (!(cond)) {                                                    \
      g_failures++;                                                   \
      std::printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
      std::printf(__VA_ARGS__);                                       \
      std::printf("\n");                                              \
    }                                                                 \
  } while (0)

static float bits_f(u32 u) { return dfer_emu::bits_f32(u); }
static u32 f_bits(float f) { return dfer_emu::f32_bits(f); }

// Expect launch() to throw a KernelError whose message contains `what`.
template <class F>
static void expect_error(const char* name, const char* what, F&& f) {
  try {
    f();
    g_checks++; g_failures++;
    std::printf("  FAIL %s: no error raised (expected \"%s\")\n", name, what);
  } catch (const KernelError& e) {
    g_checks++;
    if (std::string(e.what()).find(what) == std::string::npos) {
      g_failures++;
      std::printf("  FAIL %s: error \"%s\" lacks \"%s\"\n", name, e.what(), what);
    } else {
      std::printf("  ok   %s -> %s\n", name, e.what());
    }
  }
}

// ------------------------------------------------------------------------------------------
static void test_conversions() {
  std::printf("conversions\n");
  auto bf = [](float v) { return from_float<bf16>(v).bits; };
  auto hf = [](float v) { return from_float<f16>(v).bits; };
  CHECK(bf(1.0f) == 0x3F80, "%04x", bf(1.0f));
  CHECK(bf(-2.0f) == 0xC000, "%04x", bf(-2.0f));
  CHECK(bf(1.0f + 0x1p-8f) == 0x3F80, "tie to even (down) %04x", bf(1.0f + 0x1p-8f));
  CHECK(bf(1.0f + 3 * 0x1p-8f) == 0x3F82, "tie to even (up) %04x", bf(1.0f + 3 * 0x1p-8f));
  CHECK(bf(1.0f + 0x1p-8f + 0x1p-20f) == 0x3F81, "above tie %04x", bf(1.0f + 0x1p-8f + 0x1p-20f));
  CHECK(bf(INFINITY) == 0x7F80, "%04x", bf(INFINITY));
  CHECK(bf(3.4e38f) == 0x7F80, "overflow to inf %04x", bf(3.4e38f));
  CHECK((bf(NAN) & 0x7FFF) > 0x7F80, "NaN stays NaN %04x", bf(NAN));
  CHECK(to_float(bf16{0x4049}) == 3.140625f, "%g", to_float(bf16{0x4049}));

  CHECK(hf(1.0f) == 0x3C00, "%04x", hf(1.0f));
  CHECK(hf(-0.5f) == 0xB800, "%04x", hf(-0.5f));
  CHECK(hf(65504.0f) == 0x7BFF, "%04x", hf(65504.0f));
  CHECK(hf(65519.0f) == 0x7BFF, "%04x", hf(65519.0f));
  CHECK(hf(65520.0f) == 0x7C00, "tie at max rounds to inf %04x", hf(65520.0f));
  CHECK(hf(1e6f) == 0x7C00, "%04x", hf(1e6f));
  CHECK(hf(0x1p-14f) == 0x0400, "smallest normal %04x", hf(0x1p-14f));
  CHECK(hf(0x1p-24f) == 0x0001, "smallest subnormal %04x", hf(0x1p-24f));
  CHECK(hf(0x1p-25f) == 0x0000, "tie to even zero %04x", hf(0x1p-25f));
  CHECK(hf(0x1.8p-25f) == 0x0001, "%04x", hf(0x1.8p-25f));
  CHECK(hf(2.5f * 0x1p-24f) == 0x0002, "subnormal tie even %04x", hf(2.5f * 0x1p-24f));
  CHECK(hf(3.5f * 0x1p-24f) == 0x0004, "subnormal tie even %04x", hf(3.5f * 0x1p-24f));
  CHECK(hf(1.0f + 0x1p-11f) == 0x3C00, "tie %04x", hf(1.0f + 0x1p-11f));
  CHECK(hf(1.0f + 3 * 0x1p-11f) == 0x3C02, "tie %04x", hf(1.0f + 3 * 0x1p-11f));
  CHECK(hf(0x1.ffcp-15f) == 0x0400, "subnormal rounding up into the normals %04x", hf(0x1.ffcp-15f));
  CHECK(to_float(f16{0x0001}) == 0x1p-24f, "%g", to_float(f16{0x0001}));
  CHECK(to_float(f16{0x7BFF}) == 65504.0f, "%g", to_float(f16{0x7BFF}));
  CHECK(to_float(f16{0xC400}) == -4.0f, "%g", to_float(f16{0xC400}));
  CHECK(std::isinf(to_float(f16{0x7C00})), "inf");
  CHECK(std::isnan(to_float(f16{0x7E00})), "nan");

  CHECK(pack_bf16x2(1.0f, -2.0f) == 0xC0003F80u, "%08x", pack_bf16x2(1.0f, -2.0f));
  CHECK(pack_f16x2(1.0f, -2.0f) == 0xC0003C00u, "%08x", pack_f16x2(1.0f, -2.0f));

  CHECK(to_tf32(1.0f) == 0x3F800000u, "%08x", to_tf32(1.0f));
  CHECK(to_tf32(1.0f + 0x1p-11f) == f_bits(1.0f + 0x1p-10f), "tie away from zero %08x", to_tf32(1.0f + 0x1p-11f));
  CHECK(to_tf32(-(1.0f + 0x1p-11f)) == f_bits(-(1.0f + 0x1p-10f)), "tie away (negative) %08x", to_tf32(-(1.0f + 0x1p-11f)));
  CHECK(to_tf32(1.0f + 3 * 0x1p-11f) == f_bits(1.0f + 0x1p-9f), "tie away (odd) %08x", to_tf32(1.0f + 3 * 0x1p-11f));
  CHECK(to_tf32(1.0f + 0x1p-11f - 0x1p-23f) == 0x3F800000u, "below tie %08x", to_tf32(1.0f + 0x1p-11f - 0x1p-23f));
  CHECK((to_tf32(0.1f) & 0x1FFFu) == 0, "low bits clear");

#if defined(__FLT16_MAX__)
  // Cross-check f16 rounding with the compiler's _Float16 (IEEE RNE) over many random floats.
  std::mt19937 rng(7);
  int bad = 0;
  for (int i = 0; i < 2000000 && bad < 5; i++) {
    u32 u = rng();
    float v = bits_f(u);
    if (std::isnan(v)) continue;
    // concentrate on the f16 range
    if (i & 1) v = std::ldexp(std::ldexp(v, -std::ilogb(v)), (int)(rng() % 50) - 30);
    _Float16 h = (_Float16)v;
    u16 ref; std::memcpy(&ref, &h, 2);
    if (ref != hf(v)) { bad++; std::printf("  f16 mismatch %a: ours %04x, _Float16 %04x\n", v, hf(v), ref); }
    float back = (float)h;
    if (to_float(f16{ref}) != back && !std::isnan(back)) { bad++; std::printf("  f16->f32 mismatch %04x\n", ref); }
  }
  CHECK(bad == 0, "%d f16 mismatches vs _Float16", bad);
#endif
}

// ------------------------------------------------------------------------------------------
// One mma on a single warp. Fragments per docs/kernel-interface.md; A, B, C small integers (exact).
static float gA[16][16], gB[16][8], gC[16][8], gD[16][8];

static void mma_kernel(int kind) {
  int lane = threadIdx.x % 32, g = lane >> 2, q = lane & 3;
  u32 a[4], b[2];
  float d[4] = {gC[g][2 * q], gC[g][2 * q + 1], gC[g + 8][2 * q], gC[g + 8][2 * q + 1]};
  if (kind == 2) {
    a[0] = to_tf32(gA[g][q]); a[1] = to_tf32(gA[g + 8][q]); a[2] = to_tf32(gA[g][q + 4]); a[3] = to_tf32(gA[g + 8][q + 4]);
    b[0] = to_tf32(gB[q][g]); b[1] = to_tf32(gB[q + 4][g]);
    mma_tf32_1688(d, a, b);
  } else {
    auto pk = kind == 0 ? pack_bf16x2 : pack_f16x2;
    a[0] = pk(gA[g][2 * q], gA[g][2 * q + 1]);
    a[1] = pk(gA[g + 8][2 * q], gA[g + 8][2 * q + 1]);
    a[2] = pk(gA[g][2 * q + 8], gA[g][2 * q + 9]);
    a[3] = pk(gA[g + 8][2 * q + 8], gA[g + 8][2 * q + 9]);
    b[0] = pk(gB[2 * q][g], gB[2 * q + 1][g]);
    b[1] = pk(gB[2 * q + 8][g], gB[2 * q + 9][g]);
    if (kind == 0) mma_bf16_16816(d, a, b);
    else mma_f16_16816(d, a, b);
  }
  gD[g][2 * q] = d[0]; gD[g][2 * q + 1] = d[1]; gD[g + 8][2 * q] = d[2]; gD[g + 8][2 * q + 1] = d[3];
}

static void test_mma() {
  std::printf("mma\n");
  const char* names[] = {"mma_bf16_16816", "mma_f16_16816", "mma_tf32_1688"};
  for (int kind = 0; kind < 3; kind++) {
    int K = kind == 2 ? 8 : 16;
    for (int i = 0; i < 16; i++)
      for (int k = 0; k < 16; k++) gA[i][k] = (float)((i * 7 + k * 3) % 11 - 5);  // distinct, asymmetric
    for (int k = 0; k < 16; k++)
      for (int j = 0; j < 8; j++) gB[k][j] = (float)((k * 5 + j * 2) % 9 - 4);
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 8; j++) gC[i][j] = (float)(i * 8 + j) * 0.5f, gD[i][j] = NAN;
    dfer_emu::launch(mma_kernel, dim3(1), dim3(32), 0, kind);
    int bad = 0;
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 8; j++) {
        float ref = gC[i][j];
        for (int k = 0; k < K; k++) ref += gA[i][k] * gB[k][j];
        if (gD[i][j] != ref) {
          if (bad++ < 3) std::printf("  %s D[%d][%d] = %g, expected %g\n", names[kind], i, j, gD[i][j], ref);
        }
      }
    CHECK(bad == 0, "%s: %d wrong elements", names[kind], bad);
    // Hand-computed spot value: D[1][2] = C[1][2] + sum_k A[1][k] B[k][2].
    float hand = 5.0f;  // C[1][2] = (1*8+2)*0.5
    for (int k = 0; k < K; k++) hand += (float)((7 + 3 * k) % 11 - 5) * (float)((5 * k + 4) % 9 - 4);
    CHECK(gD[1][2] == hand, "%s D[1][2] = %g, hand %g", names[kind], gD[1][2], hand);
  }
  // tf32 operands: the low 13 mantissa bits are not read (a raw float is truncated).
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 16; k++) gA[i][k] = 0;
  for (int k = 0; k < 16; k++)
    for (int j = 0; j < 8; j++) gB[k][j] = 0;
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) gC[i][j] = 0;
  gA[0][0] = 1.0f; gB[0][0] = 1.0f;
  dfer_emu::launch(mma_kernel, dim3(1), dim3(32), 0, 2);
  CHECK(gD[0][0] == 1.0f, "%g", gD[0][0]);
  // bf16 precision: 1 + 2^-8 is not representable; the operand is rounded by pack_bf16x2 (to 1).
  gA[0][0] = 1.0f + 0x1p-8f + 0x1p-9f;  // rounds to 1 + 2^-7
  dfer_emu::launch(mma_kernel, dim3(1), dim3(32), 0, 0);
  CHECK(gD[0][0] == 1.0f + 0x1p-7f, "%a", gD[0][0]);
}

// ------------------------------------------------------------------------------------------
// ldmatrix: a 16x16 u16 tile in static shared memory, value = row*100 + col.
static u32 gLd[32][4];
static u16 gRowOffset;  // misalignment to inject (in u16 elements)
static int gLdMode;

static void ldmatrix_kernel(int nmat) {
  __shared__ __align__(16) u16 tile[16][16];
  int t = threadIdx.x;
  for (int e = t; e < 256; e += blockDim.x) tile[e / 16][e % 16] = (u16)((e / 16) * 100 + e % 16);
  __syncthreads();
  int lane = t % 32;
  int mat = lane / 8, r = lane % 8;
  // matrix i: rows (i&1)*8.., columns (i>>1)*8..  (the usual A-fragment arrangement)
  const u16* row = &tile[(mat & 1) * 8 + r][(mat >> 1) * 8] + gRowOffset;
  if (gLdMode == 1) row = reinterpret_cast<const u16*>(&gLd[0][0]);  // not shared memory
  if (nmat == 4) ldmatrix_x4(gLd[lane], row);
  else ldmatrix_x2(gLd[lane], row);
}

static void test_ldmatrix() {
  std::printf("ldmatrix\n");
  for (int nmat : {4, 2}) {
    gRowOffset = 0; gLdMode = 0;
    std::memset(gLd, 0, sizeof gLd);
    dfer_emu::launch(ldmatrix_kernel, dim3(1), dim3(64), 0, nmat);
    int bad = 0;
    for (int L = 0; L < 32; L++)
      for (int i = 0; i < nmat; i++) {
        int row = (i & 1) * 8 + L / 4, col = (i >> 1) * 8 + 2 * (L % 4);
        u32 want = (u32)(row * 100 + col) | ((u32)(row * 100 + col + 1) << 16);
        if (gLd[L][i] != want && bad++ < 3) std::printf("  x%d lane %d r[%d] = %08x, expected %08x\n", nmat, L, i, gLd[L][i], want);
      }
    CHECK(bad == 0, "ldmatrix_x%d: %d wrong registers", nmat, bad);
  }
  // Hand value: lane 5 of x4 gets r[3] = matrix 3 (rows 8.., cols 8..), row 1, cols 2,3 -> tile[9][10], tile[9][11] = 910, 911.
  gRowOffset = 0; gLdMode = 0;
  dfer_emu::launch(ldmatrix_kernel, dim3(1), dim3(32), 0, 4);
  CHECK(gLd[5][3] == (910u | (911u << 16)), "%08x", gLd[5][3]);
  gRowOffset = 4;
  expect_error("ldmatrix misaligned row", "not 16-byte aligned", [] { dfer_emu::launch(ldmatrix_kernel, dim3(1), dim3(32), 0, 4); });
  gRowOffset = 0; gLdMode = 1;
  expect_error("ldmatrix outside shared memory", "not inside shared memory", [] { dfer_emu::launch(ldmatrix_kernel, dim3(1), dim3(32), 0, 2); });
  gLdMode = 0;
}

// ------------------------------------------------------------------------------------------
// cp.async pipeline: 64 threads copy 4 floats each per stage (two stages, two groups).
static float gSeen[4][64];  // [probe][thread]: smem value seen at several points

static void cp_kernel(const float* src, int mode) {
  DFER_DYNAMIC_SMEM(smem);
  float* st = reinterpret_cast<float*>(smem);  // two stages of 256 floats
  int t = threadIdx.x;
  if (mode == 2) {  // misaligned global source
    cp_async_16(st + 4 * t, src + 1, true);
    return;
  }
  if (mode == 3) {  // read past the end of the registered source
    cp_async_16(st + 4 * t, src + 512 + 4 * t, true);
    return;
  }
  cp_async_16(st + 4 * t, src + 4 * t, true);                         // group 0 -> stage 0
  cp_async_commit();
  cp_async_16(st + 256 + 4 * t, src + 256 + 4 * t, (t % 2) == 0);     // group 1 -> stage 1 (odd threads zero-fill)
  cp_async_commit();
  __syncthreads();  // completes nothing
  int nb = (t + 1) % 64;  // a neighbour's chunk (read only after the barriers)
  gSeen[0][t] = st[4 * t];  // own chunk, not yet waited for -> poison
  cp_async_wait<1>();  // group 0 of THIS thread done
  __syncthreads();
  gSeen[1][t] = st[4 * nb];        // stage 0: every thread waited for its group 0 -> data
  gSeen[2][t] = st[256 + 4 * t];  // own stage-1 chunk: still in flight -> poison
  cp_async_wait<0>();
  __syncthreads();
  gSeen[3][t] = st[256 + 4 * nb];  // data or zero fill
}

static void test_cp_async() {
  std::printf("cp.async\n");
  DeviceBuffer buf(512 * sizeof(float), "src");
  float* src = buf.as<float>();
  for (int i = 0; i < 512; i++) src[i] = (float)(i + 1);
  dfer_emu::launch(cp_kernel, dim3(1), dim3(64), 2048, (const float*)src, 0);
  int bad = 0;
  for (int t = 0; t < 64; t++) {
    int nb = (t + 1) % 64;
    if (!std::isnan(gSeen[0][t])) bad++;
    if (gSeen[1][t] != (float)(4 * nb + 1)) bad++;
    if (!std::isnan(gSeen[2][t])) bad++;
    float want = nb % 2 == 0 ? (float)(256 + 4 * nb + 1) : 0.0f;
    if (gSeen[3][t] != want) bad++;
  }
  CHECK(bad == 0, "%d wrong pipeline observations (t0: %g %g %g %g)", bad, gSeen[0][0], gSeen[1][0], gSeen[2][0], gSeen[3][0]);
  CHECK(std::isnan(gSeen[0][5]), "read before wait shows the poison (%g)", gSeen[0][5]);  // despite __syncthreads
  CHECK(gSeen[1][5] == 25.0f, "after wait<1>: %g", gSeen[1][5]);
  CHECK(std::isnan(gSeen[2][5]), "newest group still pending after wait<1> (%g)", gSeen[2][5]);
  CHECK(gSeen[3][5] == 281.0f && gSeen[3][4] == 0.0f, "after wait<0>: %g %g", gSeen[3][5], gSeen[3][4]);
  expect_error("cp.async misaligned global", "not 16-byte aligned", [&] { dfer_emu::launch(cp_kernel, dim3(1), dim3(64), 2048, (const float*)src, 2); });
  expect_error("cp.async outside buffer", "outside every registered buffer", [&] { dfer_emu::launch(cp_kernel, dim3(1), dim3(64), 2048, (const float*)src, 3); });
}

// ------------------------------------------------------------------------------------------
// Barriers, shuffles, poisoned shared memory, guard pages.
static float gOut[256];

static void barrier_kernel(int mode, const float* g) {
  __shared__ float s[128];
  int t = threadIdx.x;
  if (mode == 0) {  // correct: write, barrier, read the neighbour
    s[t] = (float)(t + 1000 * blockIdx.x);
    __syncthreads();
    gOut[blockIdx.x * 128 + t] = s[(t + 1) % 128];
  } else if (mode == 1) {  // missing barrier: the emulator's schedule exposes it
    s[t] = (float)t;
    gOut[t] = s[(t + 1) % 128];
  } else if (mode == 2) {  // threads < 64 leave early, the others wait forever
    if (t < 64) return;
    __syncthreads();
  } else if (mode == 3) {  // barrier at two different sites
    if (t < 64) { __syncthreads(); }
    else { __syncthreads(); }
  } else if (mode == 4) {  // warp_sum pattern via __shfl_xor_sync
    float v = (float)(t % 32);
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    gOut[t] = v;
    gOut[128 + t] = shfl_xor((float)t, 3);
  } else if (mode == 5) {  // lanes of one warp in different collectives
    u32 r[4];
    if (t % 32 < 16) { float d[4] = {0, 0, 0, 0}; u32 a[4] = {0, 0, 0, 0}, b[2] = {0, 0}; mma_bf16_16816(d, a, b); }
    else ldmatrix_x4(r, s);
  } else if (mode == 6) {  // read past the end of a guarded global buffer
    gOut[0] = g[t * 1024];
  } else if (mode == 7) {  // dynamic shared memory starts poisoned
    DFER_DYNAMIC_SMEM(dyn);
    gOut[t] = reinterpret_cast<float*>(dyn)[t];
  }
}

static void test_barriers() {
  std::printf("barriers, shuffles, poison, guards\n");
  for (float& v : gOut) v = -1;
  dfer_emu::launch(barrier_kernel, dim3(2), dim3(128), 0, 0, (const float*)nullptr);
  int bad = 0;
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < 128; t++) bad += gOut[b * 128 + t] != (float)((t + 1) % 128 + 1000 * b);
  CHECK(bad == 0, "%d wrong after __syncthreads", bad);
  dfer_emu::launch(barrier_kernel, dim3(1), dim3(128), 0, 1, (const float*)nullptr);
  CHECK(std::isnan(gOut[0]), "missing barrier: thread 0 reads thread 1's unwritten slot = %g", gOut[0]);
  expect_error("early exit before __syncthreads", "deadlock", [] { dfer_emu::launch(barrier_kernel, dim3(1), dim3(128), 0, 2, (const float*)nullptr); });
  expect_error("__syncthreads at two sites", "divergent __syncthreads", [] { dfer_emu::launch(barrier_kernel, dim3(1), dim3(128), 0, 3, (const float*)nullptr); });
  dfer_emu::launch(barrier_kernel, dim3(1), dim3(64), 0, 4, (const float*)nullptr);
  bad = 0;
  for (int t = 0; t < 64; t++) bad += gOut[t] != 496.0f || gOut[128 + t] != (float)(t ^ 3);
  CHECK(bad == 0, "shfl_xor: %d wrong (lane 0 sum %g, xor %g)", bad, gOut[0], gOut[128 + 1]);
  expect_error("warp lanes in different collectives", "diverge", [] { dfer_emu::launch(barrier_kernel, dim3(1), dim3(32), 0, 5, (const float*)nullptr); });
  DeviceBuffer g(4096 * sizeof(float), "g");
  expect_error("read past a global buffer", "past the end of buffer 'g'", [&] { dfer_emu::launch(barrier_kernel, dim3(1), dim3(32), 0, 6, (const float*)g.as<float>()); });
  dfer_emu::launch(barrier_kernel, dim3(1), dim3(32), 512, 7, (const float*)nullptr);
  CHECK(std::isnan(gOut[3]), "dynamic smem poisoned: %g", gOut[3]);
  // the emulator still works after the errors above
  dfer_emu::launch(barrier_kernel, dim3(1), dim3(128), 0, 0, (const float*)nullptr);
  CHECK(gOut[5] == 6.0f, "after errors: %g", gOut[5]);
}

// ------------------------------------------------------------------------------------------
// atomic_add_f32 (red.global.add.f32): 3 blocks x 128 threads add into shared slots of a global
// buffer; integer-valued sums stay exact in fp32, so the totals are checked exactly.
static void atomic_kernel(float* out, int mode) {
  int t = threadIdx.x;
  if (mode == 1) {  // misaligned address
    atomic_add_f32(reinterpret_cast<float*>(reinterpret_cast<char*>(out) + 2), 1.0f);
    return;
  }
  if (mode == 2) {  // one float past the 1024-float buffer
    atomic_add_f32(out + 1024, 1.0f);
    return;
  }
  atomic_add_f32(out + (t % 4), (float)(blockIdx.x * 1000 + t));
  atomic_add_f32(out + 4 + blockIdx.x, 0.5f);
}

static void test_atomics() {
  std::printf("atomics\n");
  DeviceBuffer buf(1024 * sizeof(float), "acc");
  float* out = buf.as<float>();
  std::fill(out, out + 1024, 0.0f);
  dfer_emu::launch(atomic_kernel, dim3(3), dim3(128), 0, out, 0);
  // slot j < 4: sum over blocks b < 3 and threads t = j (mod 4) of 1000 b + t = 96000 + 3 (32 j + 1984)
  for (int j = 0; j < 4; j++) CHECK(out[j] == 96000.0f + 3.0f * (32 * j + 1984), "slot %d = %.1f", j, out[j]);
  for (int b = 0; b < 3; b++) CHECK(out[4 + b] == 64.0f, "block %d's slot = %g", b, out[4 + b]);
  CHECK(out[7] == 0.0f, "untouched slot = %g", out[7]);
  CHECK(dfer_emu::last_stats().atomics == 768, "%llu atomics counted", dfer_emu::last_stats().atomics);
  expect_error("atomic_add_f32 misaligned", "not 4-byte aligned", [&] { dfer_emu::launch(atomic_kernel, dim3(1), dim3(32), 0, out, 1); });
  expect_error("atomic_add_f32 past the buffer", "outside every registered global buffer",
               [&] { dfer_emu::launch(atomic_kernel, dim3(1), dim3(32), 0, out, 2); });
}

int main() {
  test_conversions();
  test_mma();
  test_ldmatrix();
  test_cp_async();
  test_barriers();
  test_atomics();
  std::printf("emu_selftest: %d checks, %d failed -> %s\n", g_checks, g_failures, g_failures ? "FAIL" : "PASS");
  return g_failures ? 1 : 0;
}
