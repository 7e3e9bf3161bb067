using System.Text;
using Dfer.Weights.TfJs;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

/// <summary>
/// The tfjs fuzz target's findings (tests/Dfer.Fuzz/corpus/tfjs/regressions/), each a defect class:
/// text that System.Text.Json only checks when it is read (bytes that are not UTF-8, an escaped lone
/// surrogate), which made GetString or TryGetProperty throw InvalidOperationException, and a scalar
/// whose size was never checked against the shards.
/// </summary>
[TestFixture]
public class TfJsFuzzFindingTests
{
    private const string Refusal =
        "text that is not valid Unicode (bytes that are not UTF-8, or an escaped lone surrogate)";

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>Writes the manifest as raw bytes: <paramref name="before"/>, <paramref name="bad"/>,
    /// <paramref name="after"/>; and a 4-byte shard 's1'.</summary>
    private string Manifest(string before, byte[] bad, string after)
    {
        File.WriteAllBytes(_dir.PathOf("s1"), new byte[4]);
        string path = _dir.PathOf("m-weights_manifest.json");
        File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes(before), .. bad, .. Encoding.ASCII.GetBytes(after)]);
        return path;
    }

    private static void Refused(string manifest, string where)
    {
        DferException ex = Assert.Throws<DferException>(() => TfJsWeights.Load(manifest))!;
        Assert.That(ex.Message, Is.EqualTo($"{manifest}: {Refusal} {where}"));
    }

    private static readonly byte[] NotUtf8 = [0xD0, 0x6F]; // a 2-byte lead, then no continuation byte

    private const string Weight = "{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\"}";

    [Test]
    public void ShardPathThatIsNotUtf8() =>
        Refused(Manifest("[{\"paths\":[\"s", NotUtf8, $"1\"],\"weights\":[{Weight}]}}]"), "at $[0].paths[0]");

    [Test]
    public void WeightNameThatIsNotUtf8() =>
        Refused(Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"w", [0xFF],
        "\",\"shape\":[1],\"dtype\":\"float32\"}]}]"),
            "at $[0].weights[0].name");

    [Test]
    public void DtypeWithAnEscapedLoneSurrogate() =>
        Refused(Manifest(
        "[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\\ud800\"}]}]", [], ""),
            "at $[0].weights[0].dtype");

    [Test]
    public void QuantizationDtypeThatIsNotUtf8() =>
        Refused(Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"w\",\"shape\":[4],\"dtype\":\"float32\","
            + "\"quantization\":{\"dtype\":\"uint8",
            [0xC3, 0x28], "\",\"scale\":1,\"min\":0}}]}]"), "at $[0].weights[0].quantization.dtype");

    /// <summary>TryGetProperty unescapes the names it passes, so a bad name beside 'paths' broke the lookup of
    /// 'paths'.</summary>
    [Test]
    public void PropertyNameWithAnEscapedLoneSurrogate() =>
        Refused(Manifest($"[{{\"x\\udc00y\":1,\"paths\":[\"s1\"],\"weights\":[{Weight}]}}]", [], ""),
        "in a property name at $[0]");

    [Test]
    public void BadTextWhereDferDoesNotLookIsStillRefused() =>
        Refused(Manifest($"[{{\"paths\":[\"s1\"],\"weights\":[{Weight}],\"format\":{{\"notes\":[\"ok\",\"", [0x80],
        "\"]}}]"),
            "at $[0].format.notes[1]");

    [Test]
    public void NamesInTheLocationAreEscapedAndCut()
    {
        string name = "k\\u001b[2J" + new string('n', 100);
        string path = Manifest($"[{{\"{name}\":[\"", [0xFF], "\"]}]");
        DferException ex = Assert.Throws<DferException>(() => TfJsWeights.Load(path))!;
        Assert.That(ex.Message,
            Is.EqualTo($"{path}: {Refusal} at $[0].k\\x1b[2J{new string('n', 12)}… (88 more characters)[0]"),
            "the name escaped, cut to 20 of its 40 characters and the note");
    }

    [Test]
    public void ValidNonAsciiTextIsStillRead()
    {
        // A proper UTF-8 name (é) and an escaped surrogate pair (U+1F600) are text like any other.
        string path = Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"caf", [0xC3, 0xA9],
            "/\\ud83d\\ude00\",\"shape\":[1],\"dtype\":\"float32\"}]}]");
        Assert.That(TfJsWeights.Load(path).Names, Is.EqualTo(new[] { "caf\u00e9/\U0001F600" }));
    }

    /// <summary>
    /// A scalar (shape [], one element) past the end of the shards: the size check compared the
    /// count only once per dimension, so a scalar was never checked and slicing the shard threw
    /// ArgumentOutOfRangeException (tfjs/regressions/scalar-past-shard-end.bin).
    /// </summary>
    [TestCase("float32", "", 3, 3)]
    [TestCase("float32", ",\"quantization\":{\"dtype\":\"float16\"}", 1, 1)]
    [TestCase("float32", ",\"quantization\":{\"dtype\":\"uint8\",\"scale\":1,\"min\":0}", 0, 0)]
    [TestCase("int32", "", 0, 0)]
    public void ScalarPastTheEndOfTheShards(string dtype, string quantization, int shardBytes, int left)
    {
        File.WriteAllBytes(_dir.PathOf("s1"), new byte[shardBytes]);
        string path = _dir.PathOf("m-weights_manifest.json");
        File.WriteAllText(path,
            $"[{{\"paths\":[\"s1\"],\"weights\":[{{\"name\":\"s\",\"shape\":[],"
            + $"\"dtype\":\"{dtype}\"{quantization}}}]}}]");
        DferException ex = Assert.Throws<DferException>(() => TfJsWeights.Load(path))!;
        Assert.That(ex.Message,
            Is.EqualTo($"{_dir.PathOf("s1")}: too short: weight 's' of shape [] needs more bytes than the {left} left "
                + $"in the shards (which hold {shardBytes})"));
    }

    [Test]
    public void ScalarsThatFitAreRead()
    {
        // A float32 scalar, then a float16 one, exactly filling a 6-byte shard.
        File.WriteAllBytes(_dir.PathOf("s1"), [.. BitConverter.GetBytes(2.5f), 0x00, 0x3c]);
        string path = _dir.PathOf("m-weights_manifest.json");
        File.WriteAllText(path, "[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"a\",\"shape\":[],\"dtype\":\"float32\"},"
            + "{\"name\":\"b\",\"shape\":[],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}}]}]");
        var dict = TfJsWeights.Load(path);
        Assert.That(dict["a"].Data, Is.EqualTo(new[] { 2.5f }));
        Assert.That(dict["b"].Data, Is.EqualTo(new[] { 1f }));
    }
}
