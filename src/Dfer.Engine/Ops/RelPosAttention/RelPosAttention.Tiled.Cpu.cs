using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.RelPosAttention;

/// <summary>
/// relposattn on AVX2+FMA as blocked flash attention. First, per (b, head), keys are packed
/// transposed in panels of 16 (<c>Kp[panel][d][16]</c>) and values in panels of 16 head-dim columns
/// (<c>Vp[dpanel][key][16]</c>), zero-padded. A work item is then 6 query rows of one (b, head): for each
/// chunk of 64 keys it computes the 6×64 logits with 6×16 register tiles over d (one broadcast query
/// value times a 16-key row of Kp per step), adds the three bias lookups, folds the chunk into a
/// running max/sum (online softmax), and accumulates P·V with 6×16 tiles over the chunk's keys.
/// Nothing larger than 6 × 64 logits exists at any time; every multiply-add runs in a 12-accumulator
/// tile, as in the convolution kernels.
/// </summary>
internal sealed unsafe class RelPosAttentionTiled : IDisposable
{
    private const int MR = 6, NR = 16, KC = 64;
    private readonly RelPosAttentionOp _op;
    private readonly float* _relT, _relH, _relW;
    private readonly int _d, _dPanels, _nkPad, _bias;
    private readonly int[] _keyT, _keyY, _keyX;
    private NativeBuffer? _packed;
    private readonly PackWork _pack;
    private readonly RowWork _rows;

    public RelPosAttentionTiled(RelPosAttentionOp op, float* relT, float* relH, float* relW)
    {
        _op = op; _relT = relT; _relH = relH; _relW = relW;
        _d = op.HeadDim;
        _dPanels = (_d + NR - 1) / NR;
        _nkPad = (op.Nk + KC - 1) / KC * KC;
        _bias = op.KGrid.T + op.KGrid.H + op.KGrid.W;
        // Grid coordinates of key m ≥ 1 (key 0, the class token, gets no bias).
        // Padded to whole chunks (zeros: valid indices) so the AVX-512 path gathers 16 keys at a time.
        _keyT = new int[_nkPad]; _keyY = new int[_nkPad]; _keyX = new int[_nkPad];
        for (int m = 1; m < op.Nk; m++)
        {
            int i = m - 1;
            _keyX[m] = i % op.KGrid.W; _keyY[m] = i / op.KGrid.W % op.KGrid.H; _keyT[m] = i / (op.KGrid.W * op.KGrid.H);
        }
        _pack = new PackWork(this);
        _rows = new RowWork(this);
    }

    /// <summary>Floats of one (b, head)'s packed keys and values.</summary>
    private long PackFloats => (long)_nkPad * _d + (long)_dPanels * _nkPad * NR;

    /// <summary>Per-thread scratch: logits [6][64], accumulators [6][dPanels·16], bias projections [6][kt+kh+kw], max
    /// and sum [6] each.</summary>
    private long ScratchFloats => MR * KC + (long)MR * _dPanels * NR + (long)MR * _bias + 2 * MR;

    public void Run(CpuContext ctx, Tensor q, Tensor k, Tensor v, Tensor y)
    {
        int bh = y.Shape[0] * _op.Heads;
        long need = bh * PackFloats * sizeof(float);
        if (_packed == null || _packed.Bytes < need) { _packed?.Dispose(); _packed = new NativeBuffer(need); }
        _pack.K = k.Data; _pack.V = v.Data;
        ctx.Pool.Run(_pack, bh);
        _rows.Q = q.Data; _rows.Y = y.Data; _rows.Ctx = ctx;
        _rows.Blocks = (_op.Nq + MR - 1) / MR;
        ctx.Pool.Run(_rows, bh * _rows.Blocks);
        _rows.Ctx = null;
    }

    private float* Packed(int bh) => (float*)_packed!.Pointer + bh * PackFloats;

    private sealed class PackWork(RelPosAttentionTiled t) : IParallelWork
    {
        public float* K, V;

