using Dfer.Backends;
using Dfer.Models;
using Dfer.Pipelines;
using Dfer.Tensors;
using Dfer.TorchSupport;
using Dfer.Weights;

namespace Dfer.Tests.Models;

/// <summary>
/// The engine's Temporal Encoder (a graph of Dfer's ops, chunked by <see cref="TemporalAggregation"/>) against the
/// TorchSharp float64 oracle (<see cref="TorchTemporalEncoder"/>: libtorch's own TransformerEncoderLayer for post-norm,
/// MultiheadAttention + LayerNorm modules for pre-norm) on fresh random weights: per-frame probabilities within 1e-4
/// for both norm placements, both activations, all three positional terms, with and without a final norm, on videos
/// whose last chunk is shorter than W, on every CPU-side backend.
/// </summary>
[TestFixture]
public class TemporalEncoderTests
{
    private const int Window = 4;

    public static IEnumerable<TestCaseData> Configurations()
    {
        int i = 0;
        foreach (bool normFirst in new[] { false, true })
            foreach (string activation in new[] { "relu", "gelu" })
                foreach (var positional in Enum.GetValues<TemporalPositional>())
                {
                    // Alternate the feature kind and the final norm so every value of each meets both of the others.
                    bool logits = i % 2 == 1, finalNorm = i % 3 == 0;
                    yield return new TestCaseData(normFirst, activation, positional, logits, finalNorm, 11 + i++)
                        .SetArgDisplayNames($"{(normFirst ? "pre" : "post")}-norm", activation,
                            positional.ToString().ToLowerInvariant(), logits ? "logits" : "pooled",
                            finalNorm ? "final-norm" : "no-final-norm");
                }
    }

    [TestCaseSource(nameof(Configurations))]
    public void PerFrameProbabilities_MatchTheTorchSharpTransformerEncoder(bool normFirst, string activation,
        TemporalPositional positional, bool logits, bool finalNorm, int seed)
    {
        string features = logits ? TemporalFeatures.Logits : TemporalFeatures.Pooled;
        int f = TemporalEncoderConfig.FeatureSizes[features], d = 12, heads = 3;
        string pos = positional.ToString().ToLowerInvariant();
        var weights = TemporalEncoderWeights.Random((int)TestSeed.Use((ulong)seed), f, d, heads, [20, 16], Window, pos,
            finalNorm);
        var config = new TemporalEncoderConfig(features, heads, normFirst, activation, Window, positional);
        var encoder = TemporalEncoder.Create(ToStateDict(weights), config);

        // 2W + 3 face frames: two full chunks (one batch of 2) and a last chunk of 3.
        int n = 2 * Window + 3;
        var rng = new DeterministicRandom(TestSeed.Use((ulong)seed + 100));
        float[] x = rng.Uniform(n * f, -2f, 2f);
        using var oracle = new TorchTemporalEncoder(weights, heads, normFirst, activation, Window, pos);
        double[] want = oracle.PerFrameProbabilities(x.Select(v => (double)v).ToArray(), n);

        foreach (string backendName in new[] { "cpu", "ilgpu-cpu" })
        {
            using IBackend backend = BackendRegistry.Create(backendName, 2, Precision.Fp32);
            using var aggregation = new TemporalAggregation(backend, encoder, batch: 2);
            float[][] got = aggregation.Run("clip", Enumerable.Range(0, n).Select(i => x[(i * f)..((i + 1) * f)])
                .ToList());
            double worst = 0;
            for (int i = 0; i < n; i++)
                for (int c = 0; c < 7; c++)
                {
                    Assert.That(float.IsFinite(got[i][c]), $"{backendName}: frame {i} class {c} is {got[i][c]}");
                    worst = Math.Max(worst, Math.Abs(got[i][c] - want[i * 7 + c]));
                }
            Assert.That(worst, Is.LessThan(1e-4), $"{backendName}: max |Δp| {worst:E2}");
            TestContext.Out.WriteLine($"{backendName}: max |Δp| {worst:E2}");
        }
    }

    [Test]
    public void Chunking_IsReal_ALongerWindowGivesOtherProbabilities()
    {
        // The same weights with W = 11 (one chunk) and W = 4 (three): chunk boundaries change what a frame attends to.
        var weights = TemporalEncoderWeights.Random((int)TestSeed.Use(3), 7, 8, 2, [16], 11, "sinusoidal", false);
        var x = new DeterministicRandom(TestSeed.Use(4)).Uniform(11 * 7, -2f, 2f);
        var rows = Enumerable.Range(0, 11).Select(i => x[(i * 7)..((i + 1) * 7)]).ToList();
        using IBackend backend = BackendRegistry.Create("cpu", 2, Precision.Fp32);
        float[][] Run(int window)
        {
            var config = new TemporalEncoderConfig(TemporalFeatures.Logits, 2, false, "relu", window,
                TemporalPositional.Sinusoidal);
            using var a = new TemporalAggregation(backend, TemporalEncoder.Create(ToStateDict(weights), config), 4);
            return a.Run("clip", rows);
        }
        float[][] whole = Run(11), chunked = Run(4);
        Assert.That(whole[0].Zip(chunked[0]).Max(p => Math.Abs(p.First - p.Second)), Is.GreaterThan(1e-3));
        Assert.That(whole.Select(r => r.Sum()), Is.All.EqualTo(1f).Within(1e-5));
    }

    [Test]
    public void NonFiniteFeatures_AreRefusedNamingTheInput()
    {
        var weights = TemporalEncoderWeights.Random((int)TestSeed.Use(5), 7, 8, 2, [16], 4, "none", false);
        var config = new TemporalEncoderConfig(TemporalFeatures.Logits, 2, true, "gelu", 4, TemporalPositional.None);
        using IBackend backend = BackendRegistry.Create("cpu", 1, Precision.Fp32);
        using var a = new TemporalAggregation(backend, TemporalEncoder.Create(ToStateDict(weights), config), 1);
        var rows = Enumerable.Range(0, 3).Select(_ => new float[7]).ToList();
        rows[1][2] = float.NaN;
        var e = Assert.Throws<DferException>(() => a.Run("clip.mp4", rows))!;
        Assert.That(e.Message, Does.StartWith("clip.mp4: the features of face frame 1 are not finite"));
    }

    internal static StateDict ToStateDict(Dictionary<string, (float[] Data, long[] Shape)> weights,
        string source = "random.safetensors")
    {
        var sd = new StateDict(source);
        foreach (var (name, (data, shape)) in weights) sd.Add(name, DType.F32, shape, data);
        return sd;
    }
}
