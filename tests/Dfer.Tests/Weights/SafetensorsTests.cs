using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Dfer.Tensors;
using Dfer.Weights;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

[TestFixture]
public class SafetensorsTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void Float32RoundTripKeepsOrderShapesValuesAndMetadata()
    {
        string path = _dir.PathOf("model.safetensors");
        float[] weight = Enumerable.Range(0, 6).Select(i => i * 0.5f - 1f).ToArray();
        float[] bias = [float.NaN, float.PositiveInfinity, -0f];
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["epoch"] = "12" };

        SafetensorsWriter.WriteFloat32(path,
        [
            ("z.last_in_alphabet_first_in_file", [2, 3], weight),
            ("a.bias", [3], bias),
            ("scale", [], [2.5f]),
            ("empty", [0, 4], []),
        ], metadata);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.Path, Is.EqualTo(path));
        Assert.That(file.Entries.Select(e => e.Name),
            Is.EqualTo(new[] { "z.last_in_alphabet_first_in_file", "a.bias", "scale", "empty" }));
        Assert.That(file.Metadata, Is.EquivalentTo(metadata));

        SafetensorsEntry w = file.Entries[0];
        Assert.That(w.DType, Is.EqualTo(DType.F32));
        Assert.That(w.Shape, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(w.ElementCount, Is.EqualTo(6));
        Assert.That(file.ReadFloat32(w), Is.EqualTo(weight));

        Assert.That(file.TryGet("a.bias", out SafetensorsEntry? b), Is.True);
        float[] readBias = file.ReadFloat32(b!);
        Assert.That(readBias.Select(BitConverter.SingleToInt32Bits),
            Is.EqualTo(bias.Select(BitConverter.SingleToInt32Bits)));

        Assert.That(file.TryGet("scale", out SafetensorsEntry? scale), Is.True);
        Assert.That(scale!.Shape, Is.Empty);
        Assert.That(scale.ElementCount, Is.EqualTo(1));
        Assert.That(file.ReadFloat32(scale), Is.EqualTo(new[] { 2.5f }));

        Assert.That(file.TryGet("empty", out SafetensorsEntry? empty), Is.True);
        Assert.That(empty!.ElementCount, Is.EqualTo(0));
        Assert.That(file.ReadFloat32(empty), Is.Empty);
        Assert.That(file.GetBytes(empty).Length, Is.EqualTo(0));

        Assert.That(file.TryGet("missing", out _), Is.False);
    }

    [Test]
    public void RawRoundTripOfEveryDType()
    {
        string path = _dir.PathOf("all.safetensors");
        var tensors = new (string Name, DType DType, long[] Shape, byte[] Data)[]
        {
            ("f32", DType.F32, [2], Bytes<float>(1.5f, -3f)),
            ("f16", DType.F16, [3], Bytes<ushort>(0x3C00, 0xC000, 0x0001)),
            ("bf16", DType.BF16, [1, 2], Bytes<ushort>(0x3F80, 0x4049)),
            ("f64", DType.F64, [1], Bytes<double>(Math.PI)),
            ("i64", DType.I64, [2], Bytes<long>(long.MinValue, 42)),
            ("i32", DType.I32, [3], Bytes<int>(-7, 0, int.MaxValue)),
            ("u8", DType.U8, [2, 2], [0, 1, 200, 255]),
            ("bool", DType.Bool, [2], [1, 0]),
        };
        SafetensorsWriter.Write(path, tensors);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.Entries, Has.Count.EqualTo(tensors.Length));
        Assert.That(file.Metadata, Is.Empty);
        for (int i = 0; i < tensors.Length; i++)
        {
            SafetensorsEntry e = file.Entries[i];
            Assert.That(e.Name, Is.EqualTo(tensors[i].Name));
            Assert.That(e.DType, Is.EqualTo(tensors[i].DType));
            Assert.That(e.Shape, Is.EqualTo(tensors[i].Shape));
            Assert.That(file.GetBytes(e).ToArray(), Is.EqualTo(tensors[i].Data), e.Name);
        }

        Assert.That(file.ReadInt64(file.Entries[4]), Is.EqualTo(new[] { long.MinValue, 42L }));
        Assert.That(file.ReadInt64(file.Entries[5]), Is.EqualTo(new long[] { -7, 0, int.MaxValue }));
        Assert.That(file.ReadInt64(file.Entries[6]), Is.EqualTo(new long[] { 0, 1, 200, 255 }));
        Assert.That(file.ReadInt64(file.Entries[7]), Is.EqualTo(new long[] { 1, 0 }));
    }

    private static readonly (ushort Bits, float Expected)[] Float16Cases =
    [
        (0x3C00, 1.0f),
        (0xC000, -2.0f),
        (0x3800, 0.5f),
        (0x3555, 0.333251953125f),           // 1365/4096: nearest half to 1/3
        (0x7BFF, 65504f),                     // largest finite half
        (0x0400, 6.103515625e-05f),           // 2^-14, smallest normal
        (0x0001, 5.9604644775390625e-08f),    // 2^-24, smallest subnormal
        (0x03FF, 6.097555160522461e-05f),     // 1023 * 2^-24, largest subnormal
        (0x8001, -5.9604644775390625e-08f),
        (0x7C00, float.PositiveInfinity),
        (0xFC00, float.NegativeInfinity),
    ];

    [Test]
    public void Float16WidensExactly()
    {
        string path = _dir.PathOf("f16.safetensors");
        ushort[] bits = [.. Float16Cases.Select(c => c.Bits), 0x8000, 0x7E00];
        SafetensorsWriter.Write(path, [("h", DType.F16, [bits.Length], Bytes(bits))]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        float[] values = file.ReadFloat32(file.Entries[0]);
        for (int i = 0; i < Float16Cases.Length; i++)
            Assert.That(values[i], Is.EqualTo(Float16Cases[i].Expected), $"0x{Float16Cases[i].Bits:X4}");
        Assert.That(BitConverter.SingleToUInt32Bits(values[^2]), Is.EqualTo(0x8000_0000u),
            "negative zero keeps its sign");
        Assert.That(float.IsNaN(values[^1]), Is.True);
    }

    [Test]
    public void BFloat16WidensExactly()
    {
        string path = _dir.PathOf("bf16.safetensors");
        ushort[] bits = [0x3F80, 0xC000, 0x4049, 0x3EAB, 0x0001, 0x7F7F, 0x7F80, 0xFF80, 0x8000, 0x7FC1];
        SafetensorsWriter.Write(path, [("b", DType.BF16, [bits.Length], Bytes(bits))]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        float[] values = file.ReadFloat32(file.Entries[0]);
        Assert.That(values[0], Is.EqualTo(1.0f));
        Assert.That(values[1], Is.EqualTo(-2.0f));
        Assert.That(values[2], Is.EqualTo(3.140625f));
        Assert.That(values[3], Is.EqualTo(0.333984375f));
        Assert.That(values[4], Is.EqualTo(MathF.Pow(2, -133)), "subnormal bf16 is 2^-149 * 2^16");
        Assert.That(values[5], Is.EqualTo(3.3895313892515355e38f), "largest finite bf16");
        Assert.That(values[6], Is.EqualTo(float.PositiveInfinity));
        Assert.That(values[7], Is.EqualTo(float.NegativeInfinity));
        Assert.That(BitConverter.SingleToUInt32Bits(values[8]), Is.EqualTo(0x8000_0000u));
        Assert.That(BitConverter.SingleToUInt32Bits(values[9]), Is.EqualTo(0x7FC1_0000u), "NaN payload kept");
    }

    [Test]
    public void Float64NarrowsToNearestFloat32()
    {
        string path = _dir.PathOf("f64.safetensors");
        SafetensorsWriter.Write(path, [("d", DType.F64, [4], Bytes<double>(0.1, -1e300, 1e-50, 16777217.0))]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.ReadFloat32(file.Entries[0]),
            Is.EqualTo(new[] { 0.1f, float.NegativeInfinity, 0f, 16777216f }));
    }

    [Test]
    public void ReadingAcrossKindsIsRefused()
    {
        string path = _dir.PathOf("kinds.safetensors");
        SafetensorsWriter.Write(path,
        [
            ("ids", DType.I64, [1], Bytes<long>(3)),
            ("w", DType.F32, [1], Bytes<float>(3f)),
        ]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        WeightsAssert.FailsWith(path, "tensor 'ids' has dtype I64, which cannot be read as float32",
            () => file.ReadFloat32(file.Entries[0]));
        WeightsAssert.FailsWith(path, "tensor 'w' has dtype F32, which cannot be read as int64",
            () => file.ReadInt64(file.Entries[1]));
    }

    [Test]
    public void WriterPadsHeaderWithSpacesToEightBytesAndPacksDataContiguously()
    {
        string path = _dir.PathOf("layout.safetensors");
        SafetensorsWriter.Write(path,
        [
            ("a", DType.U8, [3], [1, 2, 3]),
            ("b", DType.F16, [1], Bytes<ushort>(0x3C00)),
            ("c", DType.F32, [1], Bytes<float>(1f)),
        ], new Dictionary<string, string> { ["k"] = "v" });

        byte[] raw = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(raw);
        Assert.That((8 + headerLength) % 8, Is.EqualTo(0));
        Assert.That(raw.Length, Is.EqualTo(8 + headerLength + 3 + 2 + 4));
        string header = Encoding.UTF8.GetString(raw, 8, (int)headerLength);
        Assert.That(header.TrimEnd(' '), Does.EndWith("}"), "padding is spaces only");

        using JsonDocument doc = JsonDocument.Parse(header);
        Assert.That(doc.RootElement.EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "__metadata__", "a", "b", "c" }));
        Assert.That(doc.RootElement.GetProperty("b").GetProperty("data_offsets").EnumerateArray()
            .Select(e => e.GetInt64()),
            Is.EqualTo(new long[] { 3, 5 }));
        Assert.That(doc.RootElement.GetProperty("c").GetProperty("data_offsets").EnumerateArray()
            .Select(e => e.GetInt64()),
            Is.EqualTo(new long[] { 5, 9 }));
        Assert.That(raw[(int)(8 + headerLength)..], Is.EqualTo(new byte[] { 1, 2, 3, 0x00, 0x3C, 0, 0, 0x80, 0x3F }));
    }

    [Test]
    public void ReadsAFileMadeByHandByteByByte()
    {
        // 8-byte length 0x6D = 109, then the 109-byte header, then the data with a 2-byte gap
        // before the second tensor and 2 trailing bytes, both of which are legal.
        string json = """{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"BF16","shape":["""
            + """],"data_offsets":[10,12]}}""";
        Assert.That(json.Length, Is.EqualTo(109));
        byte[] file =
        [
            0x6D, 0, 0, 0, 0, 0, 0, 0,
            .. Encoding.ASCII.GetBytes(json),
            0x00, 0x00, 0x80, 0x3F,   // 1.0f
            0x00, 0x00, 0x00, 0xC0,   // -2.0f
            0xEE, 0xEE,               // gap
            0x80, 0xBF,               // bf16 -1.0
            0xAB, 0xCD,               // trailing
        ];
        string path = _dir.PathOf("hand.safetensors");
        File.WriteAllBytes(path, file);

        using SafetensorsFile st = SafetensorsFile.Open(path);
        Assert.That(st.Entries.Select(e => e.Name), Is.EqualTo(new[] { "x", "y" }));
        Assert.That(st.ReadFloat32(st.Entries[0]), Is.EqualTo(new[] { 1.0f, -2.0f }));
        Assert.That(st.Entries[1].Shape, Is.Empty);
        Assert.That(st.ReadFloat32(st.Entries[1]), Is.EqualTo(new[] { -1.0f }));
        Assert.That(st.GetBytes(st.Entries[1]).ToArray(), Is.EqualTo(new byte[] { 0x80, 0xBF }));
    }

    [Test]
    public void UnalignedTensorsReadCorrectly()
    {
        string json = """{"odd":{"dtype":"F32","shape":[2],"data_offsets":[1,9]},"h":{"dtype":"F16","shape":["""
            + """1],"data_offsets":[9,11]}}""";
        byte[] data = [0xFF, .. Bytes<float>(3.25f, -0.125f), .. Bytes<ushort>(0xC000)];
        string path = _dir.PathOf("unaligned.safetensors");
        File.WriteAllBytes(path, RawSafetensors.Build(json, data));

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.ReadFloat32(file.Entries[0]), Is.EqualTo(new[] { 3.25f, -0.125f }));
        Assert.That(file.ReadFloat32(file.Entries[1]), Is.EqualTo(new[] { -2.0f }));
    }

    [Test]
    public void GetBytesIsAViewIntoTheMappingNotACopy()
    {
        string path = _dir.PathOf("view.safetensors");
        SafetensorsWriter.WriteFloat32(path, [("w", [4], [1f, 2f, 3f, 4f])]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        ReadOnlySpan<byte> first = file.GetBytes(file.Entries[0]);
        ReadOnlySpan<byte> second = file.GetBytes(file.Entries[0]);
        Assert.That(Unsafe.AreSame(ref MemoryMarshal.GetReference(first), ref MemoryMarshal.GetReference(second)),
            Is.True);
        Assert.That(MemoryMarshal.Cast<byte, float>(first).ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f, 4f }));
    }

    [Test]
    public void DisposeReleasesTheMapping()
    {
        string path = _dir.PathOf("disposed.safetensors");
        SafetensorsWriter.WriteFloat32(path, [("w", [1], [1f])]);

        SafetensorsFile file = SafetensorsFile.Open(path);
        SafetensorsEntry entry = file.Entries[0];
        file.Dispose();
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => file.GetBytes(entry));
        Assert.Throws<ObjectDisposedException>(() => file.ReadFloat32(entry));
        Assert.That(file.Entries, Has.Count.EqualTo(1), "the parsed header outlives the mapping");
        File.Delete(path);
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void EntriesOfAnotherFileAreRejected()
    {
        string a = _dir.PathOf("a.safetensors"), b = _dir.PathOf("b.safetensors");
        SafetensorsWriter.WriteFloat32(a, [("w", [1], [1f])]);
        SafetensorsWriter.WriteFloat32(b, [("pad", [3], [0f, 0f, 0f]), ("w", [1], [2f])]);

        using SafetensorsFile fa = SafetensorsFile.Open(a);
        using SafetensorsFile fb = SafetensorsFile.Open(b);
        Assert.Throws<ArgumentException>(() => fa.GetBytes(fb.Entries[1]));
        Assert.Throws<ArgumentException>(() => fa.ReadFloat32(fa.Entries[0] with { DType = DType.F16 }));
        Assert.That(fa.ReadFloat32(fa.Entries[0] with { }), Is.EqualTo(new[] { 1f }), "an equal copy is accepted");
    }

    [Test]
    public void UnicodeNamesAndMetadataRoundTrip()
    {
        string path = _dir.PathOf("unicode.safetensors");
        SafetensorsWriter.WriteFloat32(path, [("größe.权重\"q\"", [1], [7f])],
            new Dictionary<string, string> { ["note"] = "ünïcödé ✓" });

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.Entries[0].Name, Is.EqualTo("größe.权重\"q\""));
        Assert.That(file.Metadata["note"], Is.EqualTo("ünïcödé ✓"));
    }

    [Test]
    public void NoTensorsIsAValidFile()
    {
        string path = _dir.PathOf("none.safetensors");
        SafetensorsWriter.WriteFloat32(path, []);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.That(file.Entries, Is.Empty);
        Assert.That(file.Metadata, Is.Empty);
    }

    [Test]
    public void WriterRejectsInconsistentArguments()
    {
        string path = _dir.PathOf("bad-args.safetensors");
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("w", [2, 3], new float[5])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [("w", DType.F16, [2], new byte[3])]));
        Assert.Throws<ArgumentException>(
            () => SafetensorsWriter.WriteFloat32(path, [("w", [1], [1f]), ("w", [1], [2f])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("__metadata__", [1], [1f])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFloat32(path, [("w", [-1], [])]));
        Assert.That(File.Exists(path), Is.False, "nothing is written when the arguments are wrong");
    }

    [Test]
    public void WriterReportsAnUnwritablePath()
    {
        string path = Path.Combine(_dir.Root, "no-such-dir", "w.safetensors");
        WeightsAssert.FailsWith(path, "cannot create", () => SafetensorsWriter.WriteFloat32(path, [("w", [1], [1f])]));
    }

    private static byte[] Bytes<T>(params T[] values) where T : unmanaged
    {
        Assert.That(BitConverter.IsLittleEndian, Is.True, "these fixtures spell little-endian bytes");
        return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }
}
