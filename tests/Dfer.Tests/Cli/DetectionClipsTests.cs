using Dfer.Cli.Bench;
using Dfer.Faces;
using Dfer.Media;

namespace Dfer.Tests.Cli;

/// <summary>The detection benchmark's clips (docs/detection-benchmark.md): how the faces follow each transform, on
/// hand-computed cases, and the frames the sampler makes.</summary>
[TestFixture]
public class DetectionClipsTests
{
    private static void AssertBox(FaceBox actual, double x0, double y0, double x1, double y1)
    {
        Assert.That(actual.X0, Is.EqualTo(x0).Within(1e-9), "x0");
        Assert.That(actual.Y0, Is.EqualTo(y0).Within(1e-9), "y0");
        Assert.That(actual.X1, Is.EqualTo(x1).Within(1e-9), "x1");
        Assert.That(actual.Y1, Is.EqualTo(y1).Within(1e-9), "y1");
    }

    [Test]
    public void ScaleAndCentre_MapTheBoxCorners()
    {
        // Half size, photo point (100, 50) at the centre of a 200x100 frame.
        var view = new View(0.5, 0.5, 100, 50, 0, 200, 100);
        Assert.That(view.Map(100, 50), Is.EqualTo((100.0, 50.0)));
        Assert.That(view.Map(0, 0), Is.EqualTo((50.0, 25.0)));
        // (60 − 100)·0.5 + 100 = 80, (30 − 50)·0.5 + 50 = 40, ...
        AssertBox(view.MapBox(new FaceBox(60, 30, 140, 70, 0.9)), 80, 40, 120, 60);
        Assert.That(view.MapBox(new FaceBox(60, 30, 140, 70, 0.9)).Score, Is.EqualTo(0.9));
    }

    [Test]
    public void QuarterTurn_SwapsTheSides_AndTakesTheMeanOfBoxAndFace()
    {
        // 90°: (10, 0) → (cos·10 − sin·0, sin·10 + cos·0) + (50, 50) = (50, 60).
        var view = new View(1, 1, 0, 0, Math.PI / 2, 100, 100);
        var (x, y) = view.Map(10, 0);
        Assert.That(x, Is.EqualTo(50).Within(1e-9));
        Assert.That(y, Is.EqualTo(60).Within(1e-9));
        // A 20x10 box turns into a 10x20 one; each side is the mean of the turned box's and the face's: 15 and 15.
        AssertBox(view.MapBox(new FaceBox(-10, -5, 10, 5, 1)), 42.5, 42.5, 57.5, 57.5);
    }

    [Test]
    public void ThirtyDegrees_ShrinksTheCornersBoxHalfwayBack()
    {
        // A 100-pixel square turned 30° has a corners' box of 100·(cos 30° + sin 30°) = 136.6025; the truth's side is
        // (136.6025 + 100) / 2 = 118.3013, about the frame centre (200, 200).
        var view = new View(1, 1, 50, 50, Math.PI / 6, 400, 400);
        double half = (100 * (Math.Cos(Math.PI / 6) + Math.Sin(Math.PI / 6)) + 100) / 4;
        Assert.That(half, Is.EqualTo(59.150635).Within(1e-6));
        AssertBox(view.MapBox(new FaceBox(0, 0, 100, 100, 1)), 200 - half, 200 - half, 200 + half, 200 + half);
    }

    [Test]
    public void Truth_ClipsToTheFrame_IgnoresMostlyOutsideFaces_DropsOutsideOnes()
    {
        var identity = new View(1, 1, 50, 50, 0, 100, 100);
        var truth = DetectionClips.Truth([
            new FaceBox(10, 10, 30, 30, 1),   // inside
            new FaceBox(90, 10, 110, 30, 1),  // half inside (0.5 < 0.6): ignored
            new FaceBox(85, 40, 105, 60, 1),  // 0.75 inside: a face, clipped
            new FaceBox(120, 0, 140, 20, 1),  // outside
        ], identity);
        Assert.That(truth.Faces, Has.Count.EqualTo(2));
        AssertBox(truth.Faces[0], 10, 10, 30, 30);
        AssertBox(truth.Faces[1], 85, 40, 100, 60);
        Assert.That(truth.Ignored, Has.Count.EqualTo(1));
        AssertBox(truth.Ignored[0], 90, 10, 100, 30);
    }

