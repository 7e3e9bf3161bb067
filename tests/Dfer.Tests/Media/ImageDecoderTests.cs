using Dfer.Media;
using Dfer.Tests.Weights;

namespace Dfer.Tests.Media;

[TestFixture]
public class ImageDecoderTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static IEnumerable<string> DecodeFixtures() =>
        Directory.GetFiles(MediaFixtures.PathOf("decode"))
            .Where(f => !f.EndsWith(".npy", StringComparison.Ordinal))
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)!;

    /// <summary>Every fixture decodes to exactly the bytes of Pillow's <c>Image.open(p).convert('RGB')</c>.</summary>
    [TestCaseSource(nameof(DecodeFixtures))]
    public void DecodesLikePillow(string name)
    {
        string path = MediaFixtures.PathOf("decode", name);
        RgbImage expected = MediaFixtures.ReadRgbNpy(Path.ChangeExtension(path, ".npy"));
        MediaFixtures.AssertSameImage(expected, ImageDecoder.Decode(path), name);
    }

    [Test]
    public void TheFixturesCoverEveryKind()
    {
        string[] names = DecodeFixtures().ToArray();
        foreach (string kind in new[] { "jpeg420", "jpeg422", "jpeg444", "prog", "jpeggray", "png_rgb", "png_rgba",
            "png_gray", "png_palette" })
        {
            Assert.That(names.Any(n => n.Contains(kind, StringComparison.Ordinal)), kind);
        }
    }

    [Test]
    public void TruncatedJpegIsAnError()
    {
        byte[] whole = File.ReadAllBytes(MediaFixtures.PathOf("decode", "jpeg444_97x61.jpg"));
        string path = _dir.PathOf("cut.jpg");
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        WeightsAssert.FailsWith(path, "truncated", () => ImageDecoder.Decode(path));
    }

    [Test]
    public void TruncatedPngIsAnError()
    {
        byte[] whole = File.ReadAllBytes(MediaFixtures.PathOf("decode", "png_rgb_97x61.png"));
        string path = _dir.PathOf("cut.png");
        File.WriteAllBytes(path, whole[..(whole.Length * 2 / 3)]);
        WeightsAssert.FailsWith(path, "truncated", () => ImageDecoder.Decode(path));
    }

    [Test]
    public void CorruptPngIsAnError()
    {
        byte[] bytes = File.ReadAllBytes(MediaFixtures.PathOf("decode", "png_rgb_97x61.png"));
        // Scramble the compressed data in the middle of the first IDAT chunk.
        int idat = IndexOf(bytes, "IDAT"u8.ToArray());
        for (int i = idat + 100; i < idat + 400; i++) bytes[i] ^= 0x5A;
        string path = _dir.PathOf("bad.png");
        File.WriteAllBytes(path, bytes);
        DferException ex = Assert.Throws<DferException>(() => ImageDecoder.Decode(path))!;
        Assert.That(ex.Message, Does.StartWith(path + ": "));
        Assert.That(ex.Message, Does.Not.Contain('\n'));
    }

    [Test]
    public void NotAnImageIsAnError()
    {
        string path = _dir.PathOf("notes.jpg");
        File.WriteAllText(path, "these are not pixels");
        WeightsAssert.FailsWith(path, "cannot decode image", () => ImageDecoder.Decode(path));
    }

    [Test]
    public void EmptyFileIsAnError()
    {
        string path = _dir.PathOf("empty.png");
        File.WriteAllBytes(path, []);
        WeightsAssert.FailsWith(path, "empty", () => ImageDecoder.Decode(path));
    }

    [Test]
    public void MissingFileIsAnError()
    {
        string path = _dir.PathOf("none.jpg");
        WeightsAssert.FailsWith(path, "no such file", () => ImageDecoder.Decode(path));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        }
        throw new InvalidOperationException("not found");
    }
}
