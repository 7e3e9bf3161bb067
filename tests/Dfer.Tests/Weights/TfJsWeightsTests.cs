using System.Buffers.Binary;
using Dfer.Tensors;
using Dfer.Weights.TfJs;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

[TestFixture]
public class TfJsWeightsTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private string Write(string manifest, params (string Name, byte[] Bytes)[] shards)
    {
        foreach (var (name, bytes) in shards) File.WriteAllBytes(_dir.PathOf(name), bytes);
        string path = _dir.PathOf("m-weights_manifest.json");
        File.WriteAllText(path, manifest);
        return path;
    }

    private static byte[] F32(params float[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), v[i]);
        return b;
    }

    [Test]
    public void Float32AndUint8QuantisedAcrossTwoShards()
    {
        // a: float32 [2] = 1.5, -2.25 ; b: uint8 [2, 2] codes 0, 1, 10, 255 with scale 0.5, min -3
        // → -3, -2.5, 2, 124.5 ; c: int32 [1] = -7. The shard boundary falls inside b.
        byte[] all = [.. F32(1.5f, -2.25f), 0, 1, 10, 255, .. BitConverter.GetBytes(-7)];
        string m = """
            [{"paths": ["s1.bin", "s2.bin"], "weights": [
              {"name": "a", "shape": [2], "dtype": "float32"},
              {"name": "g/b", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -3}},
              {"name": "c", "shape": [1], "dtype": "int32"}]}]
            """;
        var dict = TfJsWeights.Load(Write(m, ("s1.bin", all[..10]), ("s2.bin", all[10..])));
        Assert.That(dict.Count, Is.EqualTo(3));
        Assert.That(dict["a"].Data, Is.EqualTo(new[] { 1.5f, -2.25f }));
        Assert.That(dict["g/b"].Shape, Is.EqualTo(new long[] { 2, 2 }));
        Assert.That(dict["g/b"].Data, Is.EqualTo(new[] { -3f, -2.5f, 2f, 124.5f }));
        Assert.That(dict["c"].Data, Is.EqualTo(new[] { -7f }));
        Assert.That(dict["c"].DType, Is.EqualTo(DType.I32));
    }

    [Test]
    public void Uint16AndFloat16QuantisationInTwoGroups()
    {
        // uint16 codes 2, 65535 with scale 0.25, min 1 → 1.5, 16384.75; float16 0x3C00 = 1, 0xC000 = -2.
        string m = """
            [{"paths": ["a.bin"], "weights": [{"name": "u", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.25, "min": 1}}]},
             {"paths": ["b.bin"], "weights": [{"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}]
            """;
        var dict = TfJsWeights.Load(Write(m, ("a.bin", [2, 0, 0xFF, 0xFF]), ("b.bin", [0x00, 0x3C, 0x00, 0xC0])));
        Assert.That(dict["u"].Data, Is.EqualTo(new[] { 1.5f, 16384.75f }));
        Assert.That(dict["h"].Data, Is.EqualTo(new[] { 1f, -2f }));
    }

    [Test]
    public void DequantisationRoundsOnceFromFloat64()
    {
        // 3 · 0.1 + 0.2 in float64 is 0.5000000000000001; rounded once to float32 that is 0.5f.
        string m = """[{"paths": ["a.bin"], "weights": [{"name": "q", "shape": [], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.1, "min": 0.2}}]}]""";
        var dict = TfJsWeights.Load(Write(m, ("a.bin", [3])));
        Assert.That(dict["q"].Data, Is.EqualTo(new[] { (float)(3 * 0.1 + 0.2) }));
        Assert.That(dict["q"].Shape, Is.Empty);
    }

    [TestCase("""[{"paths": ["gone.bin"], "weights": [{"name": "a", "shape": [1], "dtype": "float32"}]}]""", "gone.bin", "missing")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "float32"}]}]""", "a.bin", "too short")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [0], "dtype": "float32"}]}]""", "a.bin", "too long")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [1], "dtype": "complex64"}]}]""", "m-weights_manifest.json", "unsupported dtype 'complex64'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": "int4", "scale": 1, "min": 0}}]}]""", "m-weights_manifest.json", "unsupported quantization dtype 'int4'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8"}}]}]""", "m-weights_manifest.json", "'scale' and 'min'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [-1], "dtype": "float32"}]}]""", "m-weights_manifest.json", "non-negative")]
    [TestCase("""{"weights": []}""", "m-weights_manifest.json", "JSON array")]
    [TestCase("""[{"paths": ["a.bin"]}]""", "m-weights_manifest.json", "'weights'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [""", "m-weights_manifest.json", "not valid JSON")]
    public void MalformedFilesAreNamed(string manifest, string culprit, string problem)
    {
        string path = Write(manifest, ("a.bin", F32(1f)));
        var e = Assert.Throws<DferException>(() => TfJsWeights.Load(path))!;
        Assert.That(e.Message, Does.Contain(culprit));
        Assert.That(e.Message, Does.Contain(problem));
    }

    [Test]
    public void MissingManifest()
    {
        var e = Assert.Throws<DferException>(() => TfJsWeights.Load(_dir.PathOf("none.json")))!;
        Assert.That(e.Message, Does.Contain("none.json"));
    }

    [Test]
    public void MissingPackageNamesTheFetchCommand()
    {
        string? old = Environment.GetEnvironmentVariable("DFER_FACE_API");
        try
        {
            Environment.SetEnvironmentVariable("DFER_FACE_API", _dir.PathOf("nowhere"));
            var e = Assert.Throws<DferException>(() => FaceApiPackage.Load(FaceApiPackage.ExpressionModel))!;
            Assert.That(e.Message, Does.Contain("./scripts/fetch-face-api.sh"));
            Assert.That(e.Message, Does.Contain("nowhere"));
        }
        finally { Environment.SetEnvironmentVariable("DFER_FACE_API", old); }
    }

    [TestCase("face_expression_model", 49, "dense0/conv0/filters", new long[] { 3, 3, 3, 32 })]
    [TestCase("tiny_face_detector_model", 19, "conv0/filters", new long[] { 3, 3, 3, 16 })]
    public void RealManifests(string model, int tensors, string first, long[] firstShape)
    {
        string manifest = FaceApiPackage.TryManifest(model)
            ?? throw new IgnoreException($"face-api weights not fetched into {FaceApiPackage.Directory}: run ./scripts/fetch-face-api.sh");
        var dict = TfJsWeights.Load(manifest);
        Assert.That(dict.Count, Is.EqualTo(tensors));
        Assert.That(dict[first].Shape, Is.EqualTo(firstShape));
        // The first tensor is uint8-quantised at the start of the shard: check two values by hand.
        byte[] bin = File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(manifest)!, model + ".bin"));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
        var q = doc.RootElement[0].GetProperty("weights")[0].GetProperty("quantization");
        double scale = q.GetProperty("scale").GetDouble(), min = q.GetProperty("min").GetDouble();
        Assert.That(dict[first].Data[0], Is.EqualTo((float)(bin[0] * scale + min)));
        Assert.That(dict[first].Data[^1], Is.EqualTo((float)(bin[dict[first].Data.Length - 1] * scale + min)));
        Assert.That(dict[first].Data.Min(), Is.GreaterThanOrEqualTo((float)min));
    }
}
