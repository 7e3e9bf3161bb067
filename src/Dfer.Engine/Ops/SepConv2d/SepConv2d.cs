namespace Dfer.Ops.SepConv2d;

/// <summary>
/// Depthwise-separable 2D convolution over channels-last activations with a fused bias and
/// activation (TF's <c>separableConv2d</c> + bias + activation, channel multiplier 1):
/// <c>d[n,h,w,c] = Σ_{a,b} x[n, h·sh−pt+a, w·sw−pl+b, c] · D[c,a,b]</c> (x zero outside its extent), then
/// <c>y[n,h,w,o] = act(bias[o] + Σ_c d[n,h,w,c] · P[o,c])</c>. Without a pointwise matrix it is a plain
/// depthwise convolution, <c>y = act(bias[c] + d[n,h,w,c])</c>. Input [N,H,W,C] → [N,Ho,Wo,Cout] with
/// <c>Ho = (H + pt + pb − kH)/sh + 1</c> (likewise Wo). D is PyTorch's depthwise layout [C, 1, kH, kW],
/// P is [Cout, C] (a 1×1 conv's [Cout, C, 1, 1]); bias optional.
/// </summary>
public sealed class SepConv2dOp : Op
{
    public SepConv2dOp(int channels, (int H, int W) kernel, (int H, int W) stride, Pad2d pad,
        float[] depthwise, float[]? pointwise, int cout, float[]? bias, Activation activation)
    {
        if (channels <= 0 || cout <= 0)
            throw new ArgumentException($"sepconv2d needs channels, got {channels} -> {cout}");
        ActivationMath.ExpectEpilogue("sepconv2d", activation);
        if (kernel.H <= 0 || kernel.W <= 0 || stride.H <= 0 || stride.W <= 0 || !pad.IsNonNegative)
            throw new ArgumentException(
                $"sepconv2d: kernel {kernel} and stride {stride} must be positive, padding {pad} non-negative");
        if (depthwise.Length != (long)channels * kernel.H * kernel.W)
            throw new ArgumentException(
                $"sepconv2d depthwise weight has {depthwise.Length} values, expected [{channels}, "
                + $"1, {kernel.H}, {kernel.W}]");
        if (pointwise == null && cout != channels)
            throw new ArgumentException(
                $"sepconv2d without a pointwise weight keeps the channels ({channels}), got cout {cout}");
        if (pointwise != null && pointwise.Length != (long)cout * channels)
            throw new ArgumentException(
                $"sepconv2d pointwise weight has {pointwise.Length} values, expected [{cout}, {channels}]");
        if (bias != null && bias.Length != cout)
            throw new ArgumentException($"sepconv2d bias has {bias.Length} values, expected {cout}");
        Channels = channels; Cout = cout; Kernel = kernel; Stride = stride; Pad = pad;
        Depthwise = depthwise; Pointwise = pointwise; Bias = bias; Act = activation;
    }

    public int Channels { get; }
    public int Cout { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public Pad2d Pad { get; }
    /// <summary>[C, 1, kH, kW].</summary>
    public float[] Depthwise { get; }
    /// <summary>[Cout, C], or null for a depthwise-only op.</summary>
    public float[]? Pointwise { get; }
    /// <summary>[Cout], or null.</summary>
    public float[]? Bias { get; }
    public Activation Act { get; }

    public override OpKind Kind => SepConv2dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 4 || x[3] != Channels) throw ShapeError(Kind, $"expects [N, H, W, {Channels}]", x);
        int ho = Pad2d.Extent(x[1], Pad.Top, Pad.Bottom, Kernel.H, Stride.H),
            wo = Pad2d.Extent(x[2], Pad.Left, Pad.Right, Kernel.W, Stride.W);
        if (ho <= 0 || wo <= 0) throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], ho, wo, Cout };
    }

    public override long WeightElements
        => Depthwise.LongLength + (Pointwise?.LongLength ?? 0) + (Bias?.LongLength ?? 0);

    /// <summary>2·kH·kW FLOPs per depthwise output plus 2·C per pointwise output (padding taps included).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        var y = OutputShape(inputs);
        long positions = (long)y[0] * y[1] * y[2];
        return positions * Channels * 2L * Kernel.H * Kernel.W
            + (Pointwise != null ? positions * Cout * 2L * Channels : 0);
    }
}
