using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Conv3d;

/// <summary>Shapes and options of one conv3d launch (kernel arguments must be unmanaged values).</summary>
internal struct Conv3dIlgpuParams
{
    public int N, T, H, W, C, To, Ho, Wo, Co, Kt, Kh, Kw, St, Sh, Sw, Pt, Ph, Pw, Relu, Residual;
}

/// <summary>
/// conv3d on ILGPU, channels-last, with the bias/residual/ReLU epilogue. Two variants:
/// <list type="bullet">
/// <item>v1 <c>Direct</c>: one thread per output element, output channel fastest, so a warp reads one
/// input pixel (broadcast) and consecutive weights (coalesced: weights are stored [kT, kH, kW, Cin, Cout]).</item>
/// <item>v2 <c>Tiled</c>: an implicit GEMM (M = output positions, N = Cout, K = kT·kH·kW·Cin) in 64×64
/// tiles per 256-thread group, K in steps of 16 staged through shared memory, each thread
/// accumulating a 4×4 block in registers (rows ty+16i, columns tx+16j).</item>
/// </list>
/// Padding is a bounds check: activations carry no halo here. <see cref="Choose"/> is the one table.
/// </summary>
public sealed class Conv3dIlgpu : IIlgpuKernel
{
    private const int TileM = 64, TileN = 64, TileK = 16, GroupSize = 256;

    /// <summary>
    /// The variant table. On a GPU, tiles once a launch fills at least one tile of outputs and
    /// channels (not yet timed on a GPU: perf/gpu/run.sh benchmarks both through
    /// <c>DFER_ILGPU_CONV3D=direct|tiled</c>). On ILGPU's CPU accelerator, always direct: it emulates
    /// group barriers, and the tiled kernel ran 10–50× slower there (IlgpuKernelTests, 2-core EPYC).
    /// <paramref name="pin"/> (the device's <see cref="IlgpuVariants.Conv3d"/>) overrides the table.
    /// </summary>
    public static IlgpuConv3dVariant Choose(long positions, int cout, IlgpuTarget target,
        IlgpuConv3dVariant? pin = null) =>
        pin ?? (target == IlgpuTarget.Cuda && positions >= TileM && cout >= 16 ? IlgpuConv3dVariant.Tiled
        : IlgpuConv3dVariant.Direct);

    private readonly Conv3dOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weights, _bias;

