using Dfer.Backends;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Models.FaceApi;
using Dfer.Pipelines;
using Dfer.Weights.TfJs;

namespace Dfer.Tests.Models;

/// <summary>The expression pipeline's own arithmetic on hand-computed cases, and its detector on the package's real
/// photos.</summary>
[TestFixture]
public class ExpressionPipelineTests
{
    [Test]
    public void WeightedMean_WeighsByConfidence_AndSkipsFramesWithoutAFace()
    {
        // c = 0.5 and 0.8: (0.5·p + 0.8·q) / 1.3.
        float[] p = [0.5f, 0.2f, 0.1f, 0.1f, 0.05f, 0.05f, 0f], q = [0.1f, 0.8f, 0.1f, 0f, 0f, 0f, 0f];
        float[] m = ExpressionPipeline.WeightedMean([p, null, q])!;
        for (int k = 0; k < 7; k++) Assert.That(m[k], Is.EqualTo((0.5 * p[k] + 0.8 * q[k]) / 1.3).Within(1e-6));
        Assert.That(ExpressionPipeline.WeightedMean([null, null]), Is.Null);
    }

    [Test]
    public void ResizeBilinear_IsTfLegacySampling()
    {
        // 2×1 source (R: 0, 100) to 4×1: source x = 0, 0.5, 1, 1.5 → 0, 50, 100, 100 (the right edge clamps).
        var dst = new float[4 * 3];
        FaceApiImage.ResizeBilinear((x, y, c) => c == 0 ? 100f * x : 0f, 2, 1, 4, 1, dst);
        Assert.That(Enumerable.Range(0, 4).Select(i => dst[i * 3]), Is.EqualTo(new[] { 0f, 50f, 100f, 100f }));
    }

    [TestCase(37, 23, 32)]
    [TestCase(23, 37, 416)]
    [TestCase(64, 64, 48)]
    public void PaddedSquare_IsResizeBilinearOfTheBlackPaddedFrame(int w, int h, int size)
    {
        // The fast byte path against the general resize over a sampling function (bit for bit).
        var rng = TestSeed.Random(31);
        var px = new byte[w * h * 3];
        rng.NextBytes(px);
        var fast = new float[size * size * 3];
        var general = new float[size * size * 3];
        FaceApiImage.PaddedSquare(new RgbImage(w, h, px), size, fast);
        int s = Math.Max(w, h);
        FaceApiImage.ResizeBilinear((x, y, c) => x < w && y < h ? px[(y * w + x) * 3 + c] : 0f, s, s, size, size,
            general);
        Assert.That(fast, Is.EqualTo(general));
    }

    [Test]
    public void FaceCrop_PadsToACentredSquare()
    {
        // A 4×2 white box in a black 6×4 frame: the crop is 4 wide, 2 high, so one black row goes above
        // and one below (round(2/2) = 1 appended, 1 prepended). Resized 4 → 112 the TF way, output row y
        // samples source row y·4/112: rows 0 and 84 are the padding, 28 and 56 the box.
        var px = new byte[6 * 4 * 3];
        for (int y = 1; y < 3; y++)
            for (int x = 1; x < 5; x++) for (int c = 0; c < 3; c++) px[(y * 6 + x) * 3 + c] = 255;
        var crop = new float[112 * 112 * 3];
        ExpressionPipeline.FaceCrop(new RgbImage(6, 4, px), new FaceBox(1, 1, 5, 3, 0.9), crop);
        float At(int x, int y) => crop[(y * 112 + x) * 3];
        Assert.That(At(50, 0), Is.EqualTo(0f), "padding above");
        Assert.That(At(50, 28), Is.EqualTo(255f), "the box");
        Assert.That(At(50, 56), Is.EqualTo(255f), "the box");
        Assert.That(At(50, 84), Is.EqualTo(0f), "padding below");
        Assert.That(At(50, 14), Is.EqualTo(127.5f), "halfway between padding and box");
    }

