using Dfer.Reference;
using Dfer.TorchSupport;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.Tests.Torch;

/// <summary>
/// The TorchSharp Temporal Encoder oracle written from <c>docs/models/temporal-encoder.md</c>: its module routes
/// against a composition of functional ops written here, a pre-norm case computed by hand, precision, chunking, the
/// positional terms and strict loading. Small dimensions keep the whole class within seconds.
/// </summary>
[TestFixture]
public sealed class TorchTemporalEncoderTests
{
    private const int Classes = TorchTemporalEncoder.Classes;

    [OneTimeSetUp]
    public void LoadTorch() => TorchRuntime.EnsureLoaded();

    // ---- Module routes against a functional composition ----

    [TestCase("relu", "sinusoidal", true, 1e-5, TestName = "PostNorm_Relu_Sinusoidal_FinalNorm")]
    [TestCase("gelu", "learned", false, 1e-5, TestName = "PostNorm_Gelu_Learned")]
    [TestCase("gelu", "none", true, 1e-3, TestName = "PostNorm_Gelu_OtherEps")]
    public void PostNorm_EqualsFunctionalComposition(string activation, string positional, bool finalNorm,
        double eps)
    {
        const int features = 10, d = 12, heads = 3, window = 6;
        var rng = TestSeed.Random(301);
        var weights = TemporalEncoderWeights.Random(rng.Next(), features, d, heads, [20, 9], window, positional,
            finalNorm);
        using var model = new TorchTemporalEncoder(weights, heads, normFirst: false, activation, window, positional,
            eps);
        Assert.That(model.FeedForward, Is.EqualTo(new[] { 20, 9 }));
        foreach (int length in new[] { window, 4 })
        {
            var x = RandomFeatures(rng, length, features);
            var expected = FunctionalLogits(weights, x, length, heads, normFirst: false, activation == "gelu",
                Positional(weights, positional, length, d), eps);
            AssertClose(model.ChunkLogits(x, length), expected, 1e-10, $"L = {length}");
        }
    }

    [TestCase("relu", "learned", false, TestName = "PreNorm_Relu_Learned")]
    [TestCase("gelu", "sinusoidal", true, TestName = "PreNorm_Gelu_Sinusoidal_FinalNorm")]
    public void PreNorm_EqualsFunctionalComposition(string activation, string positional, bool finalNorm)
    {
        const int features = 7, d = 8, heads = 2, window = 5;
        var rng = TestSeed.Random(302);
        var weights = TemporalEncoderWeights.Random(rng.Next(), features, d, heads, [16, 5, 3], window, positional,
            finalNorm);
        using var model = new TorchTemporalEncoder(weights, heads, normFirst: true, activation, window, positional);
        Assert.That(model.HasFinalNorm, Is.EqualTo(finalNorm));
        foreach (int length in new[] { window, 3 })
        {
            var x = RandomFeatures(rng, length, features);
            var expected = FunctionalLogits(weights, x, length, heads, normFirst: true, activation == "gelu",
                Positional(weights, positional, length, d), 1e-5);
            AssertClose(model.ChunkLogits(x, length), expected, 1e-10, $"L = {length}");
        }
    }

