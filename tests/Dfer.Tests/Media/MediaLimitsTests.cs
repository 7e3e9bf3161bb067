using System.Buffers.Binary;
using System.Text;
using Dfer.Media;
using Dfer.Tests.Weights;

namespace Dfer.Tests.Media;

/// <summary>
/// Images whose headers claim huge sizes, huge files, elongated frames and directories where files
/// belong: each is one line naming the input, decided before anything of the claimed size is allocated.
/// </summary>
[TestFixture]
public class MediaLimitsTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>A PNG whose IHDR says <paramref name="width"/>×<paramref name="height"/>, with one small (bogus)
    /// IDAT.</summary>
    internal static byte[] PngClaiming(uint width, uint height)
    {
        var png = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // RGB
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", [0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01]);
        Chunk(png, "IEND", []);
        return png.ToArray();

        static void Chunk(List<byte> png, string type, byte[] data)
        {
            var length = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)data.Length);
            png.AddRange(length);
            byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
            png.AddRange(typed);
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
            png.AddRange(crc);
        }
    }

    /// <summary>The CRC-32 PNG chunks carry (ISO 3309, polynomial 0xEDB88320), bit by bit.</summary>
    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>The 97×61 JPEG fixture with its frame header (SOF) patched to claim another size.</summary>
    private static byte[] JpegClaiming(ushort width, ushort height)
    {
        byte[] jpeg = File.ReadAllBytes(MediaFixtures.PathOf("decode", "jpeg444_97x61.jpg"));
        for (int i = 2; i + 9 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] is 0xC0 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), height);
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), width);
                return jpeg;
            }
        }
        throw new InvalidOperationException("no SOF marker in the fixture");
    }

    [Test, CancelAfter(20_000)]
    public void PngClaiming100000x100000IsRefusedFromItsHeader()
    {
        string path = _dir.PathOf("bomb.png");
        File.WriteAllBytes(path, PngClaiming(100_000, 100_000));
        WeightsAssert.FailsWith(path,
            "image of 100000x100000 pixels is larger than Dfer's limit of 67108864 pixels (8192x8192); scale it down "
            + "first",
            () => ImageDecoder.Decode(path));
    }

    [Test, CancelAfter(20_000)]
    public void JpegClaiming65000x65000IsRefusedFromItsHeader()
    {
        string path = _dir.PathOf("bomb.jpg");
        File.WriteAllBytes(path, JpegClaiming(65_000, 65_000));
        WeightsAssert.FailsWith(path, "image of 65000x65000 pixels is larger than Dfer's limit of 67108864 pixels",
            () => ImageDecoder.Decode(path));
    }

    [Test]
    public void JustOverThePixelLimitIsRefused()
    {
        string path = _dir.PathOf("over.png");
        File.WriteAllBytes(path, PngClaiming(8193, 8192));
        WeightsAssert.FailsWith(path, "image of 8193x8192 pixels is larger", () => ImageDecoder.Decode(path));
    }

    [Test]
    public void ThePixelLimitItself()
    {
        Assert.That(MediaLimits.MaxImagePixels, Is.EqualTo(8192L * 8192));
        Assert.DoesNotThrow(() => ImageDecoder.CheckPixels("x", "image", 8192, 8192));
        Assert.DoesNotThrow(() => ImageDecoder.CheckPixels("x", "image", MediaLimits.MaxImagePixels, 1));
        Assert.Throws<DferException>(() => ImageDecoder.CheckPixels("x", "image", MediaLimits.MaxImagePixels + 1, 1));
        Assert.Throws<DferException>(() => ImageDecoder.CheckPixels("x", "image", 8192, 8193));
        // Sizes that would overflow a 64-bit product are refused too.
        Assert.Throws<DferException>(() => ImageDecoder.CheckPixels("x", "video frame", long.MaxValue, long.MaxValue));
    }

    [Test, CancelAfter(20_000)]
    public void ImageFileOverTheSizeLimitIsRefusedUnread()
    {
        // Sparse: nothing is written, and nothing must be read. Before the limit a file over 2 GB
        // threw OverflowException ("internal error") from new byte[length].
        string path = _dir.PathOf("huge.png");
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength(3L << 30);
        WeightsAssert.FailsWith(path,
            "image file of 3221225472 bytes is larger than Dfer's limit of 268435456 bytes (256 MiB)",
            () => ImageDecoder.Decode(path));
    }

    [Test]
    public void DirectoryGivenAsAnImageSaysSo()
    {
        string path = _dir.PathOf("frames.jpg");
        Directory.CreateDirectory(path);
        WeightsAssert.FailsWith(path, "is a directory, not a file", () => ImageDecoder.Decode(path));
    }

    [Test]
    public void AFrameFolderWithABombFrameNamesTheFrame()
    {
        string folder = _dir.PathOf("clip");
        Directory.CreateDirectory(folder);
        File.Copy(MediaFixtures.PathOf("decode", "jpeg444_97x61.jpg"), Path.Combine(folder, "00001.jpg"));
        string bomb = Path.Combine(folder, "00002.png");
        File.WriteAllBytes(bomb, PngClaiming(100_000, 100_000));
        WeightsAssert.FailsWith(bomb, "image of 100000x100000 pixels is larger",
            () => MediaInput.ReadClips(folder, MediaInputTests.M3dfel));
    }

    [Test, CancelAfter(20_000)]
    public void AStripOnePixelWideIsTooElongatedToResize()
    {
        // 1×20000 is 60 kB, but its short side at 112 makes the long side 2 240 000 pixels: 250 M in all.
        var strip = new RgbImage(1, 20_000, new byte[20_000 * 3]);
        WeightsAssert.FailsWith("s.png",
            "a frame of 1x20000 pixels is too elongated: resizing its short side to 112 would make 2240000 pixels on "
            + "the long side (limit 67108864 pixels in all)",
            () => ClipBuilder.Prepare(strip, MediaInputTests.M3dfel, "s.png"));
        var wide = new RgbImage(20_000, 1, new byte[20_000 * 3]);
        WeightsAssert.FailsWith("w.png", "a frame of 20000x1 pixels is too elongated",
            () => ClipBuilder.Prepare(wide, MediaInputTests.M3dfel, "w.png"));
    }

    [Test]
    public void AModeratelyElongatedFrameIsResizedAsBefore()
    {
        var frame = new RgbImage(40, 400, new byte[40 * 400 * 3]);
        RgbImage prepared = ClipBuilder.Prepare(frame, MediaInputTests.M3dfel, "f.png");
        Assert.That((prepared.Width, prepared.Height), Is.EqualTo((112, 112)));
    }
}
