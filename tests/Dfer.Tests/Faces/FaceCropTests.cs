using Dfer.Faces;
using Dfer.Media;

namespace Dfer.Tests.Faces;

/// <summary>The crop geometry on hand-computed cases (docs/faces.md, "The crop").</summary>
[TestFixture]
public class FaceCropTests
{
    [Test]
    public void Square_IsCentredOnTheBox_WithTheMargin()
    {
        // Box 40×60 centred at (120, 90); side round(60·1.25) = 75; corner round(120 − 37.5) = 83 (half away from
        // zero: 82.5 → 83), round(90 − 37.5) = 53.
        var s = FaceCrop.Square(new FaceBox(100, 60, 140, 120, 1), 0.25, 640, 480);
        Assert.That(s, Is.EqualTo(new CropSquare(83, 53, 75)));
    }

    [Test]
    public void Square_MovesInsideTheFrame_WhenItFits()
    {
        // Side 50 at the top-left corner: (−15, −15) is moved to (0, 0); at the bottom-right, to (W − 50, H − 50).
        Assert.That(FaceCrop.Square(new FaceBox(-5, -5, 35, 35, 1), 0.25, 200, 100),
            Is.EqualTo(new CropSquare(0, 0, 50)));
        Assert.That(FaceCrop.Square(new FaceBox(170, 70, 210, 110, 1), 0.25, 200, 100),
            Is.EqualTo(new CropSquare(150, 50, 50)));
    }

    [Test]
    public void Square_LargerThanTheFrame_IsCentredOnTheFrame_AndPadded()
    {
        // Side 150 in a 200×100 frame: x fits (centre 100 → 25); y does not: −(150 − 100)/2 = −25.
        var s = FaceCrop.Square(new FaceBox(60, 0, 140, 120, 1), 0.25, 200, 100);
        Assert.That(s, Is.EqualTo(new CropSquare(25, -25, 150)));
        var px = new byte[200 * 100 * 3];
        Array.Fill(px, (byte)200);
        var cut = FaceCrop.Cut(new RgbImage(200, 100, px), s);
        Assert.That((cut.Width, cut.Height), Is.EqualTo((150, 150)));
        Assert.That(cut.Pixels[(10 * 150 + 75) * 3], Is.EqualTo(0), "row 10 lies above the frame: black");
        Assert.That(cut.Pixels[(30 * 150 + 75) * 3], Is.EqualTo(200), "row 30 is frame row 5");
        Assert.That(cut.Pixels[(130 * 150 + 75) * 3], Is.EqualTo(0), "row 130 lies below the frame");
    }

    [Test]
    public void Cut_CopiesThePixelsOfTheSquare()
    {
        // A 4×3 frame whose pixel (x, y) has red 10x + y; the square (1, 1, 2) holds (1,1) (2,1) / (1,2) (2,2).
        var px = new byte[4 * 3 * 3];
        for (int y = 0; y < 3; y++) for (int x = 0; x < 4; x++) px[(y * 4 + x) * 3] = (byte)(10 * x + y);
        var cut = FaceCrop.Cut(new RgbImage(4, 3, px), new CropSquare(1, 1, 2));
        Assert.That(Enumerable.Range(0, 4).Select(i => cut.Pixels[i * 3]), Is.EqualTo(new byte[] { 11, 21, 12, 22 }));
    }

    [Test]
    public void Crop_IsResizedToTheCropSize_AndAFlatFrameStaysFlat()
    {
        var px = new byte[300 * 200 * 3];
        Array.Fill(px, (byte)77);
        var crop = FaceCrop.Crop(new RgbImage(300, 200, px), new FaceBox(100, 50, 180, 150, 1));
        Assert.That((crop.Width, crop.Height), Is.EqualTo((224, 224)));
        Assert.That(crop.Pixels.All(v => v == 77), "bicubic of a constant is the constant");
    }

    [Test]
    public void BadMargin_IsAOneLineError()
    {
        Assert.That(() => FaceCrop.Square(new FaceBox(0, 0, 1, 1, 1), double.NaN, 10, 10),
            Throws.TypeOf<DferException>().With.Message.Contains("margin"));
        Assert.That(() => FaceCrop.Square(new FaceBox(0, 0, 1, 1, 1), -0.1, 10, 10),
            Throws.TypeOf<DferException>());
    }

    [Test]
    public void Appearance_IsUnitNorm_AndFlatBoxesAreZero()
    {
        var rng = TestSeed.Random(23);
        var px = new byte[64 * 64 * 3];
        rng.NextBytes(px);
        var a = FaceCrop.Appearance(new RgbImage(64, 64, px), new FaceBox(3, 5, 50, 60, 1));
        Assert.That(Math.Sqrt(a.Sum(v => (double)v * v)), Is.EqualTo(1).Within(1e-5));
        Assert.That(FaceCrop.Appearance(new RgbImage(8, 8, new byte[8 * 8 * 3]), new FaceBox(0, 0, 8, 8, 1)),
            Is.All.EqualTo(0f));
    }
}
