using System.Text.RegularExpressions;
using Dfer.Media;

namespace Dfer.Tests.Media;

[TestFixture]
public partial class PilResizeTests
{
    /// <summary>Each resize/SRC_to_WxH_FILTER.npy is Pillow's <c>resize((W, H), FILTER)</c> of
    /// resize/SRC.png.</summary>
    private static IEnumerable<string> Cases() =>
        Directory.GetFiles(MediaFixtures.PathOf("resize"), "*.npy").Select(Path.GetFileName)
        .Order(StringComparer.Ordinal)!;

    [TestCaseSource(nameof(Cases))]
    public void MatchesPillowByteForByte(string name)
    {
        Match m = CaseRegex().Match(name);
        Assert.That(m.Success, name);
        RgbImage source = ImageDecoder.Decode(MediaFixtures.PathOf("resize", m.Groups["src"].Value + ".png"));
        int w = int.Parse(m.Groups["w"].Value), h = int.Parse(m.Groups["h"].Value);
        ResizeFilter filter = m.Groups["f"].Value == "bilinear" ? ResizeFilter.Bilinear : ResizeFilter.Bicubic;

        RgbImage actual = PilResize.Resize(source, w, h, filter);

        MediaFixtures.AssertSameImage(MediaFixtures.ReadRgbNpy(MediaFixtures.PathOf("resize", name)), actual, name);
    }

    [Test]
    public void CoversBothFiltersUpAndDownAndSinglePasses()
    {
        string[] names = Cases().ToArray();
        Assert.That(names.Count(n => n.EndsWith("_bilinear.npy", StringComparison.Ordinal)),
            Is.GreaterThanOrEqualTo(4));
        Assert.That(names.Count(n => n.EndsWith("_bicubic.npy", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(4));
        Assert.That(names, Does.Contain("src_224_to_112x112_bilinear.npy"));
        Assert.That(names, Does.Contain("src_50x40_to_140x112_bicubic.npy"));
        Assert.That(names, Does.Contain("src_97x61_to_97x61_bicubic.npy"));
    }

    [GeneratedRegex(@"^(?<src>src_\w+?)_to_(?<w>\d+)x(?<h>\d+)_(?<f>bilinear|bicubic)\.npy$")]
    private static partial Regex CaseRegex();
}
