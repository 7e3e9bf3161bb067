using Dfer.Backends;
using Dfer.Models.FaceApi;
using Dfer.Tensors;
using Dfer.TorchSupport;
using Dfer.Weights;
using Dfer.Weights.TfJs;
using static TorchSharp.torch;

namespace Dfer.Tests.Models;

/// <summary>face-api's expression net on the engine against a TorchSharp float64 model built from the same real
/// weights.</summary>
[TestFixture]
public class FaceApiModelTests
{
    private static StateDict Weights(string model)
    {
        string manifest = FaceApiPackage.TryManifest(model)
            ?? throw new IgnoreException(
            $"face-api weights not fetched into {FaceApiPackage.Directory}: run ./scripts/fetch-face-api.sh (.ci/run "
            + "does)");
        return TfJsWeights.Load(manifest);
    }

    /// <summary>Three 112×112 faces: smooth gradients with noise, so activations are neither all zero nor
    /// saturated.</summary>
    private static byte[] Faces(int n)
    {
        var rng = new DeterministicRandom(TestSeed.Use(11));
        var noise = rng.Uniform(n * 112 * 112 * 3, -40f, 40f);
        var px = new byte[n * 112 * 112 * 3];
        for (int b = 0; b < n; b++)
            for (int y = 0; y < 112; y++)
                for (int x = 0; x < 112; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        int i = ((b * 112 + y) * 112 + x) * 3 + c;
                        double v = 128 + 80 * Math.Sin((x + 17 * b) / (9.0 + c)) * Math.Cos(y / (13.0 - b)) + noise[i];
                        px[i] = (byte)Math.Clamp(Math.Round(v), 0, 255);
                    }
        return px;
    }

    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void ExpressionNet_MatchesTorchSharp(string backendName)
    {
        var weights = Weights(FaceApiPackage.ExpressionModel);
        const int n = 3;
        byte[] faces = Faces(n);
        int per = FaceExpressionNet.PaddedSize * FaceExpressionNet.PaddedSize * 3;
        var input = new float[n * per];
        for (int b = 0; b < n; b++)
            FaceExpressionNet.Prepare(
                faces.AsSpan(b * 112 * 112 * 3, 112 * 112 * 3).ToArray().Select(v => (float)v).ToArray(),
                input.AsSpan(b * per, per));

        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        using var exe = backend.Compile(FaceExpressionNet.Build(weights));
        var outputs = exe.Run(input, [n, FaceExpressionNet.PaddedSize, FaceExpressionNet.PaddedSize, 3]);

        using var torchNet = new TorchFaceExpressionNet(weights);
        using var scope = NewDisposeScope();
        var pixels = tensor(faces.Select(v => (double)v).ToArray(), new long[] { n, 112, 112, 3 }, ScalarType.Float64);
        var logits = torchNet.Logits(pixels);
        double[] wantLogits = logits.data<double>().ToArray();
        double[] wantProbs = softmax(logits, 1).data<double>().ToArray();

        float[] gotLogits = outputs["logits"], gotProbs = outputs["probabilities"];
        Assert.That(gotLogits, Has.Length.EqualTo(n * 7));
        for (int i = 0; i < n * 7; i++)
        {
            Assert.That(gotLogits[i], Is.EqualTo(wantLogits[i]).Within(1e-4), $"logit {i}");
            Assert.That(gotProbs[i], Is.EqualTo(wantProbs[i]).Within(1e-4), $"probability {i}");
        }
        // The faces differ, and so do the predictions: the check is not comparing constants.
        Assert.That(Enumerable.Range(0, 7).Max(j => Math.Abs(wantLogits[j] - wantLogits[7 + j])), Is.GreaterThan(1e-2));
    }

    [TestCase("cpu", 416)]
    [TestCase("ilgpu-cpu", 128)]
    public void TinyFaceDetector_MatchesTorchSharp(string backendName, int size)
    {
        var weights = Weights(FaceApiPackage.DetectorModel);
        // A smooth synthetic scene (not a face: the check is the arithmetic, every grid value and box).
        var rng = new DeterministicRandom(TestSeed.Use(17));
        var noise = rng.Uniform(size * size * 3, -30f, 30f);
        var pixels = new double[size * size * 3];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                for (int c = 0; c < 3; c++)
                {
                    int i = (y * size + x) * 3 + c;
                    pixels[i] = Math.Clamp(120 + 90 * Math.Sin(x / (11.0 + 3 * c)) * Math.Cos(y / 17.0) + noise[i], 0,
                        255);
                }
        var input = new float[pixels.Length];
        var mean = TinyFaceDetector.MeanRgb;
        for (int i = 0; i < input.Length; i++) input[i] = (float)((pixels[i] - mean[i % 3]) / 255.0);

        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        using var exe = backend.Compile(TinyFaceDetector.Build(weights, size, 0.05));
        var outs = exe.Run(input, [1, size, size, 3]);

        using var torchNet = new TorchTinyFaceDetector(weights);
        using var scope = NewDisposeScope();
        var grid = torchNet.Grid(tensor(pixels, new long[] { 1, size, size, 3 }, ScalarType.Float64));
        double[] wantGrid = grid.data<double>().ToArray();
        Assert.That(outs["grid"], Has.Length.EqualTo(wantGrid.Length));
        double scale = wantGrid.Max(Math.Abs);
        for (int i = 0; i < wantGrid.Length; i++)
            Assert.That(outs["grid"][i], Is.EqualTo(wantGrid[i]).Within(1e-4 * Math.Max(1, scale)), $"grid value {i}");
        var wantBoxes = TorchTinyFaceDetector.Boxes(grid);
        float[] boxes = outs["boxes"];
        for (int j = 0; j < wantBoxes.Length; j++)
            for (int e = 0; e < 5; e++)
                Assert.That(boxes[j * 5 + e], Is.EqualTo(wantBoxes[j][e]).Within(1e-4), $"box {j} value {e}");
        Assert.That(wantGrid.Max() - wantGrid.Min(), Is.GreaterThan(1), "the grid is not flat");
    }
}