    [Test]
    public void PreNorm_EqualsHandComputedTinyCase()
    {
        // F = 1, d = 2, one head, one layer with ff = 1, L = 2, sinusoidal positions, a final norm, eps 0.25 (large,
        // so that the 2-wide LayerNorms do not saturate at ±1).
        const double eps = 0.25;
        double[] inW = [0.8, -0.6], inB = [0.1, 0.3];
        double[][] qkvW = [[0.5, -0.2], [0.3, 0.7], [-0.4, 0.6], [0.9, 0.1], [0.2, -0.8], [0.6, 0.4]];
        double[] qkvB = [0.05, -0.1, 0.2, 0.0, -0.3, 0.15];
        double[][] outW = [[0.7, -0.3], [0.4, 0.9]];
        double[] outB = [-0.2, 0.1];
        double[] l1W = [0.9, -1.1];
        double l1B = 1.9;
        double[] l2W = [1.3, -0.7], l2B = [0.2, -0.1];
        double[] g1 = [1.1, 0.9], b1 = [0.1, -0.2], g2 = [0.8, 1.2], b2 = [-0.1, 0.3], gf = [1.05, 0.95];
        double[] bf = [0.0, 0.2];
        double[][] headW = [.. Enumerable.Range(0, Classes).Select(c => new[] { 0.3 * c - 0.9, 0.5 - 0.2 * c })];
        double[] headB = [.. Enumerable.Range(0, Classes).Select(c => 0.05 * c)];
        double[] x = [0.7, -1.2];

        var weights = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal)
        {
            ["input_proj.weight"] = (Floats(inW), [2, 1]),
            ["input_proj.bias"] = (Floats(inB), [2]),
            ["encoder.layers.0.self_attn.in_proj_weight"] = (Floats(qkvW.SelectMany(r => r)), [6, 2]),
            ["encoder.layers.0.self_attn.in_proj_bias"] = (Floats(qkvB), [6]),
            ["encoder.layers.0.self_attn.out_proj.weight"] = (Floats(outW.SelectMany(r => r)), [2, 2]),
            ["encoder.layers.0.self_attn.out_proj.bias"] = (Floats(outB), [2]),
            ["encoder.layers.0.linear1.weight"] = (Floats(l1W), [1, 2]),
            ["encoder.layers.0.linear1.bias"] = (Floats([l1B]), [1]),
            ["encoder.layers.0.linear2.weight"] = (Floats(l2W), [2, 1]),
            ["encoder.layers.0.linear2.bias"] = (Floats(l2B), [2]),
            ["encoder.layers.0.norm1.weight"] = (Floats(g1), [2]),
            ["encoder.layers.0.norm1.bias"] = (Floats(b1), [2]),
            ["encoder.layers.0.norm2.weight"] = (Floats(g2), [2]),
            ["encoder.layers.0.norm2.bias"] = (Floats(b2), [2]),
            ["encoder.norm.weight"] = (Floats(gf), [2]),
            ["encoder.norm.bias"] = (Floats(bf), [2]),
            ["head.weight"] = (Floats(headW.SelectMany(r => r)), [Classes, 2]),
            ["head.bias"] = (Floats(headB), [Classes]),
        };
        // The model holds these values as float32: the hand computation starts from the same rounded values.
        double R(double v) => (float)v;

        // 2-wide LayerNorm: mean, biased variance, then scale and shift.
        double[] LayerNorm(double[] v, double[] g, double[] b)
        {
            double mean = (v[0] + v[1]) / 2;
            double variance = ((v[0] - mean) * (v[0] - mean) + (v[1] - mean) * (v[1] - mean)) / 2;
            double s = Math.Sqrt(variance + eps);
            return [(v[0] - mean) / s * R(g[0]) + R(b[0]), (v[1] - mean) / s * R(g[1]) + R(b[1])];
        }
        double Row(double[] w, double[] v) => R(w[0]) * v[0] + R(w[1]) * v[1];

