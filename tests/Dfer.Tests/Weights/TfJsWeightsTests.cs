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
        const string gb = """{"name": "g/b", "shape": [2, 2], "dtype": "float32","""
            + """ "quantization": {"dtype": "uint8", "scale": 0.5, "min": -3}}""";
        string m = $$"""
            [{"paths": ["s1.bin", "s2.bin"], "weights": [
              {"name": "a", "shape": [2], "dtype": "float32"},
              {{gb}},
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
        const string u = """{"name": "u", "shape": [2], "dtype": "float32","""
            + """ "quantization": {"dtype": "uint16", "scale": 0.25, "min": 1}}""";
        const string h = """{"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}""";
        string m = $$"""
            [{"paths": ["a.bin"], "weights": [{{u}}]},
             {"paths": ["b.bin"], "weights": [{{h}}]}]
            """;
        var dict = TfJsWeights.Load(Write(m, ("a.bin", [2, 0, 0xFF, 0xFF]), ("b.bin", [0x00, 0x3C, 0x00, 0xC0])));
        Assert.That(dict["u"].Data, Is.EqualTo(new[] { 1.5f, 16384.75f }));
        Assert.That(dict["h"].Data, Is.EqualTo(new[] { 1f, -2f }));
    }

    [Test]
    public void DequantisationRoundsOnceFromFloat64()
    {
        // 3 · 0.1 + 0.2 in float64 is 0.5000000000000001; rounded once to float32 that is 0.5f.
        string m = """[{"paths": ["a.bin"], "weights": [{"name": "q", "shape": [], "dtype": "float32","""
            + """ "quantization": {"dtype": "uint8", "scale": 0.1, "min": 0.2}}]}]""";
        var dict = TfJsWeights.Load(Write(m, ("a.bin", [3])));
        Assert.That(dict["q"].Data, Is.EqualTo(new[] { (float)(3 * 0.1 + 0.2) }));
        Assert.That(dict["q"].Shape, Is.Empty);
    }

    [TestCase("""[{"paths": ["gone.bin"], "weights": [{"name": "a", "shape": [1], "dtype": "float32"}]}]""",
        "gone.bin", "missing")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "float32"}]}]""",
        "a.bin", "too short")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [0], "dtype": "float32"}]}]""",
        "a.bin", "too long")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [1], "dtype": "complex64"}]}]""",
        "m-weights_manifest.json", "unsupported dtype 'complex64'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [4], "dtype": "float32","""
        + """ "quantization": {"dtype": "int4", "scale": 1, "min": 0}}]}]""",
        "m-weights_manifest.json", "unsupported quantization dtype 'int4'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [4], "dtype": "float32","""
        + """ "quantization": {"dtype": "uint8"}}]}]""", "m-weights_manifest.json", "'scale' and 'min'")]
    [TestCase("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [-1], "dtype": "float32"}]}]""",
        "m-weights_manifest.json", "non-negative")]
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
            ?? throw new IgnoreException(
            $"face-api weights not fetched into {FaceApiPackage.Directory}: run ./scripts/fetch-face-api.sh");
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