        public void Execute(int bh, int thread)
        {
            int d = t._d, nk = t._op.Nk, nkPad = t._nkPad;
            float* kp = t.Packed(bh), vp = kp + (long)nkPad * d;
            float* kb = K + (long)bh * nk * d, vb = V + (long)bh * nk * d;
            new Span<float>(kp, (int)t.PackFloats).Clear();
            for (int m = 0; m < nk; m++)
            {
                float* kr = kb + (long)m * d, vr = vb + (long)m * d;
                float* kd = kp + (long)(m / NR) * d * NR + m % NR;
                for (int j = 0; j < d; j++) kd[j * NR] = kr[j];
                for (int j = 0; j < d; j++) vp[((long)(j / NR) * nkPad + m) * NR + j % NR] = vr[j];
            }
        }
    }

    private sealed class RowWork(RelPosAttentionTiled t) : IParallelWork
    {
        public float* Q, Y;
        public int Blocks;
        public CpuContext? Ctx;

        public void Execute(int index, int thread)
        {
            var op = t._op;
            int d = t._d, nq = op.Nq, nk = op.Nk, dPanels = t._dPanels, nkPad = t._nkPad, nb = t._bias;
            var (qt, qh, qw) = op.QGrid;
            var (kt, kh, kw) = op.KGrid;
            int bh = index / Blocks, n0 = index % Blocks * MR, rows = Math.Min(MR, nq - n0);
            float* kp = t.Packed(bh), vp = kp + (long)nkPad * d;
            float* qb = Q + (long)bh * nq * d;
            float* scratch = Ctx!.Scratch(thread, t.ScratchFloats);
            float* s = scratch, acc = s + MR * KC, proj = acc + MR * dPanels * NR, max = proj + MR * nb, sum = max + MR;
            float scale = (float)op.Scale;

            float** qr = stackalloc float*[MR];
            for (int r = 0; r < MR; r++) qr[r] = qb + (long)(n0 + Math.Min(r, rows - 1)) * d;
            new Span<float>(acc, MR * dPanels * NR).Clear();
            for (int r = 0; r < MR; r++) { max[r] = float.NegativeInfinity; sum[r] = 0f; }
            // Bias projections of each non-class query: its unscaled q' against every table row it can reach.
            for (int r = 0; r < rows; r++)
            {
                int n = n0 + r;
                if (n == 0) continue;
                int i = n - 1, x = i % qw, yy = i / qw % qh, tt = i / (qw * qh);
                float* pr = proj + r * nb;
                for (int a = 0; a < kt; a++)
                    pr[a] = Dot(qr[r], t._relT + (long)RelPosAttentionOp.RelIndex(tt, a, qt, kt) * d, d);
                for (int a = 0; a < kh; a++)
                    pr[kt + a] = Dot(qr[r], t._relH + (long)RelPosAttentionOp.RelIndex(yy, a, qh, kh) * d, d);
                for (int a = 0; a < kw; a++)
                    pr[kt + kh + a] = Dot(qr[r], t._relW + (long)RelPosAttentionOp.RelIndex(x, a, qw, kw) * d, d);
            }

            if (Ctx.UseAvx512)
            {
                fixed (int* keyT = t._keyT, keyY = t._keyY, keyX = t._keyX)
                    Chunks512(qr, kp, vp, s, acc, proj, max, sum, rows, n0, scale, keyT, keyY, keyX);
            }
            else
                for (int m0 = 0; m0 < nk; m0 += KC)
                {
                    int len = Math.Min(KC, nk - m0);
                    for (int p = 0; p < KC / NR; p++)
                        QkTile(qr, kp + (long)(m0 / NR + p) * d * NR, d, s + p * NR);
                    for (int r = 0; r < rows; r++)
                    {
                        float* sr = s + r * KC;
                        bool biased = n0 + r > 0;
                        float* pt = proj + r * nb, ph = pt + kt, pw = ph + kh;
                        float cmax = float.NegativeInfinity;
                        for (int c = 0; c < len; c++)
                        {
                            int m = m0 + c;
                            float l = sr[c] * scale;
                            if (biased && m > 0) l += pt[t._keyT[m]] + ph[t._keyY[m]] + pw[t._keyX[m]];
                            sr[c] = l;
                            if (l > cmax) cmax = l;
                        }
                        for (int c = len; c < KC; c++) sr[c] = float.NegativeInfinity;
                        Fold(sr, cmax, max + r, sum + r, acc + r * dPanels * NR, dPanels * NR);
                    }
                    for (int r = rows; r < MR; r++) new Span<float>(s + r * KC, KC).Clear();
                    for (int dp = 0; dp < dPanels; dp++)
                        PvTile(s, vp + ((long)dp * nkPad + m0) * NR, acc + dp * NR, dPanels * NR);
                }

            Finish(qb, bh, rows, n0, acc, sum, qr);
        }