        // Projection plus PE[0] = (sin 0, cos 0) = (0, 1), PE[1] = (sin 1, cos 1).
        double[][] h =
        [
            [R(inW[0]) * R(x[0]) + R(inB[0]) + 0, R(inW[1]) * R(x[0]) + R(inB[1]) + 1],
            [R(inW[0]) * R(x[1]) + R(inB[0]) + Math.Sin(1), R(inW[1]) * R(x[1]) + R(inB[1]) + Math.Cos(1)],
        ];
        // Self-attention on norm1(h): one head of width 2, scale 1/√2.
        double[][] y = [LayerNorm(h[0], g1, b1), LayerNorm(h[1], g1, b1)];
        double[][] q = [.. y.Select(v => new[] { Row(qkvW[0], v) + R(qkvB[0]), Row(qkvW[1], v) + R(qkvB[1]) })];
        double[][] k = [.. y.Select(v => new[] { Row(qkvW[2], v) + R(qkvB[2]), Row(qkvW[3], v) + R(qkvB[3]) })];
        double[][] vv = [.. y.Select(v => new[] { Row(qkvW[4], v) + R(qkvB[4]), Row(qkvW[5], v) + R(qkvB[5]) })];
        for (int l = 0; l < 2; l++)
        {
            double s0 = (q[l][0] * k[0][0] + q[l][1] * k[0][1]) / Math.Sqrt(2);
            double s1 = (q[l][0] * k[1][0] + q[l][1] * k[1][1]) / Math.Sqrt(2);
            double a0 = 1 / (1 + Math.Exp(s1 - s0)), a1 = 1 - a0;
            double[] o = [a0 * vv[0][0] + a1 * vv[1][0], a0 * vv[0][1] + a1 * vv[1][1]];
            h[l] = [h[l][0] + Row(outW[0], o) + R(outB[0]), h[l][1] + Row(outW[1], o) + R(outB[1])];
        }
        // Feed-forward on norm2(h): ReLU of one hidden unit. The weights make it active on one row only.
        var active = new bool[2];
        for (int l = 0; l < 2; l++)
        {
            var u = LayerNorm(h[l], g2, b2);
            double pre = Row(l1W, u) + R(l1B);
            active[l] = pre > 0;
            double f = Math.Max(0, pre);
            h[l] = [h[l][0] + R(l2W[0]) * f + R(l2B[0]), h[l][1] + R(l2W[1]) * f + R(l2B[1])];
        }
        Assert.That(active, Is.EquivalentTo(new[] { true, false }), "the case should exercise both sides of ReLU");
        var expected = new double[2 * Classes];
        for (int l = 0; l < 2; l++)
        {
            var z = LayerNorm(h[l], gf, bf);
            for (int c = 0; c < Classes; c++)
                expected[l * Classes + c] = Row(headW[c], z) + R(headB[c]);
        }

