using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU.Algorithms;

namespace Dfer.Ops;

/// <summary>
/// The pointwise activations: the piecewise-linear ones (ReLU, leaky ReLU, ReLU6) the face-api networks and the
/// convolutions fuse into their epilogues (<see cref="ActivationMath.IsEpilogue"/>), and the smooth ones RDFER's heads
/// apply to small vectors through <c>addact</c> and <c>gate</c> (docs/models/rdfer.md, step 3).
/// </summary>
public enum Activation
{
    /// <summary>y = x.</summary>
    None,
    /// <summary>y = max(x, 0).</summary>
    Relu,
    /// <summary>y = x for x ≥ 0, else 0.1·x (TF.js's leaky ReLU in the tiny face detector).</summary>
    Leaky,
    /// <summary>y = min(max(x, 0), 6), NaN kept (TF.js's <c>clipByValue(x, 0, 6)</c> in SSD MobileNet v1).</summary>
    Relu6,
    /// <summary>y = tanh(x) (RDFER's key centres).</summary>
    Tanh,
    /// <summary>y = 1 / (1 + e^−x) (RDFER's gates and S-to-D attention).</summary>
    Sigmoid,
    /// <summary>y = −|x| (RDFER's key-stride logits; NaN stays NaN).</summary>
    NegAbs,
}

public static class ActivationMath
{
    public const float LeakySlope = 0.1f;
    public const float Relu6Cap = 6f;

    public static float Apply(Activation act, float x) => act switch
    {
        Activation.Relu => x > 0f ? x : (float.IsNaN(x) ? x : 0f),
        Activation.Leaky => x >= 0f || float.IsNaN(x) ? x : LeakySlope * x,
        Activation.Relu6 => x > 0f ? (x < Relu6Cap ? x : Relu6Cap) : (float.IsNaN(x) ? x : 0f),
        Activation.Tanh => MathF.Tanh(x),
        Activation.Sigmoid => 1f / (1f + MathF.Exp(-x)),
        Activation.NegAbs => -MathF.Abs(x),
        _ => x,
    };

    public static double Apply(Activation act, double x) => act switch
    {
        Activation.Relu => x > 0 ? x : (double.IsNaN(x) ? x : 0),
        Activation.Leaky => x >= 0 || double.IsNaN(x) ? x : (double)LeakySlope * x,
        Activation.Relu6 => x > 0 ? Math.Min(x, Relu6Cap) : (double.IsNaN(x) ? x : 0),
        Activation.Tanh => Math.Tanh(x),
        Activation.Sigmoid => 1 / (1 + Math.Exp(-x)),
        Activation.NegAbs => -Math.Abs(x),
        _ => x,
    };

    /// <summary>Whether convolutions may fuse <paramref name="act"/> into their epilogues: none and the
    /// piecewise-linear ones, which every kernel applies exactly as a compare and a select. The smooth ones run in
    /// their own op.</summary>
    public static bool IsEpilogue(Activation act)
        => act is Activation.None or Activation.Relu or Activation.Leaky or Activation.Relu6;

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="act"/> is not
    /// <see cref="IsEpilogue"/>: an op that fuses activations into its store cannot take it.</summary>
    public static void ExpectEpilogue(string op, Activation act)
    {
        if (!IsEpilogue(act))
            throw new ArgumentException(
                $"{op}: {act.ToString().ToLowerInvariant()} is not fused into this op's store; apply it with addact");
    }

    /// <summary>Whether <see cref="Apply(Activation, Vector256{float})"/> takes <paramref name="act"/>: the
    /// piecewise-linear activations, which a compare and a select give exactly.</summary>
    public static bool HasVectorForm(Activation act) => IsEpilogue(act) || act == Activation.NegAbs;

