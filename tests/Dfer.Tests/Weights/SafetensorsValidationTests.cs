using System.Text;
using Dfer.Weights;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

/// <summary>Every malformed safetensors file is refused with a precise one-line message naming it.</summary>
[TestFixture]
public class SafetensorsValidationTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private string Make(byte[] bytes, string name = "w.safetensors")
    {
        string path = _dir.PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string MakeHeader(string json, int dataBytes = 0) => Make(RawSafetensors.Build(json, new byte[dataBytes]));

    private static void AssertRejected(string path, string phrase) =>
        WeightsAssert.FailsWith(path, phrase, () => SafetensorsFile.Open(path).Dispose());

    [Test]
    public void MissingFile() => AssertRejected(_dir.PathOf("absent.safetensors"), "no such file");

    [Test]
    public void MissingDirectory() => AssertRejected(Path.Combine(_dir.Root, "nope", "w.safetensors"), "no such file");

    [Test]
    public void DirectoryInsteadOfFile()
    {
        string path = _dir.PathOf("dir.safetensors");
        Directory.CreateDirectory(path);
        AssertRejected(path, "is a directory");
    }

    [TestCase(0)]
    [TestCase(5)]
    [TestCase(7)]
    public void ShorterThanTheLengthPrefix(int length) =>
        AssertRejected(Make(new byte[length]), $"file is {length} bytes, shorter than the 8-byte header length");

    [Test]
    public void HeaderLengthPastTheEndOfTheFile() =>
        AssertRejected(Make(RawSafetensors.Build("{}", declaredHeaderLength: 1000)),
            "header length 1000 runs past the end of the file (10 bytes)");

    [Test]
    public void HeaderLengthOfGarbage() =>
        AssertRejected(Make(Encoding.ASCII.GetBytes("this is not a safetensors file at all")),
            "runs past the end of the file (37 bytes)");

    [Test]
    public void HeaderLengthOverTheHundredMegabyteLimit()
    {
        string path = _dir.PathOf("huge.safetensors");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.Write(RawSafetensors.Build("{}", declaredHeaderLength: 100_000_001));
            // Sparse: costs no disk space, but makes the declared length fit inside the file.
            stream.SetLength(100_000_100);
        }
        AssertRejected(path, "header length 100000001 exceeds the 100000000-byte limit");
    }

    [Test]
    public void HeaderNotJson() => AssertRejected(MakeHeader("{\"a\": {"), "header is not valid JSON");

    [Test]
    public void HeaderNotUtf8() =>
        AssertRejected(
        Make(RawSafetensors.Build(
        new byte[] { (byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}' })),
            "header is not valid UTF-8 (first bad byte at header offset 2)");

    [Test]
    public void LoneSurrogateEscapeInAName() =>
        AssertRejected(MakeHeader("""{"\udc00": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""", 4),
            "header holds a string that is not valid Unicode");

    [Test]
    public void EmptyHeader() => AssertRejected(MakeHeader(""), "header is not valid JSON");

    [TestCase("[1, 2]", "header is a JSON array, expected an object")]
    [TestCase("\"x\"", "header is a JSON string, expected an object")]
    [TestCase("{\"w\": 3}", "tensor 'w' is a JSON number, expected an object with dtype, shape and data_offsets")]
    [TestCase("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "tensor 'w' has no \"dtype\" field")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", "tensor 'w' has no \"shape\" field")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", "tensor 'w' has no \"data_offsets\" field")]
    [TestCase("{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}",
        "tensor 'w': \"dtype\" is a JSON number, expected a string")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]}}",
        "tensor 'w': \"shape\" is a JSON string, expected an array")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": {\"b\": 0}}}",
        "tensor 'w': \"data_offsets\" is {\"b\": 0}, expected [begin, end]")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}",
        "tensor 'w': \"data_offsets\" is [0], expected [begin, end]")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}",
        "\"data_offsets\" is [0, 4, 8]")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}",
        "\"data_offsets\" is [-4, 0]")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}",
        "\"data_offsets\" is [0, \"4\"]")]
    [TestCase("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0.0, 4]}}",
        "\"data_offsets\" is [0.0, 4]")]
    [TestCase("{\"__metadata__\": [\"a\"]}",
        "\"__metadata__\" is a JSON array, expected an object mapping strings to strings")]
    [TestCase("{\"__metadata__\": {\"epoch\": 3}}",
        "\"__metadata__\" value for key 'epoch' is a JSON number, expected a string")]
    [TestCase("{\"__metadata__\": {}, \"__metadata__\": {}}", "header has two \"__metadata__\" entries")]
    public void MalformedHeader(string json, string phrase) => AssertRejected(MakeHeader(json, 16), phrase);

    [TestCase("F8_E4M3")]
    [TestCase("f32")]
    [TestCase("U16")]
    public void UnknownDType(string dtype) =>
        AssertRejected(MakeHeader($$$"""{"w": {"dtype": "{{{dtype}}}", "shape": [1], "data_offsets": [0, 1]}}""", 4),
            $"tensor 'w' has dtype '{dtype}', which Dfer does not support (supported: F32, F16, BF16, F64, I64, I32, "
            + "U8, BOOL)");

    [TestCase("[2, -3]", "shape dimension 1 is -3; dimensions must be non-negative integers")]
    [TestCase("[2.5]", "shape dimension 0 is 2.5; dimensions must be non-negative integers")]
    [TestCase("[2.0]", "shape dimension 0 is 2.0")]
    [TestCase("[1e2]", "shape dimension 0 is 1e2")]
    [TestCase("[\"4\"]", "shape dimension 0 is \"4\"")]
    [TestCase("[null]", "shape dimension 0 is null")]
    [TestCase("[99999999999999999999]", "shape dimension 0 is 99999999999999999999")]
    public void BadShapeDimension(string shape, string phrase) =>
        AssertRejected(MakeHeader($$$"""{"w": {"dtype": "F32", "shape": {{{shape}}}, "data_offsets": [0, 4]}}""",
            4), phrase);

    [Test]
    public void ShapeTooLargeToAddress() =>
        AssertRejected(MakeHeader("""{"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296],"""
            + """ "data_offsets": [0, 4]}}""", 4),
            "tensor 'w' has shape [4294967296, 4294967296, 4294967296], too many elements to address");

    [Test]
    public void OffsetsEndBeforeBegin() =>
        AssertRejected(MakeHeader("""{"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}""", 16),
            "tensor 'w' data_offsets [8, 4) end before they begin");

    [Test]
    public void OffsetsPastTheEndOfTheDataSection()
    {
        string path = MakeHeader("""{"fc.weight": {"dtype": "F32", "shape": [50], "data_offsets": [1000, 1200]}}""",
            1100);
        DferException ex = WeightsAssert.FailsWith(path, "reaches past the end", () => SafetensorsFile.Open(path));
        Assert.That(ex.Message, Is.EqualTo(
            $"{path}: tensor 'fc.weight' data [1000, 1200) reaches past the end of the data section (1100 bytes)"));
    }

    [Test]
    public void ByteLengthDisagreesWithShape() =>
        AssertRejected(MakeHeader("""{"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}""", 24),
            "tensor 'w' (F32 [2, 3]) needs 24 bytes but its data_offsets [0, 20) span 20 bytes");

    [Test]
    public void ByteLengthDisagreesWithDTypeSize() =>
        AssertRejected(MakeHeader("""{"h": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 16]}}""", 16),
            "tensor 'h' (BF16 [4]) needs 8 bytes but its data_offsets [0, 16) span 16 bytes");

    [Test]
    public void OverlappingTensors() =>
        AssertRejected(MakeHeader("""
            {"b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
             "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
            """, 24),
            "tensors 'a' [0, 16) and 'b' [8, 24) overlap");

    [Test]
    public void OverlapHiddenBehindASmallerTensor() =>
        AssertRejected(MakeHeader("""
            {"big": {"dtype": "U8", "shape": [100], "data_offsets": [0, 100]},
             "small": {"dtype": "U8", "shape": [10], "data_offsets": [10, 20]},
             "late": {"dtype": "U8", "shape": [10], "data_offsets": [50, 60]}}
            """, 100),
            "tensors 'big' [0, 100) and 'small' [10, 20) overlap");

    [Test]
    public void IdenticalRangesOverlap() =>
        AssertRejected(MakeHeader("""
            {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "y": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}}
            """, 4),
            "tensors 'x' [0, 4) and 'y' [0, 4) overlap");

    [Test]
    public void EmptyTensorInsideAnotherIsNoOverlap()
    {
        string path = MakeHeader("""
            {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
             "e": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]}}
            """, 16);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.Entries, Has.Count.EqualTo(2));
    }

    [Test]
    public void DuplicateNames() =>
        AssertRejected(MakeHeader("""
            {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
            """, 8),
            "duplicate tensor name 'w' in the header");

    [Test]
    public void ControlCharactersInNamesKeepTheMessageOnOneLine() =>
        AssertRejected(MakeHeader("""{"bad\nname": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}""", 1),
            "tensor 'bad\\nname' has dtype 'Q4'");

    [Test]
    public void UnknownFieldsInAnEntryAreIgnored()
    {
        string path = MakeHeader("""{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "quant": null}}""", 4);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.Entries[0].Name, Is.EqualTo("w"));
    }
}
