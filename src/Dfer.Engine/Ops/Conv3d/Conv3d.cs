namespace Dfer.Ops.Conv3d;

/// <summary>
/// 3D convolution over channels-last activations with a fused epilogue:
/// <c>y[n,t,h,w,o] = act( bias[o] + Σ_{i,a,b,c} x[n, t·st−pt+a, h·sh−ph+b, w·sw−pw+c, i] · W[o,i,a,b,c] (+
/// r[n,t,h,w,o]) )</c>, x zero outside its extent, act = ReLU or identity. Input [N,T,H,W,C], optional residual r and
/// output [N,To,Ho,Wo,Cout]. Weights keep PyTorch's [Cout, Cin, kT, kH, kW] order; BatchNorm is
/// expected to be folded into W and bias already.
/// </summary>
public sealed class Conv3dOp : Op
{
    public Conv3dOp(int cin, int cout, (int T, int H, int W) kernel, (int T, int H, int W) stride,
        (int T, int H, int W) pad, float[] weight, float[]? bias, bool relu, bool residual)
    {
        if (weight.Length != (long)cout * cin * kernel.T * kernel.H * kernel.W)
            throw new ArgumentException(
                $"conv3d weight has {weight.Length} values, expected "
                + $"[{cout}, {cin}, {kernel.T}, {kernel.H}, {kernel.W}]");
        if (bias != null && bias.Length != cout)
            throw new ArgumentException($"conv3d bias has {bias.Length} values, expected {cout}");
        Cin = cin; Cout = cout; Kernel = kernel; Stride = stride; Pad = pad;
        Weight = weight; Bias = bias ?? new float[cout]; Relu = relu; Residual = residual;
    }

    public int Cin { get; }
    public int Cout { get; }
    public (int T, int H, int W) Kernel { get; }
    public (int T, int H, int W) Stride { get; }
    public (int T, int H, int W) Pad { get; }
    public float[] Weight { get; }
    public float[] Bias { get; }
    public bool Relu { get; }
    public bool Residual { get; }

    public override OpKind Kind => Conv3dKind.Instance;
    public override int InputCount => Residual ? 2 : 1;

    /// <summary>Zero border the input must carry (or be given) on each side: the padding, per [N,T,H,W,C]
    /// axis.</summary>
    public int[] InputHalo => new[] { 0, Pad.T, Pad.H, Pad.W, 0 };

    /// <summary>Output shape for input <paramref name="x"/> [N,T,H,W,Cin] (the residual, if any, has the
    /// same).</summary>
    public int[] ConvOutputShape(int[] x)
    {
        if (x.Length != 5 || x[4] != Cin) throw ShapeError(Kind, $"expects [N, T, H, W, {Cin}]", x);
        int to = OutExtent(x[1], Kernel.T, Stride.T, Pad.T), ho = OutExtent(x[2], Kernel.H, Stride.H, Pad.H),
            wo = OutExtent(x[3], Kernel.W, Stride.W, Pad.W);
        if (to <= 0 || ho <= 0 || wo <= 0) throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], to, ho, wo, Cout };
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var y = ConvOutputShape(inputs[0]);
        if (Residual && !inputs[1].SequenceEqual(y))
            throw ShapeError(Kind, $"residual must be {Tensors.Tensor.FormatShape(y)}", inputs[1]);
        return y;
    }

    public override long WeightElements => Weight.LongLength + Bias.LongLength;

    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        var y = OutputShape(inputs);
        return 2L * y[0] * y[1] * y[2] * y[3] * Cout * Cin * Kernel.T * Kernel.H * Kernel.W;
    }

}
