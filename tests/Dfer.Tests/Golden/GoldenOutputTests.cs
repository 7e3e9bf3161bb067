using System.Diagnostics;
using System.Text.Json;
using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Tests.Golden;

/// <summary>
/// Dfer against the ORIGINAL published PyTorch code of each model (not against Dfer's own TorchSharp
/// rewrites of its specs, which share any misreading of docs/models/*.md): golden.json holds the logits the
/// authors' code gave, in float64 and float32, on weights and clips that <see cref="GoldenWeights"/>
/// regenerates bit for bit (tests/fixtures/golden/make_golden.py made them; CI never runs Python).
/// The generator is checked first, on sample values and on digests of every weight and clip, so a
/// generator mismatch is reported as such and not as a model mismatch.
/// </summary>
[TestFixture]
public sealed class GoldenOutputTests
{
    /// <summary>docs/models/*.md: fp32 logits within 1e-4 of a float64 run of the original.</summary>
    private const double Tolerance = 1e-4;

    private static readonly Lazy<JsonElement> Fixture = new(() =>
    {
        string path = Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "golden", "golden.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.Clone();
    });

    private static JsonElement Golden(string model) => Fixture.Value.GetProperty("models").GetProperty(model);

    private static ulong Seed(JsonElement g) => g.GetProperty("seed").GetUInt64();

    /// <summary>A digest of golden.json (written as a string: it needs all 64 bits).</summary>
    private static ulong Digest(JsonElement g, string key) => ulong.Parse(g.GetProperty(key).GetString()!);