    [Test]
    public void Sample_IdentityCopiesThePhoto_AShiftMovesItAndFillsGrey()
    {
        var pixels = new byte[4 * 3 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(7 * i + 1);
        var photo = new RgbImage(4, 3, pixels);
        var same = DetectionClips.Sample(photo, new View(1, 1, 2, 1.5, 0, 4, 3));
        Assert.That(same.Pixels, Is.EqualTo(pixels));
        // Centre one pixel right: frame x shows photo x + 1; the last column is past the photo's edge.
        var shifted = DetectionClips.Sample(photo, new View(1, 1, 3, 1.5, 0, 4, 3));
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                for (int c = 0; c < 3; c++)
                    Assert.That(shifted.Pixels[(y * 4 + x) * 3 + c],
                        Is.EqualTo(x < 3 ? pixels[(y * 4 + x + 1) * 3 + c] : DetectionClips.Background), $"{x},{y}");
    }

    [Test]
    public void DarkenAndBlur_OnHandComputedImages()
    {
        var image = new RgbImage(2, 1, [100, 200, 3, 0, 255, 10]);
        DetectionClips.Darken(image, 0.3);
        Assert.That(image.Pixels, Is.EqualTo(new byte[] { 30, 60, 1, 0, 76, 3 }), "255 · 0.3 = 76.5 rounds to even");
        var flat = new RgbImage(9, 7, Enumerable.Repeat((byte)90, 9 * 7 * 3).ToArray());
        Assert.That(DetectionClips.Blur(flat, 2).Pixels, Is.All.EqualTo(90), "a flat image stays flat");
        // One bright pixel in the middle of 9 spreads to its neighbours by the Gaussian's weights, its sum kept.
        var dot = new byte[9 * 9 * 3];
        dot[(4 * 9 + 4) * 3] = 200;
        var blurred = DetectionClips.Blur(new RgbImage(9, 9, dot), 0.8).Pixels;
        double w0 = 1, w1 = Math.Exp(-1 / (2 * 0.64)), w2 = Math.Exp(-4 / (2 * 0.64)), w3 = Math.Exp(-9 / (2 * 0.64));
        double k0 = w0 / (w0 + 2 * (w1 + w2 + w3));
        Assert.That(blurred[(4 * 9 + 4) * 3], Is.EqualTo((int)Math.Round(200 * k0 * k0)));
        Assert.That(blurred[(4 * 9 + 5) * 3], Is.EqualTo((int)Math.Round(200 * k0 * k0 * w1)));
    }

    [Test]
    public void GroundTruth_HasTheSixPhotosAndTheirFaces()
    {
        var photos = DetectionClips.LoadTruth();
        Assert.That(photos.Select(p => p.Photo), Is.EqualTo(Enumerable.Range(1, 6).Select(i => $"sample{i}.jpg")));
        Assert.That(photos.Select(p => p.Faces.Count), Is.EqualTo(new[] { 3, 3, 3, 4, 5, 4 }));
        foreach (var p in photos)
            foreach (var f in p.Faces)
            {
                Assert.That(f.X0, Is.GreaterThanOrEqualTo(0).And.LessThan(f.X1), p.Photo);
                Assert.That(f.Y1, Is.LessThanOrEqualTo(p.Height).And.GreaterThan(f.Y0), p.Photo);
            }
        Assert.That(DetectionClips.Clips(photos, 24), Has.Count.EqualTo(36));
    }

    [Test]
    public void Plans_StartOnTheWholePhoto_AndReachTheirEnds()
    {
        var photo = DetectionClips.LoadTruth()[4]; // sample5, five faces
        foreach (var kind in DetectionClips.Kinds)
        {
            var clip = new ClipSpec(photo, kind, 24);
            var first = DetectionClips.Plan(clip, 0);
            if (kind != ClipKind.Pan && kind != ClipKind.Rotate)
            {
                Assert.That(first.Zoom, Is.EqualTo(1).Within(1e-12), $"{kind}: whole photo first");
                Assert.That((first.Cx, first.Cy), Is.EqualTo((photo.Width / 2.0, photo.Height / 2.0)), $"{kind}");
            }
        }
        Assert.That(DetectionClips.Plan(new ClipSpec(photo, ClipKind.Dark, 24), 23).Brightness,
            Is.EqualTo(0.3).Within(1e-12));
        Assert.That(DetectionClips.Plan(new ClipSpec(photo, ClipKind.Blur, 24), 23).Sigma, Is.EqualTo(3).Within(1e-12));
        Assert.That(DetectionClips.Plan(new ClipSpec(photo, ClipKind.Rotate, 5), 1).Angle,
            Is.EqualTo(Math.PI / 18).Within(1e-12), "+10° a quarter in");
        // The small clip ends with the median face 32 pixels on a side in the frame.
        var last = DetectionClips.Plan(new ClipSpec(photo, ClipKind.Small, 24), 23);
        double scale = last.Zoom * DetectionClips.FrameWidth / photo.Width;
        var sides = photo.Faces.Select(f => scale * (f.Width + f.Height) / 2).Order().ToArray();
        Assert.That(sides[2], Is.EqualTo(DetectionClips.SmallFace).Within(1e-9));
    }

    [Test]
    public void Render_FollowsThePlan()
    {
        // A synthetic "photo" with the truth of sample1 (its size and faces), so no package is needed.
        var photo = DetectionClips.LoadTruth()[0];
        var pixels = new byte[photo.Width * photo.Height * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i % 251);
        var (frames, truth) = DetectionClips.Render(new ClipSpec(photo, ClipKind.Pan, 3),
            new RgbImage(photo.Width, photo.Height, pixels));
        Assert.That(frames, Has.Length.EqualTo(3));
        Assert.That(frames.Select(f => (f.Width, f.Height)), Is.All.EqualTo((640, 426)));
        // Pan at 1.6x: the first frame's left edge is the photo's left edge.
        var view = new View(1024.0 / 1920, 683.0 / 1280, 1920 / 3.2, Math.Clamp(
            (photo.Faces.Min(f => f.Y0) + photo.Faces.Max(f => f.Y1)) / 2, 1280 / 3.2, 1280 - 1280 / 3.2), 0, 640, 426);
        Assert.That(DetectionClips.Plan(new ClipSpec(photo, ClipKind.Pan, 3), 0).Cx, Is.EqualTo(600));
        var expected = DetectionClips.Truth(photo.Faces, view);
        Assert.That(truth[0].Faces, Has.Count.EqualTo(expected.Faces.Count));
        for (int i = 0; i < expected.Faces.Count; i++)
            AssertBox(truth[0].Faces[i], expected.Faces[i].X0, expected.Faces[i].Y0, expected.Faces[i].X1,
                expected.Faces[i].Y1);
    }
}