        /// <summary>y = acc / sum for the item's rows (plus the query where residual pooling applies).</summary>
        private void Finish(float* qb, int bh, int rows, int n0, float* acc, float* sum, float** qr)
        {
            var op = t._op;
            int d = t._d, nq = op.Nq, dPanels = t._dPanels;
            for (int r = 0; r < rows; r++)
            {
                int n = n0 + r;
                float inv = 1f / sum[r];
                float* yr = Y + ((long)bh * nq + n) * d, ar = acc + r * dPanels * NR, q = qr[r];
                if (op.ResidualPooling && n > 0)
                    for (int j = 0; j < d; j++) yr[j] = ar[j] * inv + q[j];
                else
                    for (int j = 0; j < d; j++) yr[j] = ar[j] * inv;
            }
        }

        /// <summary>
        /// The key chunks with AVX-512: the 6×64 logits in one tile over d (four key panels, 24 accumulators), the
        /// bias lookups as three 16-lane gathers per 16 keys, the online softmax on 16 lanes, and P·V in 6×48 tiles
        /// (three value panels) with a 6×16 tile for a remainder panel. Each sum runs in the same order as on the
        /// AVX2 path.
        /// </summary>
        private void Chunks512(float** qr, float* kp, float* vp, float* s, float* acc, float* proj, float* max,
            float* sum, int rows, int n0, float scale, int* keyT, int* keyY, int* keyX)
        {
            var op = t._op;
            int d = t._d, nk = op.Nk, dPanels = t._dPanels, nkPad = t._nkPad, nb = t._bias;
            var (kt, kh, _) = op.KGrid;
            var scaleV = Vector512.Create(scale);
            var ninf = Vector512.Create(float.NegativeInfinity);
            for (int m0 = 0; m0 < nk; m0 += KC)
            {
                int len = Math.Min(KC, nk - m0);
                QkTile64(qr, kp + (long)(m0 / NR) * d * NR, d, s);
                for (int r = 0; r < rows; r++)
                {
                    float* sr = s + r * KC;
                    bool biased = n0 + r > 0;
                    float* pt = proj + r * nb, ph = pt + kt, pw = ph + kh;
                    var cmaxV = ninf;
                    for (int c = 0; c < KC; c += NR)
                    {
                        var l = Vector512.Load(sr + c) * scaleV;
                        if (biased)
                        {
                            int m = m0 + c;
                            var bias = Gather16(pt, keyT + m) + Gather16(ph, keyY + m) + Gather16(pw, keyX + m);
                            // Key 0, the class token, takes no bias.
                            if (m == 0) bias = bias.WithElement(0, 0f);
                            l += bias;
                        }
                        // Keys past the end of the sequence weigh nothing.
                        if (c + NR > len)
                        {
                            var live = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(len - c));
                            l = Vector512.ConditionalSelect(live.AsSingle(), l, ninf);
                        }
                        l.Store(sr + c);
                        cmaxV = Vector512.Max(cmaxV, l);
                    }
                    Fold(sr, HorizontalMax(cmaxV), max + r, sum + r, acc + r * dPanels * NR, dPanels * NR);
                }
                for (int r = rows; r < MR; r++) new Span<float>(s + r * KC, KC).Clear();
                int dp = 0;
                for (; dp + 3 <= dPanels; dp += 3)
                    PvTile48(s, vp + ((long)dp * nkPad + m0) * NR, (nint)nkPad * NR, acc + dp * NR, dPanels * NR);
                for (; dp < dPanels; dp++)
                    PvTile(s, vp + ((long)dp * nkPad + m0) * NR, acc + dp * NR, dPanels * NR);
            }
        }
    }

    /// <summary>Folds a row's chunk of logits <paramref name="sr"/> (max <paramref name="cmax"/>) into its running max
    /// and sum (online softmax): when the max grows, the sum and the row's <paramref name="width"/> accumulators are
    /// rescaled; the logits become their exponentials, ready for P·V.</summary>
    private static void Fold(float* sr, float cmax, float* max, float* sum, float* acc, int width)
    {
        if (cmax > *max)
        {
            float rescale = MathF.Exp(*max - cmax);   // exp(−∞) = 0 on the first chunk
            *sum *= rescale;
            var rv = Vector256.Create(rescale);
            for (int j = 0; j < width; j += 8) (Vector256.Load(acc + j) * rv).Store(acc + j);
            *max = cmax;
        }
        var mv = Vector256.Create(*max);
        var sv = Vector256<float>.Zero;
        for (int c = 0; c < KC; c += 8)
        {
            var e = Vector256.Exp(Vector256.Load(sr + c) - mv);
            e.Store(sr + c);
            sv += e;
        }
        *sum += Vector256.Sum(sv);
    }

    /// <summary>table[index[i]] for 16 lanes (two AVX2 gathers: .NET has no 512-bit gather).</summary>
    private static Vector512<float> Gather16(float* table, int* index) =>
        Vector512.Create(Avx2.GatherVector256(table, Vector256.Load(index), 4),
            Avx2.GatherVector256(table, Vector256.Load(index + 8), 4));

    private static float HorizontalMax(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2)));
        return q.ToScalar();
    }

    /// <summary>c[r][0..64) = Σ_j q_r[j]·k[j] for the 6 rows over four consecutive key panels (d × 16 each), with
    /// AVX-512: the implicit GEMM's 6×64 tile, one piece of d steps, rows KC floats apart.</summary>
    private static void QkTile64(float** q, float* b, int d, float* c)
    {
        nint offset = 0;
        ImplicitGemm.Tile6x64Avx512(q, &offset, &d, 1, b, (nint)d * NR, c, KC, NR, true, default);
    }

    /// <summary>o[r][0..48) += Σ_c p[r][c]·v[c] over the chunk's 64 keys for three value panels
    /// (<paramref name="ps"/> floats apart), with AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PvTile48(float* p, float* v, nint ps, float* o, int oStride)
    {
        float* o1 = o + oStride, o2 = o + 2 * oStride, o3 = o + 3 * oStride, o4 = o + 4 * oStride,
            o5 = o + 5 * oStride;
        var x0 = Vector512.Load(o); var y0 = Vector512.Load(o + 16); var z0 = Vector512.Load(o + 32);
        var x1 = Vector512.Load(o1); var y1 = Vector512.Load(o1 + 16); var z1 = Vector512.Load(o1 + 32);
        var x2 = Vector512.Load(o2); var y2 = Vector512.Load(o2 + 16); var z2 = Vector512.Load(o2 + 32);
        var x3 = Vector512.Load(o3); var y3 = Vector512.Load(o3 + 16); var z3 = Vector512.Load(o3 + 32);
        var x4 = Vector512.Load(o4); var y4 = Vector512.Load(o4 + 16); var z4 = Vector512.Load(o4 + 32);
        var x5 = Vector512.Load(o5); var y5 = Vector512.Load(o5 + 16); var z5 = Vector512.Load(o5 + 32);
        for (int c = 0; c < KC; c++, v += NR)
        {
            var w0 = Vector512.Load(v);
            var w1 = Vector512.Load(v + ps);
            var w2 = Vector512.Load(v + 2 * ps);
            var a = Vector512.Create(p[c]);
            x0 = Avx512F.FusedMultiplyAdd(a, w0, x0); y0 = Avx512F.FusedMultiplyAdd(a, w1, y0);
            z0 = Avx512F.FusedMultiplyAdd(a, w2, z0);
            a = Vector512.Create(p[KC + c]);
            x1 = Avx512F.FusedMultiplyAdd(a, w0, x1); y1 = Avx512F.FusedMultiplyAdd(a, w1, y1);
            z1 = Avx512F.FusedMultiplyAdd(a, w2, z1);
            a = Vector512.Create(p[2 * KC + c]);
            x2 = Avx512F.FusedMultiplyAdd(a, w0, x2); y2 = Avx512F.FusedMultiplyAdd(a, w1, y2);
            z2 = Avx512F.FusedMultiplyAdd(a, w2, z2);
            a = Vector512.Create(p[3 * KC + c]);
            x3 = Avx512F.FusedMultiplyAdd(a, w0, x3); y3 = Avx512F.FusedMultiplyAdd(a, w1, y3);
            z3 = Avx512F.FusedMultiplyAdd(a, w2, z3);
            a = Vector512.Create(p[4 * KC + c]);
            x4 = Avx512F.FusedMultiplyAdd(a, w0, x4); y4 = Avx512F.FusedMultiplyAdd(a, w1, y4);
            z4 = Avx512F.FusedMultiplyAdd(a, w2, z4);
            a = Vector512.Create(p[5 * KC + c]);
            x5 = Avx512F.FusedMultiplyAdd(a, w0, x5); y5 = Avx512F.FusedMultiplyAdd(a, w1, y5);
            z5 = Avx512F.FusedMultiplyAdd(a, w2, z5);
        }
        x0.Store(o); y0.Store(o + 16); z0.Store(o + 32);
        x1.Store(o1); y1.Store(o1 + 16); z1.Store(o1 + 32);
        x2.Store(o2); y2.Store(o2 + 16); z2.Store(o2 + 32);
        x3.Store(o3); y3.Store(o3 + 16); z3.Store(o3 + 32);
        x4.Store(o4); y4.Store(o4 + 16); z4.Store(o4 + 32);
        x5.Store(o5); y5.Store(o5 + 16); z5.Store(o5 + 32);
    }

    /// <summary>c[r][0..16) = Σ_j q_r[j]·b[j][0..16) for the 6 rows (b = one packed key panel, d × 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QkTile(float** q, float* b, int d, float* c)
    {
        float* a0 = q[0], a1 = q[1], a2 = q[2], a3 = q[3], a4 = q[4], a5 = q[5];
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int j = 0; j < d; j++, b += NR)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var v = Vector256.Create(a0[j]); c00 = Fma.MultiplyAdd(v, b0, c00); c01 = Fma.MultiplyAdd(v, b1, c01);
            v = Vector256.Create(a1[j]); c10 = Fma.MultiplyAdd(v, b0, c10); c11 = Fma.MultiplyAdd(v, b1, c11);
            v = Vector256.Create(a2[j]); c20 = Fma.MultiplyAdd(v, b0, c20); c21 = Fma.MultiplyAdd(v, b1, c21);
            v = Vector256.Create(a3[j]); c30 = Fma.MultiplyAdd(v, b0, c30); c31 = Fma.MultiplyAdd(v, b1, c31);
            v = Vector256.Create(a4[j]); c40 = Fma.MultiplyAdd(v, b0, c40); c41 = Fma.MultiplyAdd(v, b1, c41);
            v = Vector256.Create(a5[j]); c50 = Fma.MultiplyAdd(v, b0, c50); c51 = Fma.MultiplyAdd(v, b1, c51);
        }
        Avx.Store(c, c00); Avx.Store(c + 8, c01);
        Avx.Store(c + KC, c10); Avx.Store(c + KC + 8, c11);
        Avx.Store(c + 2 * KC, c20); Avx.Store(c + 2 * KC + 8, c21);
        Avx.Store(c + 3 * KC, c30); Avx.Store(c + 3 * KC + 8, c31);
        Avx.Store(c + 4 * KC, c40); Avx.Store(c + 4 * KC + 8, c41);
        Avx.Store(c + 5 * KC, c50); Avx.Store(c + 5 * KC + 8, c51);
    }

    /// <summary>o[r][0..16) += Σ_c p[r][c]·v[c][0..16) over the chunk's 64 keys (v = one value panel from the chunk's
    /// first key).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PvTile(float* p, float* v, float* o, int oStride)
    {
        var c00 = Avx.LoadVector256(o); var c01 = Avx.LoadVector256(o + 8);
        var c10 = Avx.LoadVector256(o + oStride); var c11 = Avx.LoadVector256(o + oStride + 8);
        var c20 = Avx.LoadVector256(o + 2 * oStride); var c21 = Avx.LoadVector256(o + 2 * oStride + 8);
        var c30 = Avx.LoadVector256(o + 3 * oStride); var c31 = Avx.LoadVector256(o + 3 * oStride + 8);
        var c40 = Avx.LoadVector256(o + 4 * oStride); var c41 = Avx.LoadVector256(o + 4 * oStride + 8);
        var c50 = Avx.LoadVector256(o + 5 * oStride); var c51 = Avx.LoadVector256(o + 5 * oStride + 8);
        for (int c = 0; c < KC; c++, v += NR)
        {
            var b0 = Avx.LoadVector256(v);
            var b1 = Avx.LoadVector256(v + 8);
            var a = Vector256.Create(p[c]); c00 = Fma.MultiplyAdd(a, b0, c00); c01 = Fma.MultiplyAdd(a, b1, c01);
            a = Vector256.Create(p[KC + c]); c10 = Fma.MultiplyAdd(a, b0, c10); c11 = Fma.MultiplyAdd(a, b1, c11);
            a = Vector256.Create(p[2 * KC + c]); c20 = Fma.MultiplyAdd(a, b0, c20); c21 = Fma.MultiplyAdd(a, b1, c21);
            a = Vector256.Create(p[3 * KC + c]); c30 = Fma.MultiplyAdd(a, b0, c30); c31 = Fma.MultiplyAdd(a, b1, c31);
            a = Vector256.Create(p[4 * KC + c]); c40 = Fma.MultiplyAdd(a, b0, c40); c41 = Fma.MultiplyAdd(a, b1, c41);
            a = Vector256.Create(p[5 * KC + c]); c50 = Fma.MultiplyAdd(a, b0, c50); c51 = Fma.MultiplyAdd(a, b1, c51);
        }
        Avx.Store(o, c00); Avx.Store(o + 8, c01);
        Avx.Store(o + oStride, c10); Avx.Store(o + oStride + 8, c11);
        Avx.Store(o + 2 * oStride, c20); Avx.Store(o + 2 * oStride + 8, c21);
        Avx.Store(o + 3 * oStride, c30); Avx.Store(o + 3 * oStride + 8, c31);
        Avx.Store(o + 4 * oStride, c40); Avx.Store(o + 4 * oStride + 8, c41);
        Avx.Store(o + 5 * oStride, c50); Avx.Store(o + 5 * oStride + 8, c51);
    }

    private static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        var s = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8) s = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s);
        float r = Vector256.Sum(s);
        for (; i < n; i++) r += a[i] * b[i];
        return r;
    }

    public void Dispose() => _packed?.Dispose();
}