    public Conv3dIlgpu(IlgpuDevice device, Conv3dOp op)
    {
        _op = op;
        var (kt, kh, kw) = op.Kernel;
        int cin = op.Cin, cout = op.Cout;
        // [Cout, Cin, kT, kH, kW] → [kT, kH, kW, Cin, Cout]
        var packed = new float[op.Weight.Length];
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kt; a++)
                    for (int b = 0; b < kh; b++)
                        for (int c = 0; c < kw; c++)
                            packed[((((long)a * kh + b) * kw + c) * cin + i) * cout + o] =
                                op.Weight[((((long)o * cin + i) * kt + a) * kh + b) * kw + c];
        _weights = device.Upload(packed);
        _bias = device.Upload(op.Bias);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0], y = outputShape;
        var p = new Conv3dIlgpuParams
        {
            N = x[0],
            T = x[1],
            H = x[2],
            W = x[3],
            C = x[4],
            To = y[1],
            Ho = y[2],
            Wo = y[3],
            Co = y[4],
            Kt = _op.Kernel.T,
            Kh = _op.Kernel.H,
            Kw = _op.Kernel.W,
            St = _op.Stride.T,
            Sh = _op.Stride.H,
            Sw = _op.Stride.W,
            Pt = _op.Pad.T,
            Ph = _op.Pad.H,
            Pw = _op.Pad.W,
            Relu = _op.Relu ? 1 : 0,
            Residual = _op.Residual ? 1 : 0,
        };
        ArrayView<float> residual = _op.Residual ? inputs[1] : device.Unused;
        long positions = (long)p.N * p.To * p.Ho * p.Wo;
        if (Choose(positions, p.Co, device.Target, device.Variants.Conv3d) == IlgpuConv3dVariant.Tiled
            && device.Accelerator.MaxNumThreadsPerGroup >= GroupSize)
        {
            var tiled = device.Kernel(Tiled, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv3dIlgpuParams>(Tiled));
            int groupsM = IlgpuLaunch.Count((positions + TileM - 1) / TileM), groupsN = (p.Co + TileN - 1) / TileN;
            tiled(new KernelConfig(new Index2D(groupsM, groupsN), new Index2D(GroupSize, 1)), inputs[0], _weights.View,
                _bias.View, residual, output, p);
            return;
        }
        var kernel = device.Kernel(Direct, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv3dIlgpuParams>(Direct));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _weights.View, _bias.View, residual, output, p);
    }

    /// <summary>The input element GEMM column <paramref name="k"/> (tap, channel) reads for output position (n, ot, oh,
    /// ow); 0 in the padding.</summary>
    private static float Im2col(ArrayView<float> x, Conv3dIlgpuParams p, int n, int ot, int oh, int ow, int k)
    {
        int ci = k % p.C, tap = k / p.C;
        int c = tap % p.Kw; tap /= p.Kw;
        int b = tap % p.Kh;
        int a = tap / p.Kh;
        int it = ot * p.St - p.Pt + a, ih = oh * p.Sh - p.Ph + b, iw = ow * p.Sw - p.Pw + c;
        if (a >= p.Kt || it < 0 || it >= p.T || ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0f;
        return x[((((long)n * p.T + it) * p.H + ih) * p.W + iw) * p.C + ci];
    }

    private static void Tiled(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual,
        ArrayView<float> y, Conv3dIlgpuParams p)
    {
        var As = SharedMemory.Allocate<float>(TileK * TileM);
        var Bs = SharedMemory.Allocate<float>(TileK * TileN);
        int t = Group.IdxX, tx = t % 16, ty = t / 16;
        long m0 = (long)Grid.IdxX * TileM;
        int n0 = Grid.IdxY * TileN;
        long positions = (long)p.N * p.To * p.Ho * p.Wo;
        int kTotal = p.Kt * p.Kh * p.Kw * p.C;

        // This thread stages A elements (row t/16 + 16i, column t%16): decode its four rows once.
        int ak = t % TileK, ar = t / TileK;
        int n_0 = 0, t_0 = 0, h_0 = 0, w_0 = 0, n_1 = 0, t_1 = 0, h_1 = 0, w_1 = 0;
        int n_2 = 0, t_2 = 0, h_2 = 0, w_2 = 0, n_3 = 0, t_3 = 0, h_3 = 0, w_3 = 0;
        bool v0 = Decode(m0 + ar, positions, p, ref n_0, ref t_0, ref h_0, ref w_0);
        bool v1 = Decode(m0 + ar + 16, positions, p, ref n_1, ref t_1, ref h_1, ref w_1);
        bool v2 = Decode(m0 + ar + 32, positions, p, ref n_2, ref t_2, ref h_2, ref w_2);
        bool v3 = Decode(m0 + ar + 48, positions, p, ref n_3, ref t_3, ref h_3, ref w_3);
        // ... and B elements (row t/64 + 4i, column t%64).
        int bn = t % TileN, br = t / TileN;

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int k0 = 0; k0 < kTotal; k0 += TileK)
        {
            int k = k0 + ak;
            bool kIn = k < kTotal;
            As[ak * TileM + ar] = v0 && kIn ? Im2col(x, p, n_0, t_0, h_0, w_0, k) : 0f;
            As[ak * TileM + ar + 16] = v1 && kIn ? Im2col(x, p, n_1, t_1, h_1, w_1, k) : 0f;
            As[ak * TileM + ar + 32] = v2 && kIn ? Im2col(x, p, n_2, t_2, h_2, w_2, k) : 0f;
            As[ak * TileM + ar + 48] = v3 && kIn ? Im2col(x, p, n_3, t_3, h_3, w_3, k) : 0f;
            int co = n0 + bn;
            for (int i = 0; i < 4; i++)
            {
                int kb = k0 + br + 4 * i;
                Bs[(br + 4 * i) * TileN + bn] = kb < kTotal && co < p.Co ? w[(long)kb * p.Co + co] : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < TileK; kk++)
            {
                int ao = kk * TileM + ty, bo = kk * TileN + tx;
                float a0 = As[ao], a1 = As[ao + 16], a2 = As[ao + 32], a3 = As[ao + 48];
                float b0 = Bs[bo], b1 = Bs[bo + 16], b2 = Bs[bo + 32], b3 = Bs[bo + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        Store(y, bias, residual, p, m0 + ty, n0 + tx, positions, c00, c01, c02, c03);
        Store(y, bias, residual, p, m0 + ty + 16, n0 + tx, positions, c10, c11, c12, c13);
        Store(y, bias, residual, p, m0 + ty + 32, n0 + tx, positions, c20, c21, c22, c23);
        Store(y, bias, residual, p, m0 + ty + 48, n0 + tx, positions, c30, c31, c32, c33);
    }

    /// <summary>Output position m as (n, t, h, w); false past the last position.</summary>
    private static bool Decode(long m, long positions, Conv3dIlgpuParams p, ref int n, ref int t, ref int h, ref int w)
    {
        if (m >= positions) return false;
        long r = m;
        w = (int)(r % p.Wo); r /= p.Wo;
        h = (int)(r % p.Ho); r /= p.Ho;
        t = (int)(r % p.To);
        n = (int)(r / p.To);
        return true;
    }

    /// <summary>The epilogue for one row of a thread's 4×4 block: columns co, co+16, co+32, co+48.</summary>
    private static void Store(ArrayView<float> y, ArrayView<float> bias, ArrayView<float> residual, Conv3dIlgpuParams p,
        long m, int co, long positions, float a0, float a1, float a2, float a3)
    {
        if (m >= positions) return;
        Epilogue(y, bias, residual, p, m, co, a0);
        Epilogue(y, bias, residual, p, m, co + 16, a1);
        Epilogue(y, bias, residual, p, m, co + 32, a2);
        Epilogue(y, bias, residual, p, m, co + 48, a3);
    }

    private static void Epilogue(ArrayView<float> y, ArrayView<float> bias, ArrayView<float> residual,
        Conv3dIlgpuParams p, long m, int co, float acc)
    {
        if (co >= p.Co) return;
        long i = m * p.Co + co;
        float v = acc + bias[co];
        if (p.Residual != 0) v += residual[i];
        if (p.Relu != 0 && v < 0f) v = 0f;
        y[i] = v;
    }

    private static void Direct(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> residual, ArrayView<float> y, Conv3dIlgpuParams p)
    {
        int r = index;
        int o = r % p.Co; r /= p.Co;
        int ow = r % p.Wo; r /= p.Wo;
        int oh = r % p.Ho; r /= p.Ho;
        int ot = r % p.To;
        int n = r / p.To;
        float acc = 0f;
        for (int a = 0; a < p.Kt; a++)
        {
            int it = ot * p.St - p.Pt + a;
            if (it < 0 || it >= p.T) continue;
            for (int b = 0; b < p.Kh; b++)
            {
                int ih = oh * p.Sh - p.Ph + b;
                if (ih < 0 || ih >= p.H) continue;
                for (int c = 0; c < p.Kw; c++)
                {
                    int iw = ow * p.Sw - p.Pw + c;
                    if (iw < 0 || iw >= p.W) continue;
                    long xb = ((((long)n * p.T + it) * p.H + ih) * p.W + iw) * p.C;
                    long wb = ((((long)a * p.Kh + b) * p.Kw + c) * p.C) * p.Co + o;
                    for (int i = 0; i < p.C; i++) acc += x[xb + i] * w[wb + (long)i * p.Co];
                }
            }
        }
        Epilogue(y, bias, residual, p, (int)index / p.Co, o, acc);
    }

    public void Dispose()
    {
        _weights.Dispose();
        _bias.Dispose();
    }
}
