using Dfer.Ops.AddAct;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Nms;
using Dfer.Ops.SepConv2d;
using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// Op cases of the face-api networks' ops (sepconv2d, maxpool2d, addact, boxdecode, nms): tiny,
/// odd-sized (primes, asymmetric TF 'same' padding) and the expression net's and tiny face
/// detector's own shapes.
/// </summary>
internal static class FaceApiOpCases
{
    public static IReadOnlyList<OpCase> For(OpKind kind, DeterministicRandom rng) => kind switch
    {
        OpKind.SepConv2d => SepConv2d(rng),
        OpKind.MaxPool2d => MaxPool2d(),
        OpKind.AddAct => AddAct(),
        OpKind.BoxDecode => BoxDecode(rng),
        OpKind.Nms => Nms(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static float[] Weights(DeterministicRandom rng, int count, int fanIn)
    {
        float bound = (float)Math.Sqrt(3.0 / Math.Max(1, fanIn));
        return rng.Uniform(count, -bound, bound);
    }

    private static OpCase[] SepConv2d(DeterministicRandom rng)
    {
        // (n, c, h, w, cout (0: depthwise only), k, s, pad, bias, act)
        var shapes = new (int n, int c, int h, int w, int co, (int H, int W) k, (int H, int W) s, Pad2d p, bool bias, Activation act)[]
        {
            (1, 1, 1, 1, 1, (1, 1), (1, 1), Pad2d.Uniform(0), true, Activation.None),
            (2, 3, 5, 7, 5, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.Relu),
            (1, 13, 11, 9, 19, (3, 3), (2, 2), Pad2d.Same(11, 9, 3, 3, 2, 2), true, Activation.Leaky),
            (2, 37, 8, 12, 0, (3, 3), (2, 2), Pad2d.Same(8, 12, 3, 3, 2, 2), true, Activation.Relu),
            (3, 11, 6, 6, 7, (3, 5), (2, 1), new Pad2d(1, 2, 0, 2), false, Activation.None),
            (2, 17, 13, 13, 0, (3, 3), (1, 1), Pad2d.Uniform(1), false, Activation.Leaky),
            (1, 32, 56, 56, 32, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.None),      // expression net dense0
            (1, 128, 14, 14, 256, (3, 3), (2, 2), Pad2d.Same(14, 14, 3, 3, 2, 2), true, Activation.Relu), // dense3 conv0
            (1, 256, 13, 13, 512, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.Leaky),   // detector conv5
        };
        return shapes.Select(c =>
        {
            int taps = c.k.H * c.k.W, co = c.co == 0 ? c.c : c.co;
            var op = new SepConv2dOp(c.c, c.k, c.s, c.p, Weights(rng, c.c * taps, taps), c.co == 0 ? null : Weights(rng, co * c.c, c.c), co,
                c.bias ? rng.Uniform(co, -0.5f, 0.5f) : null, c.act);
            string name = $"sepconv2d(n={c.n},c={c.c},h={c.h},w={c.w},k={c.k.H}x{c.k.W},s={c.s.H}x{c.s.W},p={c.p},{(c.co == 0 ? "depthwise" : $"cout={co}")}{(c.bias ? "" : ",nobias")}{ActivationMath.Suffix(c.act)})";
            return new OpCase(name, op, new[] { new[] { c.n, c.h, c.w, c.c } });
        }).ToArray();
    }

    private static OpCase[] MaxPool2d()
    {
        var cases = new (int[] x, (int H, int W) k, (int H, int W) s, Pad2d p)[]
        {
            (new[] { 1, 1, 1, 1 }, (1, 1), (1, 1), Pad2d.Uniform(0)),
            (new[] { 2, 5, 7, 11 }, (2, 2), (2, 2), Pad2d.Same(5, 7, 2, 2, 2, 2)),
            (new[] { 1, 13, 13, 3 }, (2, 2), (1, 1), Pad2d.Same(13, 13, 2, 2, 1, 1)),
            (new[] { 2, 7, 9, 13 }, (3, 3), (2, 2), Pad2d.Uniform(1)),
            (new[] { 1, 207, 207, 16 }, (2, 2), (2, 2), Pad2d.Same(207, 207, 2, 2, 2, 2)), // detector after conv0
            (new[] { 1, 13, 13, 512 }, (2, 2), (1, 1), Pad2d.Same(13, 13, 2, 2, 1, 1)),     // detector before conv8
        };
        return cases.Select(c => new OpCase(
            $"maxpool2d(n={c.x[0]},h={c.x[1]},w={c.x[2]},c={c.x[3]},k={c.k.H}x{c.k.W},s={c.s.H}x{c.s.W},p={c.p})",
            new MaxPool2dOp(c.k, c.s, c.p), new[] { c.x })).ToArray();
    }

    private static OpCase[] AddAct() => new (int[] s, int inputs, Activation act)[]
        {
            (new[] { 1 }, 1, Activation.Relu),
            (new[] { 3, 5, 7 }, 2, Activation.Leaky),
            (new[] { 2, 13, 11, 37 }, 3, Activation.None),
            (new[] { 1, 56, 56, 32 }, 4, Activation.Relu),
            (new[] { 1, 414, 414, 16 }, 1, Activation.Leaky),
        }
        .Select(c => new OpCase($"addact({string.Join("x", c.s)},inputs={c.inputs}{ActivationMath.Suffix(c.act)})", new AddActOp(c.inputs, c.act),
            Enumerable.Repeat(c.s, c.inputs).Select(s => (int[])s.Clone()).ToArray())).ToArray();

    private static OpCase[] BoxDecode(DeterministicRandom rng) => new (int n, int gh, int gw, int a)[] { (1, 1, 1, 1), (2, 3, 7, 2), (1, 13, 13, 5), (3, 5, 11, 3) }
        .Select(c => new OpCase($"boxdecode(n={c.n},gh={c.gh},gw={c.gw},anchors={c.a})",
            new BoxDecodeOp(rng.Uniform(c.a, 0.5f, 10f), rng.Uniform(c.a, 0.5f, 10f)), new[] { new[] { c.n, c.gh, c.gw, 5 * c.a } },
            new[] { (-3f, 3f) })).ToArray();

    // Random boxes in [0, 1)^4: a quarter are proper (x0 < x1, y0 < y1) and overlap a lot, the rest
    // have zero intersection with everything; scores in [0, 1).
    private static OpCase[] Nms() => new (int n, int k, double score, double iou)[] { (1, 1, 0.5, 0.4), (2, 7, 0.5, 0.4), (3, 61, 0.3, 0.2), (2, 845, 0.5, 0.4), (1, 200, 0.1, 0.05) }
        .Select(c => new OpCase($"nms(n={c.n},k={c.k},score>{c.score},iou>{c.iou})", new NmsOp(c.score, c.iou),
            new[] { new[] { c.n, c.k, 5 } }, new[] { (0f, 1f) })).ToArray();
}
