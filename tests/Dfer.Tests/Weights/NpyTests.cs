using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Dfer.Tensors;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

[TestFixture]
public class NpyTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>A .npy file spelled out by hand: preamble, header text as given, then the data.</summary>
    private string MakeNpy(string header, byte[] data, int major = 1, string name = "a.npy", int minor = 0)
    {
        byte[] headerBytes = major == 3 ? Encoding.UTF8.GetBytes(header) : Encoding.Latin1.GetBytes(header);
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major,
            (byte)minor };
        if (major == 1)
        {
            bytes.Add((byte)(headerBytes.Length & 0xFF));
            bytes.Add((byte)(headerBytes.Length >> 8));
        }
        else
        {
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, headerBytes.Length);
            bytes.AddRange(length);
        }
        bytes.AddRange(headerBytes);
        bytes.AddRange(data);
        string path = _dir.PathOf(name);
        File.WriteAllBytes(path, bytes.ToArray());
        return path;
    }

    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private static void AssertRejected(string path, string phrase) =>
        WeightsAssert.FailsWith(path, phrase, () => Npy.ReadFloat32(path));

    private static readonly int[][] Shapes =
    [
        [],
        [0],
        [5],
        [1, 1, 1],
        [2, 3],
        [3, 0, 2],
        [2, 16, 3, 7, 5],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3],
    ];

    [TestCaseSource(nameof(Shapes))]
    public void RoundTrip(int[] shape)
    {
        int count = shape.Aggregate(1, (a, b) => a * b);
        float[] data = Enumerable.Range(0, count).Select(i => MathF.Sin(i) * 1000f).ToArray();
        string path = _dir.PathOf("rt.npy");

        Npy.WriteFloat32(path, data, shape);
        var (read, readShape) = Npy.ReadFloat32(path);

        Assert.That(readShape, Is.EqualTo(shape));
        Assert.That(read, Is.EqualTo(data));

        byte[] raw = File.ReadAllBytes(path);
        Assert.That(raw[6..8], Is.EqualTo(new byte[] { 1, 0 }), "version 1.0");
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(8));
        Assert.That((10 + headerLength) % 64, Is.EqualTo(0), "data starts on a 64-byte boundary");
        Assert.That(raw[10 + headerLength - 1], Is.EqualTo((byte)'\n'));
        Assert.That(raw.Length, Is.EqualTo(10 + headerLength + 4 * count));
    }

    [Test]
    public void WrittenHeaderIsWhatNumPyWrites()
    {
        string path = _dir.PathOf("h.npy");
        Npy.WriteFloat32(path, new float[6], [2, 3]);
        Npy.WriteFloat32(_dir.PathOf("one.npy"), new float[5], [5]);
        Npy.WriteFloat32(_dir.PathOf("scalar.npy"), new float[1], []);

        Assert.That(HeaderOf(path), Is.EqualTo("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        Assert.That(HeaderOf(_dir.PathOf("one.npy")),
            Is.EqualTo("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"));
        Assert.That(HeaderOf(_dir.PathOf("scalar.npy")),
            Is.EqualTo("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"));

        static string HeaderOf(string file)
        {
            byte[] raw = File.ReadAllBytes(file);
            Assert.That(raw[..6],
                Is.EqualTo(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' }));
            int length = BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(8));
            return Encoding.ASCII.GetString(raw, 10, length).TrimEnd('\n').TrimEnd(' ');
        }
    }

    [Test]
    public void HeaderTooLongForVersion1IsWrittenAsVersion2()
    {
        int[] shape = Enumerable.Repeat(1, 25_000).ToArray();
        string path = _dir.PathOf("v2.npy");
        Npy.WriteFloat32(path, [42f], shape);

        byte[] raw = File.ReadAllBytes(path);
        Assert.That(raw[6..8], Is.EqualTo(new byte[] { 2, 0 }));
        long headerLength = BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(8));
        Assert.That((12 + headerLength) % 64, Is.EqualTo(0));
        var (data, readShape) = Npy.ReadFloat32(path);
        Assert.That(readShape, Is.EqualTo(shape));
        Assert.That(data, Is.EqualTo(new[] { 42f }));
    }

    [Test]
    public void Version3HeaderMustBeUtf8()
    {
        string path = MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1f), major: 3);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[13] = 0xFF;
        File.WriteAllBytes(path, bytes);
        AssertRejected(path, "header of a version 3.0 file is not valid UTF-8");
    }

    [Test]
    public void SpecialValuesRoundTripBitForBit()
    {
        float[] data = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue];
        string path = _dir.PathOf("special.npy");
        Npy.WriteFloat32(path, data, [data.Length]);
        var (read, _) = Npy.ReadFloat32(path);
        Assert.That(read.Select(BitConverter.SingleToInt32Bits),
            Is.EqualTo(data.Select(BitConverter.SingleToInt32Bits)));
    }

    [Test]
    public void ReadsAFileMadeByHandByteByByte()
    {
        // The header is 0x46 = 70 bytes so that the data starts at 80; this is exactly what
        // np.save(path, np.array([[1, 2], [3, -0.5]], dtype=np.float32)) wrote before NumPy
        // moved to 64-byte alignment.
        string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }          \n";
        Assert.That(header.Length, Is.EqualTo(70));
        byte[] file =
        [
            0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 0x01, 0x00, 0x46, 0x00,
            .. Encoding.ASCII.GetBytes(header),
            0x00, 0x00, 0x80, 0x3F,   // 1
            0x00, 0x00, 0x00, 0x40,   // 2
            0x00, 0x00, 0x40, 0x40,   // 3
            0x00, 0x00, 0x00, 0xBF,   // -0.5
        ];
        string path = _dir.PathOf("hand.npy");
        File.WriteAllBytes(path, file);

        var (data, shape) = Npy.ReadFloat32(path);
        Assert.That(shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(data, Is.EqualTo(new[] { 1f, 2f, 3f, -0.5f }));
    }

    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1)]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 2)]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 3)]
    [TestCase("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", 1)]
    [TestCase("{'fortran_order':False,'shape':(2,3),'descr':'<f4'}", 1)]
    [TestCase("  {  'descr' :  '<f4' ,\t'fortran_order' : False ,  'shape' : ( 2 ,  3 , ) ,  }   \n", 1)]
    [TestCase("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}", 1)]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 1)]
    [TestCase("{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2, 3)}\n", 2)]
    public void HeaderVariantsAreAccepted(string header, int major)
    {
        float[] values = [1, 2, 3, 4, 5, 6];
        string path = MakeNpy(header, Floats(values), major);
        var (data, shape) = Npy.ReadFloat32(path);
        Assert.That(shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(data, Is.EqualTo(values));
    }

    [TestCase("'shape': (7,)", new[] { 7 })]
    [TestCase("'shape': ( 7 , )", new[] { 7 })]
    [TestCase("'shape': ()", new int[0])]
    [TestCase("'shape': (1, 1)", new[] { 1, 1 })]
    public void OneTuplesAndScalars(string shapeItem, int[] expected)
    {
        int count = expected.Aggregate(1, (a, b) => a * b);
        string path = MakeNpy($"{{'descr': '<f4', 'fortran_order': False, {shapeItem}, }}\n", Floats(new float[count]));
        Assert.That(Npy.ReadFloat32(path).Shape, Is.EqualTo(expected));
    }

    [Test]
    public void MissingFile() => AssertRejected(_dir.PathOf("absent.npy"), "no such file");

    [Test]
    public void BadMagic()
    {
        string path = _dir.PathOf("bad.npy");
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("NUMPY and more text here"));
        AssertRejected(path, "not a .npy file: it starts with 4E 55 4D 50 59 20");
    }

    [Test]
    public void ZipArchiveGetsAHint()
    {
        string path = _dir.PathOf("arrays.npz");
        File.WriteAllBytes(path, [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0, 0, 0, 0, 0, 0]);
        AssertRejected(path, "looks like a zip archive, perhaps an .npz");
    }

    [TestCase(0)]
    [TestCase(4)]
    [TestCase(9)]
    public void TooShortForAHeader(int length)
    {
        byte[] bytes = new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0, 0 }[..length];
        string path = _dir.PathOf("short.npy");
        File.WriteAllBytes(path, bytes);
        AssertRejected(path, $"file is {length} bytes, too short for a .npy header");
    }

    [TestCase(4, 0)]
    [TestCase(1, 1)]
    [TestCase(0, 0)]
    public void UnsupportedVersion(int major, int minor)
    {
        string path = MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1f), major: 1);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[6] = (byte)major;
        bytes[7] = (byte)minor;
        File.WriteAllBytes(path, bytes);
        AssertRejected(path, $"unsupported .npy format version {major}.{minor} (Dfer reads 1.0, 2.0 and 3.0)");
    }

    [TestCase("<f8", "dtype '<f8' (float64); Dfer reads float32 ('<f4') only — convert with arr.astype(np.float32)")]
    [TestCase("<f2", "dtype '<f2' (float16); Dfer reads float32 ('<f4') only")]
    [TestCase("<i8", "dtype '<i8' (int64); Dfer reads float32 ('<f4') only")]
    [TestCase("|u1", "dtype '|u1' (uint8); Dfer reads float32 ('<f4') only")]
    [TestCase("|b1", "dtype '|b1' (bool)")]
    [TestCase(">f8", "dtype '>f8' (big-endian float64)")]
    [TestCase(">f4",
        "dtype '>f4' (big-endian float32); Dfer reads little-endian float32 ('<f4') only — convert with "
        + "arr.astype('<f4')")]
    [TestCase("|f4", "dtype '|f4' (float32 with byte order '|'); Dfer reads little-endian float32 ('<f4') only")]
    [TestCase("|O", "dtype '|O' (Python objects)")]
    [TestCase("<U5", "dtype '<U5' (unicode strings)")]
    [TestCase("weird", "dtype 'weird' (not a type Dfer recognises)")]
    public void WrongDType(string descr, string phrase) =>
        AssertRejected(MakeNpy($"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}\n", new byte[8]),
        phrase);

    [Test]
    public void StructuredDType() =>
        AssertRejected(
        MakeNpy("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", new byte[8]),
            "structured dtype (a record with named fields)");

    [Test]
    public void FortranOrder() =>
        AssertRejected(MakeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", new byte[24]),
            "Fortran-ordered; save with np.ascontiguousarray");

    [Test]
    public void DataShorterThanTheShapeNeeds() =>
        AssertRejected(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", new byte[20]),
            "data is 20 bytes but shape (2, 3) of float32 needs 24 bytes; the file is truncated");

    [Test]
    public void TrailingGarbage() =>
        AssertRejected(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n", new byte[23]),
            "3 trailing bytes after the data: shape (5,) of float32 needs 20 bytes, the file holds 23");

    [Test]
    public void HeaderLengthPastTheEndOfTheFile()
    {
        string path = MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1f));
        byte[] bytes = File.ReadAllBytes(path);
        bytes[8] = 0xFF;
        bytes[9] = 0x7F;
        File.WriteAllBytes(path, bytes);
        AssertRejected(path, "header length 32767 runs past the end of the file (71 bytes)");
    }

    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", "header ends")]
    [TestCase("'descr': '<f4'", "expected '{' opening the header dict")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk",
        "unexpected text after the header dict")]
    [TestCase("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }", "expected ':' but found")]
    [TestCase("{'descr': '<f4 , 'fortran_order': False, 'shape': (2, 3), }",
        "expected ',' but found 'f' at position 18")]
    [TestCase("{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3), }", "unexpected name 'false'")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': __import__('os'), }", "unexpected name '__import__'")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3), }", "expected an integer")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", "unexpected character ','")]
    [TestCase("{descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }", "expected a quoted key or '}'")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
        "integer 99999999999999999999 is out of range")]
    [TestCase("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "key 'descr' appears twice")]
    public void MalformedHeader(string header, string phrase)
    {
        string path = MakeNpy(header + "\n", new byte[24]);
        DferException ex = WeightsAssert.FailsWith(path, "malformed header: ", () => Npy.ReadFloat32(path));
        Assert.That(ex.Message, Does.Contain(phrase));
    }

    [TestCase("{'descr': '<f4', 'fortran_order': False}", "header has no 'shape' key")]
    [TestCase("{'fortran_order': False, 'shape': (2, 3)}", "header has no 'descr' key")]
    [TestCase("{'descr': '<f4', 'shape': (2, 3)}", "header has no 'fortran_order' key")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
        "header has unexpected key 'extra'")]
    [TestCase("{'descr': 4, 'fortran_order': False, 'shape': (2, 3)}", "header 'descr' is 4, expected a string")]
    [TestCase("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}",
        "header 'fortran_order' is 0, expected True or False")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "header 'shape' is 6, expected a tuple")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}",
        "header 'shape' is a list, expected a tuple")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}",
        "header 'shape' dimension 1 is -3, expected a non-negative integer")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, '3')}",
        "header 'shape' dimension 1 is the string '3'")]
    [TestCase("{'descr': '<f4', 'fortran_order': False, 'shape': (2, None)}", "header 'shape' dimension 1 is None")]
    public void WrongHeaderContents(string header, string phrase) =>
        AssertRejected(MakeNpy(header + "\n", new byte[24]), phrase);

    [Test]
    public void DimensionBeyondInt32() =>
        AssertRejected(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3000000000, 0), }\n", []),
            "dimension 0 of shape (3000000000, 0) is 3000000000");

    [Test]
    public void TooManyElements() =>
        AssertRejected(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2000000000, 2000000000), }\n", []),
            "shape (2000000000, 2000000000) has more elements than an array can hold");

    [Test]
    public void WriterRejectsAShapeThatDoesNotMatchTheData()
    {
        string path = _dir.PathOf("w.npy");
        Assert.Throws<ArgumentException>(() => Npy.WriteFloat32(path, new float[5], [2, 3]));
        Assert.Throws<ArgumentException>(() => Npy.WriteFloat32(path, new float[0], [-1, 0]));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void WriterReportsAnUnwritablePath()
    {
        string path = Path.Combine(_dir.Root, "missing", "w.npy");
        WeightsAssert.FailsWith(path, "cannot create", () => Npy.WriteFloat32(path, [1f], [1]));
    }

    [Test]
    public void LargeArrayReadsInOneGo()
    {
        float[] data = new float[3 * 224 * 224 * 8];
        for (int i = 0; i < data.Length; i++) data[i] = i;
        string path = _dir.PathOf("big.npy");
        Npy.WriteFloat32(path, data, [8, 3, 224, 224]);
        var (read, shape) = Npy.ReadFloat32(path);
        Assert.That(shape, Is.EqualTo(new[] { 8, 3, 224, 224 }));
        Assert.That(MemoryMarshal.AsBytes(read.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(data.AsSpan())), Is.True);
    }
}