    /// <summary>
    /// <see cref="Apply(Activation, float)"/> on eight lanes, as selects rather than its comparisons: ReLU replaces
    /// x ≤ 0 by +0 (so −0 gives +0, and NaN, never ≤ 0, stays), leaky ReLU replaces x &lt; 0 by 0.1·x (−0 and NaN
    /// stay), ReLU6 also replaces x &gt; 6 by 6 (NaN, never &gt; 6, stays). An activation without a vector form
    /// (<see cref="HasVectorForm"/>) throws.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Apply(Activation act, Vector256<float> x) => act switch
    {
        Activation.None => x,
        Activation.Relu => Vector256.ConditionalSelect(Vector256.LessThanOrEqual(x, Vector256<float>.Zero),
            Vector256<float>.Zero, x),
        Activation.Leaky => Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero),
            x * Vector256.Create(LeakySlope), x),
        Activation.Relu6 => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(Relu6Cap)),
            Vector256.Create(Relu6Cap), Vector256.ConditionalSelect(Vector256.LessThanOrEqual(x, Vector256<float>.Zero),
                Vector256<float>.Zero, x)),
        Activation.NegAbs => -Vector256.Abs(x),
        _ => throw new ArgumentOutOfRangeException(nameof(act), act, "no vector form; apply it per element"),
    };

    /// <summary>
    /// <see cref="Apply(Activation, float)"/> for ILGPU kernels, which take the activation as an int (kernel
    /// arguments are plain values) and use ILGPU's math functions on the device.
    /// </summary>
    public static float ApplyOnDevice(int act, float x) => act switch
    {
        (int)Activation.Relu => x > 0f || float.IsNaN(x) ? x : 0f,
        (int)Activation.Leaky => x >= 0f || float.IsNaN(x) ? x : LeakySlope * x,
        (int)Activation.Relu6 => x > 0f ? (x < Relu6Cap ? x : Relu6Cap) : (float.IsNaN(x) ? x : 0f),
        (int)Activation.Tanh => XMath.Tanh(x),
        (int)Activation.Sigmoid => 1f / (1f + XMath.Exp(-x)),
        (int)Activation.NegAbs => -XMath.Abs(x),
        _ => x,
    };

    public static string Suffix(Activation act)
        => act switch
        {
            Activation.Relu => ",relu",
            Activation.Leaky => ",leaky",
            Activation.Relu6 => ",relu6",
            Activation.Tanh => ",tanh",
            Activation.Sigmoid => ",sigmoid",
            Activation.NegAbs => ",negabs",
            _ => "",
        };
}

/// <summary>Padding of a 2D window op, possibly asymmetric as TF's <c>'same'</c> is: top, left, bottom,
/// right.</summary>
public readonly record struct Pad2d(int Top, int Left, int Bottom, int Right)
{
    public static Pad2d Uniform(int p) => new(p, p, p, p);

    /// <summary>
    /// TF's <c>'same'</c> padding for a k×k window with stride s on an h×w input: the output is
    /// ceil(size/s); the total padding max((out−1)·s + k − size, 0) is split with the smaller half
    /// before (so a stride-2 3×3 on an even size pads only the bottom and right by 1).
    /// </summary>
    public static Pad2d Same(int h, int w, int kh, int kw, int sh, int sw)
    {
        int Total(int size, int k, int s) => Math.Max(((size + s - 1) / s - 1) * s + k - size, 0);
        int th = Total(h, kh, sh), tw = Total(w, kw, sw);
        return new Pad2d(th / 2, tw / 2, th - th / 2, tw - tw / 2);
    }

    public bool IsNonNegative => Top >= 0 && Left >= 0 && Bottom >= 0 && Right >= 0;
    public override string ToString()
        => Top == Bottom && Left == Right ? (Top == Left ? $"{Top}" : $"{Top}x{Left}")
        : $"{Top}x{Left}x{Bottom}x{Right}";

    /// <summary>Output extent along one axis: (size + before + after − k)/s + 1, ≤ 0 when the window does not
    /// fit.</summary>
    public static int Extent(int size, int before, int after, int k, int s)
    {
        int span = size + before + after - k;
        return span < 0 ? 0 : span / s + 1;
    }
}
