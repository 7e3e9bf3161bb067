namespace Dfer.Ops.Conv2d;

/// <summary>
/// 2D convolution with dilation over channels-last activations (PyTorch nn.Conv2d, groups 1):
/// <c>y[n,h,w,o] = bias[o] + Σ_{i,a,b} x[n, h·sh−ph+a·dh, w·sw−pw+b·dw, i] · W[o,i,a,b]</c>, x zero
/// outside its extent. Input [N,H,W,Cin] → [N,Ho,Wo,Cout] with <c>Ho = (H + 2ph − dh·(kH−1) − 1)/sh + 1</c>
/// (likewise Wo). Weights keep PyTorch's [Cout, Cin, kH, kW] order; the bias is optional. An optional activation
/// (<see cref="Activation"/>) is applied to each output as it is stored: <c>y = act(bias[o] + Σ …)</c>. With
/// <see cref="Residual"/> a second input r of the output's shape is added before the activation:
/// <c>y = act(bias[o] + Σ … + r[n,h,w,o])</c> (a ResNet bottleneck's last convolution, docs/models/rdfer.md).
/// </summary>
public sealed class Conv2dOp : Op
{
    public Conv2dOp(int cin, int cout, (int H, int W) kernel, (int H, int W) stride, (int H, int W) pad,
        (int H, int W) dilation,
        float[] weight, float[]? bias, Activation activation = Activation.None, bool residual = false)
    {
        if (cin <= 0 || cout <= 0) throw new ArgumentException($"conv2d needs channels, got {cin} -> {cout}");
        ActivationMath.ExpectEpilogue("conv2d", activation);
        if (kernel.H <= 0 || kernel.W <= 0 || stride.H <= 0 || stride.W <= 0 || dilation.H <= 0 || dilation.W <= 0
            || pad.H < 0 || pad.W < 0)
            throw new ArgumentException(
                $"conv2d: kernel {kernel}, stride {stride} and dilation {dilation} must be positive, padding {pad} "
                + "non-negative");
        if (weight.Length != (long)cout * cin * kernel.H * kernel.W)
            throw new ArgumentException(
                $"conv2d weight has {weight.Length} values, expected [{cout}, {cin}, {kernel.H}, {kernel.W}]");
        if (bias != null && bias.Length != cout)
            throw new ArgumentException($"conv2d bias has {bias.Length} values, expected {cout}");
        Cin = cin; Cout = cout; Kernel = kernel; Stride = stride; Pad = pad; Dilation = dilation; Weight =
            weight; Bias = bias;
        Act = activation;
        Residual = residual;
    }

    public int Cin { get; }
    public int Cout { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Pad { get; }
    public (int H, int W) Dilation { get; }
    /// <summary>[Cout, Cin, kH, kW], PyTorch's order.</summary>
    public float[] Weight { get; }
    /// <summary>[Cout], or null for none.</summary>
    public float[]? Bias { get; }
    /// <summary>The activation fused into the store (none by default).</summary>
    public Activation Act { get; }
    /// <summary>Whether a second input is added to every output before the activation.</summary>
    public bool Residual { get; }

    public override OpKind Kind => Conv2dKind.Instance;
    public override int InputCount => Residual ? 2 : 1;

    /// <summary>Output extent along one axis: (size + 2p − d(k−1) − 1)/s + 1; ≤ 0 when the dilated kernel does
    /// not fit.</summary>
    public static int OutExtent(int size, int k, int s, int p, int d)
    {
        int span = size + 2 * p - d * (k - 1) - 1;
        return span < 0 ? 0 : span / s + 1;
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] y = OutputFor(inputs[0]);
        if (Residual && !inputs[1].SequenceEqual(y))
            throw ShapeError(Kind, $"the residual must have the output's shape {Tensors.Tensor.FormatShape(y)}",
                inputs[1]);
        return y;
    }

    /// <summary>The output shape for input <paramref name="x"/> (the residual, if any, must have it).</summary>
    public int[] OutputFor(int[] x)
    {
        if (x.Length != 4 || x[3] != Cin) throw ShapeError(Kind, $"expects [N, H, W, {Cin}]", x);
        int ho = OutExtent(x[1], Kernel.H, Stride.H, Pad.H, Dilation.H),
            wo = OutExtent(x[2], Kernel.W, Stride.W, Pad.W, Dilation.W);
        if (ho <= 0 || wo <= 0) throw ShapeError(Kind, "input is smaller than the dilated kernel", x);
        return [x[0], ho, wo, Cout];
    }

    public override long WeightElements => Weight.LongLength + (Bias?.LongLength ?? 0);

    /// <summary>2·Cin·kH·kW FLOPs per output element, padding taps included (as PyTorch counts), plus one per
    /// element for a residual.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        (2L * Cin * Kernel.H * Kernel.W + (Residual ? 1 : 0)) * Tensors.Tensor.ElementCountOf(OutputShape(inputs));
}
