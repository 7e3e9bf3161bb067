using Dfer.Models;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Tests.Models;

/// <summary>
/// Loading a Temporal Encoder (docs/models/temporal-encoder.md, "Files"): the JSON config and the state dict are
/// checked against each other, every problem reported on a line of its own naming the file; the sinusoidal table and
/// the chunking against hand-computed values.
/// </summary>
[TestFixture]
public class TemporalEncoderLoadTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("dfer-temporal-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string file) =>
        Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "temporal", file);

    private const string GoodConfig =
        """
        {"features": "expression.pooled", "heads": 2, "norm_first": false, "activation": "relu", "window": 5,
         "positional": "none"}
        """;

    /// <summary>The weights of the post-norm fixture (2 layers, d 16, ff 24, 256 features) under another name, with
    /// <paramref name="edit"/> applied to the tensors, written as safetensors with <paramref name="config"/> next to
    /// them.</summary>
    private string Write(string config, Action<Dictionary<string, (long[] Shape, float[] Data)>>? edit = null)
    {
        var sd = StateDict.Load(Fixture("postnorm_relu_none.pth"));
        var tensors = sd.Names.ToDictionary(n => n, n => (sd[n].Shape, sd[n].Data));
        edit?.Invoke(tensors);
        string path = Path.Combine(_dir, "enc.safetensors");
        SafetensorsWriter.WriteFloat32(path, tensors.Select(t => (t.Key, t.Value.Shape, t.Value.Data)));
        File.WriteAllText(Path.Combine(_dir, "enc.json"), config);
        return path;
    }

    private static DferException Fails(string path) =>
        Assert.Throws<DferException>(() => TemporalEncoder.Load(path))!;

    [Test]
    public void TheFixture_LoadsUnderAnotherName()
    {
        var encoder = TemporalEncoder.Load(Write(GoodConfig));
        Assert.That((encoder.Layers, encoder.DModel, encoder.Features, encoder.FeedForward[1]),
            Is.EqualTo((2, 16, 256, 24)));
        Assert.That(encoder.Describe(),
            Does.Contain("2 layers, d_model 16, 2 heads, feed-forward 24, post-norm, relu"));
    }

    [Test]
    public void MissingConfig_SaysWhereItShouldBe()
    {
        string path = Write(GoodConfig);
        File.Delete(Path.Combine(_dir, "enc.json"));
        var e = Fails(path);
        Assert.That(e.Lines, Has.Count.EqualTo(1));
        Assert.That(e.Message, Does.Contain("enc.json: no such file").And.Contain("same name"));
    }

    [Test]
    public void TheConfigGivenAsWeights_IsNamed()
    {
        Write(GoodConfig);
        Assert.That(Fails(Path.Combine(_dir, "enc.json")).Message,
            Does.Contain("is the config; give the weights file"));
    }

    [Test]
    public void EveryConfigProblem_IsALineOfItsOwn()
    {
        string path = Write("""
            {"features": "expression.pixels", "heads": 0, "norm_first": "yes", "activation": "swish",
             "window": 5000, "positional": "rotary", "dropout": 0.1, "layer_norm_eps": -1}
            """);
        var e = Fails(path);
        Assert.That(e.Lines, Has.Count.EqualTo(8), string.Join("\n", e.Lines));
        Assert.That(e.Lines, Is.All.StartWith(Path.Combine(_dir, "enc.json") + ": "));
        Assert.That(e.Lines, Has.Some.Contains("unknown field 'dropout'"));
        Assert.That(e.Lines,
            Has.Some.Contains("\"features\" must be one of \"expression.pooled\", \"expression.logits\""));
        Assert.That(e.Lines, Has.Some.Contains("\"heads\" must be an integer from 1"));
        Assert.That(e.Lines, Has.Some.Contains("\"norm_first\" must be true or false"));
        Assert.That(e.Lines, Has.Some.Contains("\"activation\" must be one of \"relu\", \"gelu\""));
        Assert.That(e.Lines, Has.Some.Contains("\"window\" must be an integer from 1 to 4096"));
        Assert.That(e.Lines, Has.Some.Contains("\"positional\" must be one of"));
        Assert.That(e.Lines, Has.Some.Contains("\"layer_norm_eps\" must be a number between 0 and 1"));
    }

    [TestCase("[1, 2]", "expected a JSON object")]
    [TestCase("{\"heads\": 2,", "not valid JSON")]
    [TestCase("{}", "missing field \"features\"")]
    public void BrokenConfig_IsNamed(string text, string expected)
    {
        string path = Write(text);
        Assert.That(Fails(path).Lines, Has.Some.Contains(expected));
    }

    [Test]
    public void EveryStateDictProblem_IsALineOfItsOwn()
    {
        // A learned table the state dict lacks, 3 heads that do not divide 16, a missing key, an extra one, a
        // mis-shaped one and a NaN.
        string config = GoodConfig.Replace("\"heads\": 2", "\"heads\": 3").Replace("\"none\"", "\"learned\"");
        string path = Write(config, t =>
        {
            t.Remove("encoder.layers.1.norm2.bias");
            t["encoder.layers.0.extra"] = ([2], [1, 2]);
            t["head.bias"] = ([8], new float[8]);
            t["encoder.layers.0.linear2.weight"].Data[3] = float.NaN;
        });
        var e = Fails(path);
        Assert.That(e.Lines, Is.All.StartWith(path + ": "), string.Join("\n", e.Lines));
        Assert.That(e.Lines, Has.Some.Contains("d_model 16 is not divisible by \"heads\": 3"));
        Assert.That(e.Lines, Has.Some.Contains("missing key 'pos_embed'").And.Some.Contains("needs the table"));
        Assert.That(e.Lines, Has.Some.Contains("missing key 'encoder.layers.1.norm2.bias'"));
        Assert.That(e.Lines, Has.Some.Contains("unexpected key 'encoder.layers.0.extra'"));
        Assert.That(e.Lines, Has.Some.Contains("'head.bias' is [8], expected [7]"));
        Assert.That(e.Lines, Has.Some.Contains("'encoder.layers.0.linear2.weight' contains NaN"));
        Assert.That(e.Lines, Has.Count.EqualTo(6));
    }

    [Test]
    public void LogitsConfigOnPooledWeights_SaysWhichFeaturesTheWeightsTake()
    {
        string path = Write(GoodConfig.Replace("expression.pooled", "expression.logits"));
        var e = Fails(path);
        Assert.That(e.Lines, Has.Count.EqualTo(1));
        Assert.That(e.Message, Does.Contain("'input_proj.weight' is [16, 256], expected [16, 7]")
            .And.Contain("it takes 256 features, but \"features\": \"expression.logits\" gives 7"));
    }

    [Test]
    public void ALearnedTableWithoutLearnedPositions_IsUnexpected()
    {
        string path = Write(GoodConfig, t => t["pos_embed"] = ([1, 5, 16], new float[80]));
        Assert.That(Fails(path).Message, Does.Contain("unexpected key 'pos_embed'")
            .And.Contain("needs \"positional\": \"learned\""));
    }

    [Test]
    public void ATableOfAnotherWindow_IsNamed()
    {
        string path = Write(GoodConfig.Replace("\"none\"", "\"learned\""),
            t => t["pos_embed"] = ([1, 8, 16], new float[128]));
        Assert.That(Fails(path).Message, Does.Contain("its 8 positions differ from \"window\": 5"));
    }

    [Test]
    public void OtherWeights_AreNotTakenForAnEncoder()
    {
        string path = Path.Combine(_dir, "m.safetensors");
        SafetensorsWriter.WriteFloat32(path, [("conv.weight", [4, 3, 3, 3], new float[108])]);
        File.WriteAllText(Path.Combine(_dir, "m.json"), GoodConfig);
        Assert.That(Fails(path).Message, Does.Contain("cannot tell d_model"));
    }

    [Test]
    public void BadConfigAndBadWeights_AreBothReported()
    {
        string path = Path.Combine(_dir, "x.pth");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        File.WriteAllText(Path.Combine(_dir, "x.json"), "{\"heads\": \"two\"}");
        var e = Fails(path);
        Assert.That(e.Lines, Has.Some.StartWith(path + ": is neither a PyTorch checkpoint"));
        Assert.That(e.Lines, Has.Some.Contains("\"heads\" must be an integer"));
    }

    [Test]
    public void SinusoidalTable_IsTheOriginalTransformers()
    {
        const int d = 5;
        float[] pe = TemporalEncoder.SinusoidalTable(4, d);
        Assert.That(pe.Take(d), Is.EqualTo(new[] { 0f, 1f, 0f, 1f, 0f }), "position 0: sin 0, cos 0, ...");
        Assert.That(pe[d + 0], Is.EqualTo((float)Math.Sin(1)));
        Assert.That(pe[d + 1], Is.EqualTo((float)Math.Cos(1)));
        // Column 2 (k = 1): 10000^(2/5) = 39.810717...; column 4 of an odd width is a sine.
        Assert.That(pe[3 * d + 2], Is.EqualTo((float)Math.Sin(3 / 39.810717055349734)).Within(1e-7));
        Assert.That(pe[3 * d + 3], Is.EqualTo((float)Math.Cos(3 / 39.810717055349734)).Within(1e-7));
        Assert.That(pe[2 * d + 4], Is.EqualTo((float)Math.Sin(2 / 1584.8931924611136)).Within(1e-7));
    }

    [Test]
    public void Chunks_AreConsecutiveWindows_TheLastShorter()
    {
        Assert.That(TemporalEncoder.Chunks(11, 5), Is.EqualTo(new[] { (0, 5), (5, 5), (10, 1) }));
        Assert.That(TemporalEncoder.Chunks(10, 5), Is.EqualTo(new[] { (0, 5), (5, 5) }));
        Assert.That(TemporalEncoder.Chunks(3, 8), Is.EqualTo(new[] { (0, 3) }));
        Assert.That(TemporalEncoder.Chunks(0, 8), Is.Empty);
    }
}