        using var model = new TorchTemporalEncoder(weights, heads: 1, normFirst: true, "relu", window: 2,
            "sinusoidal", eps);
        AssertClose(model.ChunkLogits([R(x[0]), R(x[1])], 2), expected, 1e-12, "logits");
    }

    // ---- Precision and chunking ----

    [Test]
    public void Float32_AgreesWithFloat64()
    {
        const int features = 32, d = 16, heads = 4, window = 8, frames = 19;
        var rng = TestSeed.Random(303);
        var weights = TemporalEncoderWeights.Random(rng.Next(), features, d, heads, [32, 24], window, "learned",
            finalNorm: true);
        var x = RandomFeatures(rng, frames, features);
        foreach (bool normFirst in new[] { false, true })
        {
            using var model64 = new TorchTemporalEncoder(weights, heads, normFirst, "gelu", window, "learned");
            using var model32 = new TorchTemporalEncoder(weights, heads, normFirst, "gelu", window, "learned",
                dtype: ScalarType.Float32);
            Assert.That(model32.DType, Is.EqualTo(ScalarType.Float32));
            var p64 = model64.PerFrameProbabilities(x, frames);
            var p32 = model32.PerFrameProbabilities(x, frames);
            double diff = p64.Zip(p32, (a, b) => Math.Abs(a - b)).Max();
            TestContext.Out.WriteLine($"normFirst {normFirst}: max |p32 - p64| = {diff:G3}");
            Assert.That(diff, Is.LessThan(1e-5), $"normFirst {normFirst}");
            Assert.That(diff, Is.GreaterThan(0), "float32 should round somewhere");
        }
    }

    [TestCase(false, "sinusoidal")]
    [TestCase(true, "none")]
    public void PerFrameProbabilities_RunsEachChunkOnItsOwn(bool normFirst, string positional)
    {
        const int features = 9, d = 8, heads = 2, window = 4, frames = 2 * window + 3;
        var rng = TestSeed.Random(304);
        var weights = TemporalEncoderWeights.Random(rng.Next(), features, d, heads, [12, 6], window, positional,
            finalNorm: normFirst);
        using var model = new TorchTemporalEncoder(weights, heads, normFirst, "relu", window, positional);
        var x = RandomFeatures(rng, frames, features);

        var perFrame = model.PerFrameProbabilities(x, frames);
        Assert.That(perFrame, Has.Length.EqualTo(frames * Classes));

        var expected = new List<double>();
        foreach (var (start, length) in new[] { (0, window), (window, window), (2 * window, 3) })
            expected.AddRange(Softmax(model.ChunkLogits(x[(start * features)..((start + length) * features)], length)));
        AssertClose(perFrame, [.. expected], 1e-12, "chunk by chunk");

        var whole = Softmax(model.ChunkLogits(x, frames));
        double change = perFrame.Zip(whole, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(change, Is.GreaterThan(1e-3), "one chunk of all frames should differ from chunks of W");
        // In one run even the first W frames attend to the later ones, so their rows change too.
        double firstChunk = perFrame.Take(window * Classes).Zip(whole, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(firstChunk, Is.GreaterThan(1e-4), "attention should reach past the first chunk in one run");

        for (int f = 0; f < frames; f++)
        {
            var row = perFrame.AsSpan(f * Classes, Classes).ToArray();
            Assert.That(row.Sum(), Is.EqualTo(1).Within(1e-12), $"row {f}");
            Assert.That(row.All(p => p > 0 && p < 1), $"row {f}");
        }
        double spread = perFrame.Max() - perFrame.Min();
        Assert.That(spread, Is.GreaterThan(0.05), "random weights should give far-from-uniform probabilities");

        var clip = model.ClipProbabilities(x, frames);
        var mean = Enumerable.Range(0, Classes)
            .Select(c => Enumerable.Range(0, frames).Average(f => perFrame[f * Classes + c])).ToArray();
        AssertClose(clip, mean, 1e-15, "clip = mean of frames");
    }

    [Test]
    public void PerFrameProbabilities_ShortVideo_IsOneShortChunk()
    {
        const int features = 5, d = 4, heads = 2, window = 8, frames = 3;
        var rng = TestSeed.Random(305);
        var weights = TemporalEncoderWeights.Random(rng.Next(), features, d, heads, [6], window, "learned", false);
        using var model = new TorchTemporalEncoder(weights, heads, normFirst: false, "gelu", window, "learned");
        var x = RandomFeatures(rng, frames, features);
        AssertClose(model.PerFrameProbabilities(x, frames), Softmax(model.ChunkLogits(x, frames)), 1e-15, "N < W");
        var one = RandomFeatures(rng, 1, features);
        Assert.That(model.PerFrameProbabilities(one, 1).Sum(), Is.EqualTo(1).Within(1e-12));
        Assert.That(() => model.ChunkLogits(RandomFeatures(rng, window + 1, features), window + 1),
            Throws.InstanceOf<ArgumentOutOfRangeException>(), "learned positions have W rows");
        Assert.That(() => model.PerFrameProbabilities(x, frames + 1), Throws.ArgumentException);
    }

    // ---- Positional terms ----

    [Test]
    public void SinusoidalTable_HasTheOriginalTransformersValues()
    {
        const int d = 6, length = 5;
        var pe = TorchTemporalEncoder.SinusoidalTable(length, d);
        Assert.That(pe, Has.Length.EqualTo(length * d));
        Assert.Multiple(() =>
        {
            Assert.That(pe[..d], Is.EqualTo(new double[] { 0, 1, 0, 1, 0, 1 }).Within(1e-15), "PE[0, *]");
            Assert.That(pe[d + 0], Is.EqualTo(Math.Sin(1)).Within(1e-15), "PE[1, 0]");
            Assert.That(pe[d + 1], Is.EqualTo(Math.Cos(1)).Within(1e-15), "PE[1, 1]");
            Assert.That(pe[3 * d + 2], Is.EqualTo(Math.Sin(3 / Math.Pow(10000, 2.0 / d))).Within(1e-14), "PE[3, 2]");
            Assert.That(pe[3 * d + 3], Is.EqualTo(Math.Cos(3 / Math.Pow(10000, 2.0 / d))).Within(1e-14), "PE[3, 3]");
            Assert.That(pe[4 * d + 5], Is.EqualTo(Math.Cos(4 / Math.Pow(10000, 4.0 / d))).Within(1e-14), "PE[4, 5]");
        });

        const int odd = 5;
        var peOdd = TorchTemporalEncoder.SinusoidalTable(length, odd);
        Assert.That(peOdd, Has.Length.EqualTo(length * odd));
        Assert.That(peOdd[..odd], Is.EqualTo(new double[] { 0, 1, 0, 1, 0 }).Within(1e-15), "odd d: PE[0, *]");
        for (int l = 0; l < length; l++)
            Assert.That(peOdd[l * odd + 4], Is.EqualTo(Math.Sin(l / Math.Pow(10000, 4.0 / odd))).Within(1e-14),
                $"odd d ends with a sine column: PE[{l}, 4]");
    }

    [Test]
    public void LearnedPositions_ShortChunk_UsesTheFirstRows()
    {
        const int features = 6, d = 8, heads = 4, window = 6, length = 3;
        var rng = TestSeed.Random(306);
        var weights = TemporalEncoderWeights.Random(rng.Next(), features, d, heads, [10], window, "learned", true);
        using var model = new TorchTemporalEncoder(weights, heads, normFirst: false, "relu", window, "learned");
        var x = RandomFeatures(rng, length, features);
        var table = weights["pos_embed"].Data.Select(v => (double)v).ToArray();

        var logits = model.ChunkLogits(x, length);
        var first = FunctionalLogits(weights, x, length, heads, false, false, table[..(length * d)], 1e-5);
        var shifted = FunctionalLogits(weights, x, length, heads, false, false, table[d..((length + 1) * d)], 1e-5);
        AssertClose(logits, first, 1e-10, "rows 0 … L-1");
        Assert.That(logits.Zip(shifted, (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(1e-3), "rows 1 … L");

        // One frame: pos_embed[0, 0, :] folds into the projection's bias of a model without positions.
        var folded = new Dictionary<string, (float[] Data, long[] Shape)>(weights, StringComparer.Ordinal);
        folded.Remove("pos_embed");
        var bias = weights["input_proj.bias"];
        folded["input_proj.bias"] = ([.. bias.Data.Select((b, j) => b + weights["pos_embed"].Data[j])], bias.Shape);
        using var none = new TorchTemporalEncoder(folded, heads, normFirst: false, "relu", window, "none");
        AssertClose(model.ChunkLogits(x[..features], 1), none.ChunkLogits(x[..features], 1), 1e-6, "L = 1 folded");
    }

    // ---- Strict loading ----

    [Test]
    public void Load_ReadsTheDimensionsFromTheShapes()
    {
        var weights = TemporalEncoderWeights.Random(7, features: 11, dModel: 6, heads: 3, [5, 9, 4], 3, "none", false);
        using var model = new TorchTemporalEncoder(weights, 3, normFirst: true, "relu", 3, "none");
        Assert.Multiple(() =>
        {
            Assert.That(model.Features, Is.EqualTo(11));
            Assert.That(model.DModel, Is.EqualTo(6));
            Assert.That(model.FeedForward, Is.EqualTo(new[] { 5, 9, 4 }));
            Assert.That(model.HasFinalNorm, Is.False);
            Assert.That(model.ClipProbabilities(new double[2 * 11], 2), Has.Length.EqualTo(Classes));
        });
    }

    private static IEnumerable<TestCaseData> BrokenStateDicts()
    {
        static Dictionary<string, (float[] Data, long[] Shape)> Edit(
            Action<Dictionary<string, (float[] Data, long[] Shape)>> edit, string positional = "sinusoidal")
        {
            var w = TemporalEncoderWeights.Random(9, 5, 4, 2, [6, 3], 4, positional, finalNorm: true);
            edit(w);
            return w;
        }
        yield return new TestCaseData(Edit(w => w.Remove("encoder.layers.1.norm2.bias")), "sinusoidal")
            .SetName("Missing_Norm2Bias");
        yield return new TestCaseData(Edit(w => w.Remove("head.weight")), "sinusoidal").SetName("Missing_Head");
        yield return new TestCaseData(Edit(w => w.Remove("pos_embed"), "learned"), "learned")
            .SetName("Missing_PosEmbed");
        yield return new TestCaseData(Edit(w => w.Remove("encoder.norm.weight")), "sinusoidal")
            .SetName("Missing_HalfOfFinalNorm");
        yield return new TestCaseData(Edit(w => w["encoder.layers.0.extra"] = ([1f], [1])), "sinusoidal")
            .SetName("Extra_KeyInLayer");
        yield return new TestCaseData(Edit(w => w["pos_embed"] = (new float[16], [1, 4, 4])), "sinusoidal")
            .SetName("Extra_PosEmbedWithoutLearned");
        yield return new TestCaseData(
            Edit(w => w["encoder.layers.3.linear1.bias"] = (new float[6], [6])), "sinusoidal")
            .SetName("Extra_NonConsecutiveLayer");
        yield return new TestCaseData(
            Edit(w => w["encoder.layers.0.linear2.weight"] = (new float[24], [6, 4])), "sinusoidal")
            .SetName("WrongShape_Linear2Transposed");
        yield return new TestCaseData(
            Edit(w => w["encoder.layers.1.self_attn.in_proj_bias"] = (new float[8], [8])), "sinusoidal")
            .SetName("WrongShape_InProjBias");
        yield return new TestCaseData(Edit(w => w["pos_embed"] = (new float[12], [1, 3, 4]), "learned"), "learned")
            .SetName("WrongShape_PosEmbedRows");
        yield return new TestCaseData(
            Edit(w => w["head.bias"] = (new float[6], [6])), "sinusoidal").SetName("WrongShape_HeadBias");
    }

    [TestCaseSource(nameof(BrokenStateDicts))]
    public void Load_RejectsBrokenStateDict(Dictionary<string, (float[] Data, long[] Shape)> weights,
        string positional)
    {
        foreach (bool normFirst in new[] { false, true })
        {
            var error = Assert.Throws<ArgumentException>(() =>
                new TorchTemporalEncoder(weights, 2, normFirst, "relu", 4, positional).Dispose());
            TestContext.Out.WriteLine(error!.Message);
        }
    }

    [Test]
    public void Load_AcceptsTheUneditedStateDicts()
    {
        // The same generator as BrokenStateDicts, unedited, so that each rejection above is due to its edit.
        foreach (string positional in new[] { "sinusoidal", "learned" })
        {
            var w = TemporalEncoderWeights.Random(9, 5, 4, 2, [6, 3], 4, positional, finalNorm: true);
            foreach (bool normFirst in new[] { false, true })
                Assert.That(() => new TorchTemporalEncoder(w, 2, normFirst, "relu", 4, positional).Dispose(),
                    Throws.Nothing);
        }
    }

    [Test]
    public void Load_RejectsBadOptions()
    {
        var w = TemporalEncoderWeights.Random(9, 5, 4, 2, [6], 4, "none", finalNorm: false);
        Assert.Multiple(() =>
        {
            Assert.That(() => new TorchTemporalEncoder(w, 3, false, "relu", 4, "none"), Throws.ArgumentException,
                "heads not dividing d");
            Assert.That(() => new TorchTemporalEncoder(w, 2, false, "tanh", 4, "none"), Throws.ArgumentException);
            Assert.That(() => new TorchTemporalEncoder(w, 2, false, "relu", 4, "rotary"), Throws.ArgumentException);
            Assert.That(() => new TorchTemporalEncoder(w, 2, false, "relu", 0, "none"),
                Throws.InstanceOf<ArgumentException>(), "window 0");
            Assert.That(() => new TorchTemporalEncoder(w, 2, false, "relu", 4, "none", 0), Throws.ArgumentException);
            Assert.That(() => new TorchTemporalEncoder(w, 2, false, "relu", 4, "none", dtype: ScalarType.Int32),
                Throws.ArgumentException);
        });
    }

    // ---- Helpers ----

    private static float[] Floats(IEnumerable<double> values) => [.. values.Select(v => (float)v)];

    private static double[] RandomFeatures(Random rng, int rows, int features) =>
        [.. Enumerable.Range(0, rows * features).Select(_ => 2 * rng.NextDouble() - 1)];

    /// <summary>The positional rows the contract adds, from the weights or written out with Math.Sin/Cos.</summary>
    private static double[]? Positional(Dictionary<string, (float[] Data, long[] Shape)> weights, string positional,
        int length, int d)
    {
        if (positional == "learned")
            return [.. weights["pos_embed"].Data.Take(length * d).Select(v => (double)v)];
        if (positional == "none")
            return null;
        var pe = new double[length * d];
        for (int l = 0; l < length; l++)
            for (int j = 0; j < d; j++)
            {
                double angle = l / Math.Pow(10000, (j - j % 2) / (double)d);
                pe[l * d + j] = j % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle);
            }
        return pe;
    }

    /// <summary>
    /// The contract's step 3 composed from functional ops in float64 (linear, layer_norm, matmul, softmax, relu,
    /// gelu), with the heads split by reshaping: independent of the oracle's modules.
    /// </summary>
    private static double[] FunctionalLogits(Dictionary<string, (float[] Data, long[] Shape)> weights, double[] x,
        int length, int heads, bool normFirst, bool gelu, double[]? positional, double eps)
    {
        using var scope = NewDisposeScope();
        Tensor W(string key) =>
            tensor(weights[key].Data.Select(v => (double)v).ToArray(), weights[key].Shape, ScalarType.Float64);
        long d = weights["input_proj.weight"].Shape[0], features = weights["input_proj.weight"].Shape[1];
        long headDim = d / heads;

        var h = F.linear(tensor(x, [length, features], ScalarType.Float64), W("input_proj.weight"),
            W("input_proj.bias"));
        if (positional is not null)
            h = h + tensor(positional, [length, d], ScalarType.Float64);
        for (int i = 0; weights.ContainsKey($"encoder.layers.{i}.linear1.weight"); i++)
        {
            string p = $"encoder.layers.{i}.";
            Tensor Norm(Tensor y, string name) =>
                F.layer_norm(y, [d], W($"{p}{name}.weight"), W($"{p}{name}.bias"), eps);
            Tensor SelfAttention(Tensor y)
            {
                var qkv = F.linear(y, W(p + "self_attn.in_proj_weight"), W(p + "self_attn.in_proj_bias"));
                Tensor Split(int part) =>
                    qkv.narrow(1, part * d, d).reshape(length, heads, headDim).transpose(0, 1);
                var scores = matmul(Split(0), Split(1).transpose(1, 2)) / Math.Sqrt(headDim);
                var mixed = matmul(softmax(scores, -1), Split(2)).transpose(0, 1).reshape(length, d);
                return F.linear(mixed, W(p + "self_attn.out_proj.weight"), W(p + "self_attn.out_proj.bias"));
            }
            Tensor FeedForward(Tensor y)
            {
                var hidden = F.linear(y, W(p + "linear1.weight"), W(p + "linear1.bias"));
                return F.linear(gelu ? F.gelu(hidden) : F.relu(hidden), W(p + "linear2.weight"),
                    W(p + "linear2.bias"));
            }
            if (normFirst)
            {
                h = h + SelfAttention(Norm(h, "norm1"));
                h = h + FeedForward(Norm(h, "norm2"));
            }
            else
            {
                h = Norm(h + SelfAttention(h), "norm1");
                h = Norm(h + FeedForward(h), "norm2");
            }
        }
        if (weights.ContainsKey("encoder.norm.weight"))
            h = F.layer_norm(h, [d], W("encoder.norm.weight"), W("encoder.norm.bias"), eps);
        var logits = F.linear(h, W("head.weight"), W("head.bias"));
        return logits.contiguous().data<double>().ToArray();
    }

    private static double[] Softmax(double[] logits)
    {
        var result = new double[logits.Length];
        for (int row = 0; row < logits.Length / Classes; row++)
        {
            var z = logits.AsSpan(row * Classes, Classes);
            double max = double.NegativeInfinity;
            foreach (double v in z)
                max = Math.Max(max, v);
            double sum = 0;
            for (int c = 0; c < Classes; c++)
                sum += result[row * Classes + c] = Math.Exp(z[c] - max);
            for (int c = 0; c < Classes; c++)
                result[row * Classes + c] /= sum;
        }
        return result;
    }

    private static void AssertClose(double[] actual, double[] expected, double tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double diff = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        Assert.That(diff, Is.LessThanOrEqualTo(tolerance), $"{what}: max diff {diff:G3}");
    }
}