/// <summary>Hostile TF.js manifests and shards: one DferException line each, bounded in time and memory.</summary>
[TestFixture]
public class TfJsHostileTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private string Manifest => _dir.PathOf("m-weights_manifest.json");

    private string Write(string manifest, byte[]? shard = null)
    {
        File.WriteAllBytes(_dir.PathOf("a.bin"), shard ?? new byte[4]);
        File.WriteAllText(Manifest, manifest);
        return Manifest;
    }

    private static string One(string entry, string paths = "\"a.bin\"") => $$"""[{"paths": [{{paths}}],"""
        + $$""" "weights": [{{entry}}]}]""";

    private static DferException Rejected(string path, string culprit, string phrase)
    {
        DferException ex = Assert.Throws<DferException>(() => TfJsWeights.Load(path))!;
        Assert.That(ex.Message, Does.StartWith(culprit + ": "));
        Assert.That(ex.Message, Does.Contain(phrase));
        Assert.That(ex.Message, Does.Not.Contain('\n').And.Not.Contain('\r').And.Not.Contain('\u001b'));
        Assert.That(ex.Message.Length, Is.LessThan(700));
        return ex;
    }

    [Test]
    public void ManifestThatIsADirectorySaysSo()
    {
        Directory.CreateDirectory(Manifest);
        Rejected(Manifest, Manifest, "is a directory, not a file");
    }

    [Test]
    public void ShardThatIsADirectorySaysSo()
    {
        Directory.CreateDirectory(_dir.PathOf("d.bin"));
        Rejected(Write(One("""{"name": "a", "shape": [1], "dtype": "float32"}""",
            "\"d.bin\"")), _dir.PathOf("d.bin"), "is a directory, not a file");
    }

    [TestCase("\"/dev/zero\"")]
    [TestCase("\"../a.bin\"")]
    [TestCase("\"sub/../../a.bin\"")]
    [TestCase("\"\"")]
    [TestCase("\"a\\u001b.bin\"")]
    public void ShardPathsOutsideTheManifestFolderAreRefused(string shard) =>
        Rejected(Write(One("""{"name": "a", "shape": [1], "dtype": "float32"}""", shard)), Manifest,
            shard == "\"\"" ? "group 0: 'paths' must hold file names"
            : "is not a file name relative to the manifest's folder");

    [TestCase("""{"name": "a", "shape": [2147483647, 2147483647, 2147483647], "dtype": "float32"}""",
        "a.bin", "too short: weight 'a' of shape [2147483647, 2147483647, 2147483647] needs more bytes "
        + "than the 4 left in the shards (which hold 4)")]
    [TestCase("""{"name": "a", "shape": [4294967296], "dtype": "float32"}""",
        "m-weights_manifest.json", "shape entries must be non-negative integers up to 2147483647")]
    [TestCase("""{"name": "a", "shape": ["1"], "dtype": "float32"}""",
        "m-weights_manifest.json", "shape entries must be non-negative integers")]
    [TestCase("""{"name": "a", "shape": [1.5], "dtype": "float32"}""",
        "m-weights_manifest.json", "shape entries must be non-negative integers")]
    [TestCase("""{"name": "a", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "dtype": "float32"}""",
        "m-weights_manifest.json", "shape has 17 dimensions, more than Dfer's limit of 16")]
    [TestCase("""{"name": "a", "shape": [4], "dtype": "float32", "quantization": "uint8"}""",
        "m-weights_manifest.json", "'quantization' must be an object")]
    [TestCase("""{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": "NaN","""
        + """ "min": 0}}""",
        "m-weights_manifest.json", "uint8 quantization needs numeric 'scale' and 'min' (finite numbers)")]
    [TestCase("""{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1e999,"""
        + """ "min": 0}}""", "m-weights_manifest.json", "needs numeric 'scale' and 'min' (finite numbers)")]
    [TestCase("""{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1}}""",
        "m-weights_manifest.json", "needs numeric 'scale' and 'min'")]
    [TestCase("""{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": 8}}""",
        "m-weights_manifest.json", "quantization has no 'dtype'")]
    [TestCase("""{"name": "a\u001b[2Jb", "shape": [1], "dtype": "float32"}""",
        "m-weights_manifest.json", "weight 'a\\x1b[2Jb': a name must be 1 to 1024 characters "
        + "without control characters")]
    [TestCase("""{"name": "", "shape": [1], "dtype": "float32"}""",
        "m-weights_manifest.json", "a name must be 1 to 1024 characters")]
    [TestCase("""{"name": 5, "shape": [1], "dtype": "float32"}""",
        "m-weights_manifest.json", "a weight entry has no 'name'")]
    [TestCase("""{"name": "a", "shape": [1], "dtype": "\u0007float"}""",
        "m-weights_manifest.json", "unsupported dtype '\\x07float'")]
    [TestCase("""{"name": "a", "shape": [1], "dtype": "float32"}, {"name": "a", "shape": [0], "dtype": "float32"}""",
        "m-weights_manifest.json", "weight 'a' appears twice")]
    [TestCase("""7""", "m-weights_manifest.json", "group 0: weight entry 0 is not an object")]
    public void MalformedEntries(string entry, string culprit, string phrase) =>
        Rejected(Write(One(entry)), _dir.PathOf(culprit), phrase);

    [Test]
    public void LongNamesAreCut()
    {
        string name = new string('n', 5000);
        DferException ex = Rejected(Write(One($$"""{"name": "{{name}}", "shape": [1],"""
            + $$""" "dtype": "float32"}""")), Manifest, "weight 'nnnn");
        Assert.That(ex.Message, Does.Contain("more characters)': a name must be 1 to 1024 characters"));
    }

    [Test]
    public void InvalidJsonMessageIsEscaped() =>
        Rejected(Write("[\u001b]"), Manifest, "not valid JSON (");

    [Test, CancelAfter(20_000)]
    public void DeeplyNestedJsonIsOneLine() =>
        Rejected(Write(new string('[', 200_000)), Manifest, "not valid JSON");

    [Test, CancelAfter(20_000)]
    public void ManifestOverTheSizeLimitIsRefusedUnread()
    {
        Write("[]");
        using (var f = new FileStream(Manifest, FileMode.Open)) f.SetLength(TfJsWeights.MaxManifestBytes + 1L);
        Rejected(Manifest, Manifest, "TF.js weights manifest is larger than Dfer's limit of 16 MiB");
    }

    [Test, CancelAfter(20_000)]
    public void ShardsOverTheSizeLimitAreRefusedUnread()
    {
        Write(One("""{"name": "a", "shape": [1], "dtype": "float32"}"""));
        using (var f = new FileStream(_dir.PathOf("a.bin"), FileMode.Open)) f.SetLength(TfJsWeights.MaxShardBytes + 1);
        Rejected(Manifest, _dir.PathOf("a.bin"),
            "the shards of m-weights_manifest.json together exceed Dfer's limit of 128 MiB");
    }

    [Test, CancelAfter(20_000)]
    public void TheShardLimitCountsEveryGroup()
    {
        // One 100 MiB shard listed by two groups: each group alone is under the limit, both are not.
        Write("""[{"paths": ["a.bin"], "weights": [{"name": "a", "shape": [26214400], "dtype": "float32"}]},"""
            + """ {"paths": ["a.bin"], "weights": [{"name": "b", "shape": [26214400], "dtype": "float32"}]}]""");
        using (var f = new FileStream(_dir.PathOf("a.bin"), FileMode.Open)) f.SetLength(100L << 20);
        Rejected(Manifest, _dir.PathOf("a.bin"), "together exceed Dfer's limit of 128 MiB");
    }

    /// <summary>Random corruptions of a valid manifest: weights or a DferException, nothing else.</summary>
    [Test, CancelAfter(60_000)]
    public void RandomCorruptionsThrowOnlyDferException()
    {
        const string good = """[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [2, 2], "dtype": "float32","""
            + """ "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}}]}]""";
        File.WriteAllBytes(_dir.PathOf("a.bin"), [1, 2, 3, 4]);
        var rng = TestSeed.Random(7);
        const string alphabet =
            "{}[],:\" 0123456789-.eE+abinpathsweightsnamedtypeuint8float32quantization/\\\u001b\u0000";
        int rejected = 0;
        for (int round = 0; round < 3000; round++)
        {
            char[] text = good.ToCharArray();
            int edits = rng.Next(1, 6);
            for (int e = 0; e < edits; e++) text[rng.Next(text.Length)] = alphabet[rng.Next(alphabet.Length)];
            File.WriteAllText(Manifest, new string(text));
            try
            {
                TfJsWeights.Load(Manifest);
            }
            catch (DferException ex)
            {
                Assert.That(ex.Message, Does.Not.Contain('\n'), $"round {round}");
                rejected++;
            }
        }
        Assert.That(rejected, Is.GreaterThan(1000));
    }
}
