namespace Dfer.Ops.Conv1d;

/// <summary>
/// 1D convolution, stride 1 (PyTorch nn.Conv1d, channels first): <c>y[b,o,l] = bias[o] + Σ_{i,k} W[o,i,k] ·
/// x[b,i,l−p+k]</c>, x zero outside [0, L). [B, Cin, L] → [B, Cout, L + 2p − k + 1]. RDFER's <c>pwconv</c> is one
/// (docs/models/rdfer.md, step 3): the instances are the input channels and the 1024 features the length, so it
/// mixes neighbouring features, one output channel.
/// </summary>
public sealed class Conv1dOp : Op
{
    public Conv1dOp(int cin, int cout, int kernel, int pad, float[] weight, float[]? bias)
    {
        if (cin < 1 || cout < 1 || kernel < 1 || pad < 0)
            throw new ArgumentException($"conv1d: channels {cin} -> {cout}, kernel {kernel}, padding {pad}");
        if (weight.Length != (long)cout * cin * kernel)
            throw new ArgumentException(
                $"conv1d weight has {weight.Length} values, expected [{cout}, {cin}, {kernel}]");
        if (bias != null && bias.Length != cout)
            throw new ArgumentException($"conv1d bias has {bias.Length} values, expected {cout}");
        Cin = cin; Cout = cout; KernelSize = kernel; Pad = pad; Weight = weight; Bias = bias ?? new float[cout];
    }

    public int Cin { get; }
    public int Cout { get; }
    public int KernelSize { get; }
    /// <summary>Zeros on each side of the length axis.</summary>
    public int Pad { get; }
    /// <summary>[Cout, Cin, k], PyTorch's order.</summary>
    public float[] Weight { get; }
    /// <summary>[Cout] (zeros when the layer has none).</summary>
    public float[] Bias { get; }

    public override OpKind Kind => Conv1dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[1] != Cin) throw ShapeError(Kind, $"expects [B, {Cin}, L]", x);
        int lo = x[2] + 2 * Pad - KernelSize + 1;
        if (lo <= 0) throw ShapeError(Kind, $"the padded length is shorter than the kernel of {KernelSize}", x);
        return new[] { x[0], Cout, lo };
    }

    public override long WeightElements => Weight.LongLength + Bias.LongLength;

    /// <summary>2·Cin·k FLOPs per output value, padding taps included.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        2L * Tensors.Tensor.ElementCountOf(OutputShape(inputs)) * Cin * KernelSize;
}