    [Test]
    public void Detector_FindsTheThreeFacesOfSample3()
    {
        string? dir = FaceApiPackage.TryManifest(FaceApiPackage.DetectorModel) is null ? null
            : FaceApiPackage.Directory;
        if (dir is null) Assert.Ignore("face-api weights not fetched: run ./scripts/fetch-face-api.sh");
        var image = ExpressionPipeline.ReadFrames(Path.Combine(dir!, "demo", "sample3.jpg"))[0];
        using IBackend backend = BackendRegistry.Create("cpu", 2);
        using var exe = backend.Compile(TinyFaceDetector.Build(FaceApiPackage.Load(FaceApiPackage.DetectorModel)));
        var x = new float[416 * 416 * 3];
        TinyFaceDetector.Input(image, 416, x);
        var outs = exe.Run(x, [1, 416, 416, 3]);
        float[] boxes = outs["boxes"], keep = outs["keep"];
        var found = Enumerable.Range(0, keep.Length).Where(j => keep[j] == 1f)
            .Select(j => (X: (boxes[j * 5] + boxes[j * 5 + 2]) / 2 * image.Width,
            Y: (boxes[j * 5 + 1] + boxes[j * 5 + 3]) / 2 * image.Width, S: boxes[j * 5 + 4]))
            .OrderBy(f => f.X).ToList();
        // Three women side by side, faces in the upper third of the photo, left to right.
        Assert.That(found, Has.Count.EqualTo(3), string.Join("; ", found));
        Assert.That(found.All(f => f.Y < image.Height * 0.45 && f.S > 0.5), string.Join("; ", found));
        Assert.That(found[0].X, Is.LessThan(image.Width * 0.4));
        Assert.That(found[2].X, Is.GreaterThan(image.Width * 0.75));
    }

    /// <summary>Weights that make NaN must fail the input, not give a label (ArgMax would skip NaN).</summary>
    [Test]
    public void NonFiniteExpressionScores_FailTheInput()
    {
        string? dir = FaceApiPackage.TryManifest(FaceApiPackage.ExpressionModel) is null ? null
            : FaceApiPackage.Directory;
        if (dir is null) Assert.Ignore("face-api weights not fetched: run ./scripts/fetch-face-api.sh");
        var image = ExpressionPipeline.ReadFrames(Path.Combine(dir!, "demo", "sample3.jpg"))[0];
        var expression = FaceApiPackage.Load(FaceApiPackage.ExpressionModel);
        // Finite (NaN itself is refused at load), but every product overflows.
        foreach (string name in expression.Names) Array.Fill(expression[name].Data, 3e38f);
        using IBackend backend = BackendRegistry.Create("cpu", 2);
        using var pipeline =
            new ExpressionPipeline(backend, FaceApiPackage.Load(FaceApiPackage.DetectorModel), expression,
                new ExpressionOptions
                {
                    Face = new FaceStageOptions { Detector = new FaceDetectorOptions { Kind = FaceDetectorKind.Tiny } },
                });
        var ex = Assert.Throws<DferException>(() => pipeline.Run("sample3.jpg", [image]))!;
        Assert.That(ex.Message,
            Does.Match(@"^sample3\.jpg: the expression net produced non-finite probabilities \((NaN|Inf)\) for frame "
                + @"0; check the face-api weights$"));
    }

    [Test]
    public void ReadFrames_ShrinksLargeFramesToTheAnalysisSide()
    {
        if (FaceApiPackage.TryManifest(FaceApiPackage.DetectorModel) is null)
            Assert.Ignore("face-api package not fetched: run ./scripts/fetch-face-api.sh");
        string photo = Path.Combine(FaceApiPackage.Directory, "demo", "sample3.jpg");
        var full = ExpressionPipeline.ReadFrames(photo)[0];
        var small = ExpressionPipeline.ReadFrames(photo, 640)[0];
        Assert.That((full.Width, full.Height), Is.EqualTo((1920, 1350)));
        Assert.That((small.Width, small.Height), Is.EqualTo((640, 450)));
        Assert.That(ExpressionPipeline.ReadFrames(photo, 4000)[0].Width, Is.EqualTo(1920), "never enlarged");
    }
}

[TestFixture]
public class FrameRateTests
{
    [TestCase("25/1", 25.0)]
    [TestCase("30000/1001", 29.97002997002997)]
    [TestCase("12.5", 12.5)]
    [TestCase("0/0", null)]
    [TestCase("N/A", null)]
    [TestCase("", null)]
    public void Parse(string text, double? fps) => Assert.That(Dfer.Pipelines.FrameRate.Parse(text), Is.EqualTo(fps));
}
