using System.Text;
using Dfer.Weights.TfJs;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

/// <summary>
/// Hostile TF.js manifests: every string the manifest gives (shard paths, names, dtypes) is text
/// that System.Text.Json only checks when it is read, so a string of bytes that are not UTF-8, or
/// an escaped lone surrogate, must be refused as the manifest's error, not escape as
/// InvalidOperationException (found by the tfjs fuzz target,
/// tests/Dfer.Fuzz/corpus/tfjs/regressions/invalid-utf8-string-escapes.bin).
/// </summary>
[TestFixture]
public class TfJsManifestTextTests
{
    private const string Refusal = "is not valid text (bytes that are not UTF-8, or an escaped lone surrogate)";

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>Writes the manifest as raw bytes: <paramref name="before"/>, <paramref name="bad"/>, <paramref name="after"/>; and a 4-byte shard 's1'.</summary>
    private string Manifest(string before, byte[] bad, string after)
    {
        File.WriteAllBytes(_dir.PathOf("s1"), new byte[4]);
        string path = _dir.PathOf("m-weights_manifest.json");
        File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes(before), .. bad, .. Encoding.ASCII.GetBytes(after)]);
        return path;
    }

    private static void Refused(string manifest, string what)
    {
        DferException ex = WeightsAssert.FailsWith(manifest, $"{what} {Refusal}", () => TfJsWeights.Load(manifest));
        Assert.That(ex.Message, Is.EqualTo($"{manifest}: {what} {Refusal}"));
    }

    private static readonly byte[] NotUtf8 = [0xD0, 0x6F]; // a 2-byte lead, then no continuation byte

    [Test]
    public void ShardPathThatIsNotUtf8()
    {
        Refused(Manifest("[{\"paths\":[\"s", NotUtf8, "1\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\"}]}]"),
            "group 0: a shard path");
    }

    [Test]
    public void WeightNameThatIsNotUtf8()
    {
        Refused(Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"w", [0xFF], "\",\"shape\":[1],\"dtype\":\"float32\"}]}]"),
            "a weight entry's 'name'");
    }

    [Test]
    public void DtypeWithAnEscapedLoneSurrogate()
    {
        Refused(Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32", [], "\\ud800\"}]}]"),
            "weight 'w': 'dtype'");
    }

    [Test]
    public void QuantizationDtypeThatIsNotUtf8()
    {
        Refused(Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"w\",\"shape\":[4],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8",
            [0xC3, 0x28], "\",\"scale\":1,\"min\":0}}]}]"), "weight 'w': quantization 'dtype'");
    }

    [Test]
    public void ValidNonAsciiTextIsStillRead()
    {
        // A proper UTF-8 name (é) and an escaped surrogate pair (U+1F600) are text like any other.
        string path = Manifest("[{\"paths\":[\"s1\"],\"weights\":[{\"name\":\"caf", [0xC3, 0xA9], "/\\ud83d\\ude00\",\"shape\":[1],\"dtype\":\"float32\"}]}]");
        Assert.That(TfJsWeights.Load(path).Names, Is.EqualTo(new[] { "caf\u00e9/\U0001F600" }));
    }
}