    private static Dictionary<string, double> Gains(JsonElement g) =>
        g.GetProperty("gains").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());

    private static double[][] Logits(JsonElement g, string dtype) =>
        g.GetProperty("logits_" + dtype).EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();

    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);

    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    [Test]
    public void FixtureIsOfThisGenerator()
    {
        Assert.That(Fixture.Value.GetProperty("generator").GetString(), Is.EqualTo(GoldenWeights.Version));
        foreach (var m in Fixture.Value.GetProperty("models").EnumerateObject())
        {
            Assert.That(m.Value.GetProperty("generator").GetString(), Is.EqualTo(GoldenWeights.Version), m.Name);
            Assert.That(m.Value.GetProperty("upstream_commit").GetString(), Does.Match("^[0-9a-f]{40}$"), m.Name);
        }
    }

    /// <summary>Values the Python generator printed, one by one (the RDFER ones need no engine model).</summary>
    [TestCase("m3dfel")]
    [TestCase("ifdd")]
    [TestCase("rdfer")]
    public void GeneratorReproducesPythonSamples(string model)
    {
        var g = Golden(model);
        ulong seed = Seed(g);
        var gains = Gains(g);
        foreach (var s in g.GetProperty("samples").EnumerateArray())
        {
            string key = s.GetProperty("key").GetString()!;
            long[] shape = s.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            long index = s.GetProperty("index").GetInt64();
            float want = (float)s.GetProperty("value").GetDouble();
            float got = GoldenWeights.Tensor(seed, key, shape, gains.GetValueOrDefault(key, 1.0))[index];
            Assert.That(BitConverter.SingleToUInt32Bits(got), Is.EqualTo(BitConverter.SingleToUInt32Bits(want)),
                $"{model} {key}[{index}]: C# {got:R}, Python {want:R}");
        }
        int[] clip = g.GetProperty("clip_shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
        var clips = GoldenWeights.Clips(seed, g.GetProperty("batch").GetInt32(), clip[0], clip[2]);
        foreach (var s in g.GetProperty("clip_samples").EnumerateArray())
        {
            long index = s.GetProperty("index").GetInt64();
            Assert.That(clips[index], Is.EqualTo((float)s.GetProperty("value").GetDouble()), $"{model} clip[{index}]");
        }
        Assert.That(GoldenWeights.Digest(clips), Is.EqualTo(Digest(g, "clips_digest")),
            $"{model}: the clips differ from Python's");
    }

    [Test]
    public void M3dfelMatchesTheOriginalCode() => CompareWithOriginal("m3dfel");

    [Test]
    public void IfddMatchesTheOriginalCode() => CompareWithOriginal("ifdd");

    /// <summary>
    /// RDFER: the logits, and the key frames the original's sampler chose (golden.json's <c>key_frames</c>: the 16
    /// detail-frame indices per clip, −1 for a black frame), which must be identical.
    /// </summary>
    [Test]
    public void RdferMatchesTheOriginalCode()
    {
        ClipResult[] ours = CompareWithOriginal("rdfer");
        int[][] want = Golden("rdfer").GetProperty("key_frames").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(k => k.GetInt32()).ToArray()).ToArray();
        Assert.That(ours.Select(r => r.KeyFrames), Is.EqualTo(want), "the key frames differ from the original's");
    }

    private ClipResult[] CompareWithOriginal(string name)
    {
        var g = Golden(name);
        var model = ModelRegistry.Get(name);
        ulong seed = Seed(g);
        int batch = g.GetProperty("batch").GetInt32();
        int[] clip = g.GetProperty("clip_shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
        Assert.That(model.ClipShape, Is.EqualTo(clip), $"{name}: clip shape");

        var weights = GoldenWeights.StateDict(seed, model.StateDictKeys, Gains(g));
        var clips = GoldenWeights.Clips(seed, batch, clip[0], clip[2]);
        Assert.That(weights.Count, Is.EqualTo(g.GetProperty("state_dict_entries").GetInt32()), $"{name}: entries");
        Assert.That(GoldenWeights.Digest(weights), Is.EqualTo(Digest(g, "weights_digest")),
            $"{name}: the generated weights differ from Python's (a generator mismatch, not a model mismatch)");
        Assert.That(GoldenWeights.Digest(clips), Is.EqualTo(Digest(g, "clips_digest")),
            $"{name}: the generated clips differ from Python's");

        var watch = Stopwatch.StartNew();
        using var session = new Session(model, weights, _cpu);
        var ours = session.Run(clips, batch);
        watch.Stop();

        double[][] want64 = Logits(g, "float64"), want32 = Logits(g, "float32");
        double max64 = 0, max32 = 0, spread = 0, oursSpread = 0;
        for (int b = 0; b < batch; b++)
        {
            Assert.That(ours[b].Logits, Has.Length.EqualTo(want64[b].Length), $"{name}: classes");
            for (int c = 0; c < want64[b].Length; c++)
            {
                Assert.That(float.IsFinite(ours[b].Logits[c]), $"{name} clip {b} logit {c} is {ours[b].Logits[c]}");
                max64 = Math.Max(max64, Math.Abs(ours[b].Logits[c] - want64[b][c]));
                max32 = Math.Max(max32, Math.Abs(ours[b].Logits[c] - want32[b][c]));
                spread = Math.Max(spread, Math.Abs(want64[b][c] - want64[0][c]));
                oursSpread = Math.Max(oursSpread, Math.Abs(ours[b].Logits[c] - ours[0].Logits[c]));
            }
        }
        TestContext.Out.WriteLine($"{name} (upstream {g.GetProperty("upstream_commit").GetString()}): Dfer CPU " +
            $"{watch.Elapsed.TotalSeconds:F1} s; max |Δlogit| vs original float64 {max64:E2}, vs original " +
            $"float32 {max32:E2}; clips' logits differ by up to {spread:F4}");
        Assert.That(max64, Is.LessThanOrEqualTo(Tolerance),
            $"{name}: Dfer's logits differ from the original code's float64 logits by {max64:E3}");
        // The comparison proves something only if the logits depend clearly on the clip.
        Assert.That(spread, Is.GreaterThan(100 * Tolerance), $"{name}: the golden clips' logits barely differ");
        Assert.That(oursSpread, Is.GreaterThan(100 * Tolerance), $"{name}: Dfer's clips' logits barely differ");
        return ours;
    }
}
