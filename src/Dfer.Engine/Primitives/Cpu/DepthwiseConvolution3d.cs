using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// Depthwise 3D convolution on the CPU, channels-last [N,T,H,W,C] → [N,To,Ho,Wo,C]. Channels-last makes every
/// tap a contiguous run of C floats in both the input and the (repacked [kT, kH, kW, C]) weights, so each
/// output position is a handful of vector multiply-adds over channels with the accumulators in registers.
/// Work items are output rows (n, t, h); a row first lists its in-bounds taps once per output column, so
/// padding costs no branches in the channel loop. The input may be a strided view (halos, a head's channels
/// of a packed token row) as long as channels are dense; the output is dense.
/// </summary>
public sealed unsafe class DepthwiseConvolution3d : IDisposable
{
    private readonly DepthwiseConv3dWeights _w;
    private readonly NativeBuffer _weights, _bias;
    private readonly Work _work;

    public DepthwiseConvolution3d(DepthwiseConv3dWeights weights)
    {
        _w = weights;
        int c = weights.Channels, taps = weights.Taps;
        _weights = new NativeBuffer((long)taps * c * sizeof(float));
        _bias = new NativeBuffer((long)c * sizeof(float));
        // [C, 1, kT, kH, kW] → [kT·kH·kW, C]
        float* w = (float*)_weights.Pointer;
        for (int ch = 0; ch < c; ch++)
            for (int k = 0; k < taps; k++)
                w[(long)k * c + ch] = weights.Weight[(long)ch * taps + k];
        if (weights.Bias != null) weights.Bias.CopyTo(new Span<float>(_bias.Pointer, c));
        _work = new Work(this);
    }

    /// <summary><paramref name="x"/> with dense channels (stride 1 on axis 4) into the dense
    /// <paramref name="y"/>.</summary>
    public void Run(CpuContext ctx, Tensor x, Tensor y)
    {
        _work.X = x; _work.Y = y;
        ctx.Pool.Run(_work, y.Shape[0] * y.Shape[1] * y.Shape[2]);
        _work.X = _work.Y = null;
    }

    private sealed class Work(DepthwiseConvolution3d kernel) : IParallelWork
    {
        public Tensor? X, Y;

        public void Execute(int row, int thread)
        {
            var op = kernel._w;
            Tensor x = X!, y = Y!;
            int t = x.Shape[1], h = x.Shape[2], w = x.Shape[3], c = op.Channels;
            int to = y.Shape[1], ho = y.Shape[2], wo = y.Shape[3];
            var (kt, kh, kw) = op.Kernel;
            int oh = row % ho, r = row / ho, ot = r % to, n = r / to;
            long st = x.Strides[1], sh = x.Strides[2], sw = x.Strides[3];
            float* wts = (float*)kernel._weights.Pointer, bias = (float*)kernel._bias.Pointer;
            float* xn = x.Data + n * x.Strides[0];
            float* yrow = y.Data + (long)row * wo * c;

            // The (t, h) part of the taps is the same for the whole row.
            Span<long> rowOffsets = stackalloc long[Math.Min(kt * kh, 256)];
            Span<int> rowTaps = stackalloc int[rowOffsets.Length];
            if (kt * kh > 256) { rowOffsets = new long[kt * kh]; rowTaps = new int[kt * kh]; }
            int rows = 0;
            for (int a = 0; a < kt; a++)
            {
                int it = ot * op.Stride.T - op.Pad.T + a;
                if (it < 0 || it >= t) continue;
                for (int b = 0; b < kh; b++)
                {
                    int ih = oh * op.Stride.H - op.Pad.H + b;
                    if (ih < 0 || ih >= h) continue;
                    rowOffsets[rows] = it * st + ih * sh;
                    rowTaps[rows++] = (a * kh + b) * kw;
                }
            }
            int maxTaps = rows * kw;
            Span<long> xo = maxTaps <= 512 ? stackalloc long[512] : new long[maxTaps];
            Span<long> wo_ = maxTaps <= 512 ? stackalloc long[512] : new long[maxTaps];
            int vw = Vector<float>.Count;
            for (int ow = 0; ow < wo; ow++)
            {
                int taps = 0;
                for (int d = 0; d < kw; d++)
                {
                    int iw = ow * op.Stride.W - op.Pad.W + d;
                    if (iw < 0 || iw >= w) continue;
                    for (int i = 0; i < rows; i++)
                    {
                        xo[taps] = rowOffsets[i] + iw * sw;
                        wo_[taps++] = (long)(rowTaps[i] + d) * c;
                    }
                }
                float* yp = yrow + (long)ow * c;
                int ch = 0;
                // Four independent accumulator chains hide the add latency.
                for (; ch <= c - 4 * vw; ch += 4 * vw)
                {
                    var acc0 = Vector.Load(bias + ch);
                    var acc1 = Vector.Load(bias + ch + vw);
                    var acc2 = Vector.Load(bias + ch + 2 * vw);
                    var acc3 = Vector.Load(bias + ch + 3 * vw);
                    for (int k = 0; k < taps; k++)
                    {
                        float* xp = xn + xo[k] + ch, wp = wts + wo_[k] + ch;
                        acc0 += Vector.Load(xp) * Vector.Load(wp);
                        acc1 += Vector.Load(xp + vw) * Vector.Load(wp + vw);
                        acc2 += Vector.Load(xp + 2 * vw) * Vector.Load(wp + 2 * vw);
                        acc3 += Vector.Load(xp + 3 * vw) * Vector.Load(wp + 3 * vw);
                    }
                    acc0.Store(yp + ch);
                    acc1.Store(yp + ch + vw);
                    acc2.Store(yp + ch + 2 * vw);
                    acc3.Store(yp + ch + 3 * vw);
                }
                for (; ch <= c - vw; ch += vw)
                {
                    var acc = Vector.Load(bias + ch);
                    for (int k = 0; k < taps; k++) acc += Vector.Load(xn + xo[k] + ch) * Vector.Load(wts + wo_[k] + ch);
                    acc.Store(yp + ch);
                }
                for (; ch < c; ch++)
                {
                    float acc = bias[ch];
                    for (int k = 0; k < taps; k++) acc += xn[xo[k] + ch] * wts[wo_[k] + ch];
                    yp[ch] = acc;
                }
            }
        }
    }

    public void Dispose() { _weights.Dispose(); _bias.Dispose(); }
}