/// <summary>Hostile .npy headers: each ends in one bounded DferException, never a crash or a flood.</summary>
[TestFixture]
public class NpyHostileHeaderTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>A version 2.0 file (4-byte header length) with <paramref name="header"/> as given, then
    /// <paramref name="data"/>.</summary>
    private string MakeV2(string header, byte[] data, uint? claimedLength = null)
    {
        byte[] text = Encoding.Latin1.GetBytes(header);
        var bytes = new byte[12 + text.Length + data.Length];
        byte[] magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0];
        magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), claimedLength ?? (uint)text.Length);
        text.CopyTo(bytes, 12);
        data.CopyTo(bytes, 12 + text.Length);
        string path = _dir.PathOf("h.npy");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static DferException Rejected(string path, string phrase)
    {
        DferException ex = WeightsAssert.FailsWith(path, phrase, () => Npy.ReadFloat32(path));
        Assert.That(ex.Message.Length, Is.LessThan(600), "the message is bounded");
        return ex;
    }

    [Test, CancelAfter(20_000)]
    public void TensOfThousandsOfNestedBracketsAreRefusedNotAStackOverflow()
    {
        // Before the nesting limit this recursed once per bracket and killed the process.
        string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + new string('(', 100_000) + "1"
            + new string(')', 100_000) + ", }\n";
        Rejected(MakeV2(header, new byte[4]),
            $"malformed header: brackets nest deeper than {Npy.MaxHeaderNesting} levels");
        string lists = "{'descr': " + new string('[', 60_000) + "\n";
        Rejected(MakeV2(lists, []), "brackets nest deeper than 32 levels at position 41");
    }

    [Test]
    public void NestingUpToTheLimitIsParsed()
    {
        // The dict is level 1 and the shape tuple level 32; "((x))" is x in Python, as in NumPy's literal_eval.
        int wrap = Npy.MaxHeaderNesting - 2;
        string shape = new string('(', wrap) + "(2, 3)" + new string(')', wrap);
        string ok = MakeV2("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n", new byte[24]);
        Assert.That(Npy.ReadFloat32(ok).Shape, Is.EqualTo(new[] { 2, 3 }));

        string deeper = "(" + shape + ")";
        Rejected(MakeV2("{'descr': '<f4', 'fortran_order': False, 'shape': " + deeper + ", }\n", new byte[24]),
            "brackets nest deeper than 32 levels");
    }

    [Test]
    public void HeaderLengthOverTheLimitIsRefusedBeforeReading()
    {
        Rejected(MakeV2("{}", [], claimedLength: uint.MaxValue),
            "header length 4294967295 exceeds Dfer's limit of 1048576 bytes");
        Rejected(MakeV2("{}", [], claimedLength: Npy.MaxHeaderBytes + 1u),
            "header length 1048577 exceeds Dfer's limit of 1048576 bytes");
    }

    [Test]
    public void HeaderOfExactlyTheLimitIsRead()
    {
        string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
        string header = dict.PadRight(Npy.MaxHeaderBytes - 1) + "\n";
        Assert.That(Npy.ReadFloat32(MakeV2(header, [0, 0, 0x80, 0x3F])).Data, Is.EqualTo(new[] { 1f }));
    }

    [Test]
    public void AShapeOfManyDimensionsIsElidedInMessages()
    {
        string dims = string.Join(", ", Enumerable.Repeat("2", 5000));
        DferException ex = Rejected(MakeV2("{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }\n", []),
            "shape (2, 2, 2, 2, 2, 2, 2, 2, ... 5000 dimensions in all) has more elements than an array can hold");
        Assert.That(ex.Message, Does.Not.Contain("2, 2, 2, 2, 2, 2, 2, 2, 2"));
    }

    [Test]
    public void ShapeProductOverflowingInt64IsOneLine() =>
        Rejected(MakeV2(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647, 2147483647, "
        + "2147483647), }\n", []),
            "has more elements than an array can hold");

    [Test]
    public void ShapeLargerThanTheFileIsTruncationNotAnAllocation() =>
        Rejected(MakeV2("{'descr': '<f4', 'fortran_order': False, 'shape': (30000, 30000), }\n", new byte[16]),
            "data is 16 bytes but shape (30000, 30000) of float32 needs 3600000000 bytes; the file is truncated");

    [Test]
    public void LongAndControlCharacterNamesAreCutAndEscaped()
    {
        DferException ex = Rejected(
            MakeV2("{'descr': '" + new string('x', 200_000) + "', 'fortran_order': False, 'shape': (1,), }\n",
            new byte[4]),
            "dtype 'xxxxxxxx");
        Assert.That(ex.Message, Does.Contain("more characters)' (not a type Dfer recognises)"));

        ex = Rejected(MakeV2("{'descr': '\x1b[31m<f4', 'fortran_order': False, 'shape': (1,), }\n", new byte[4]),
            "dtype '\\x1b[31m<f4'");
        Assert.That(ex.Message, Does.Not.Contain('\x1b'));

        ex = Rejected(
            MakeV2("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '\x07" + new string('k', 5000) + "': 1}\n",
            new byte[4]),
            "header has unexpected key '\\x07kkk");
        Assert.That(ex.Message, Does.Not.Contain('\x07'));

        Rejected(MakeV2("{'descr': '<f4', 'fortran_order': " + new string('F', 100_000) + ", 'shape': (1,), }\n",
            new byte[4]),
            "unexpected name 'FFFF");
        Rejected(MakeV2("{'descr': '<f4', 'fortran_order': False, 'shape': (" + new string('9', 100_000) + ",), }\n",
            new byte[4]),
            "is out of range");
    }

    [Test]
    public void MalformedHeaderExcerptEscapesControlCharacters()
    {
        DferException ex = Rejected(
            MakeV2("{'descr': '<f4',\x1b]0;pwned\x07 'fortran_order': False, 'shape': (1,), }\n", new byte[4]),
            "malformed header: expected a quoted key or '}'");
        Assert.That(ex.Message, Does.Contain("\\x1b]0;pwned\\x07"));
    }

    /// <summary>Random corruptions of a valid file: each read succeeds or throws DferException, nothing else.</summary>
    [Test, CancelAfter(60_000)]
    public void RandomCorruptionsThrowOnlyDferException()
    {
        string good = _dir.PathOf("good.npy");
        Npy.WriteFloat32(good, [1, 2, 3, 4, 5, 6], [2, 3]);
        byte[] original = File.ReadAllBytes(good);
        var rng = TestSeed.Random(21);
        const string alphabet = "{}()[],:'\" \n0123456789-LTrueFalsNn<f4xdescrhapotin_\\\x00\x1b";
        string path = _dir.PathOf("mutant.npy");
        int rejected = 0;
        for (int round = 0; round < 3000; round++)
        {
            byte[] bytes = (byte[])original.Clone();
            int edits = rng.Next(1, 6);
            for (int e = 0; e < edits; e++)
            {
                int at = rng.Next(bytes.Length);
                bytes[at] = rng.Next(3) == 0 ? (byte)rng.Next(256) : (byte)alphabet[rng.Next(alphabet.Length)];
            }
            if (rng.Next(4) == 0) bytes = bytes[..rng.Next(bytes.Length)];
            File.WriteAllBytes(path, bytes);
            try
            {
                Npy.ReadFloat32(path);
            }
            catch (DferException ex)
            {
                Assert.That(ex.Message, Does.StartWith(path + ": ").And.Not.Contain('\n'), $"round {round}");
                rejected++;
            }
        }
        Assert.That(rejected, Is.GreaterThan(1000), "most corruptions are caught");
    }
}
