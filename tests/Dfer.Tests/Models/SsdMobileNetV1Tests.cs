using Dfer.Backends;
using Dfer.Media;
using Dfer.Models.FaceApi;
using Dfer.Tensors;
using Dfer.TorchSupport;
using Dfer.Weights;
using Dfer.Weights.TfJs;
using static TorchSharp.torch;

namespace Dfer.Tests.Models;

/// <summary>face-api's SSD MobileNet v1 on the engine against a TorchSharp float64 model written from the TF.js
/// code: every decoded box and score, and the boxes NMS keeps.</summary>
[TestFixture]
public class SsdMobileNetV1Tests
{
    private const string Model = "ssd_mobilenetv1_model";

    private static StateDict RealWeights()
    {
        string manifest = FaceApiPackage.TryManifest(Model)
            ?? throw new IgnoreException(
            $"face-api weights not fetched into {FaceApiPackage.Directory}: run ./scripts/fetch-face-api.sh (.ci/run "
            + "does)");
        return TfJsWeights.Load(manifest);
    }

    private static RgbImage Sample(string name)
    {
        string path = Path.Combine(FaceApiPackage.Directory, "demo", name);
        if (!File.Exists(path)) throw new IgnoreException($"face-api's demo image {path} is not in the cache");
        return ImageDecoder.Decode(path);
    }

    /// <summary>Runs the graph and the TorchSharp model on the same inputs [n, s, s, 3] and checks every box, every
    /// score and the kept set; returns the engine's kept boxes per image.</summary>
    private static List<float[]>[] Compare(string backendName, StateDict weights, float[] input, int n, int size,
        double threshold)
    {
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        using var exe = backend.Compile(SsdMobileNetV1.Build(weights, threshold, size));
        var outs = exe.Run(input, [n, size, size, 3]);

        using var torchNet = new TorchSsdMobileNetV1(weights);
        using var scope = NewDisposeScope();
        var x = tensor(input.Select(v => (double)v).ToArray(), new long[] { n, size, size, 3 }, ScalarType.Float64);
        var want = torchNet.Detect(x, threshold, int.MaxValue, SsdMobileNetV1.IouThreshold);

        int k = SsdMobileNetV1.BoxCount(size);
        float[] boxes = outs["boxes"], keep = outs["keep"];
        Assert.That(boxes, Has.Length.EqualTo(n * k * 5));
        Assert.That(keep, Has.Length.EqualTo(n * k));
        var kept = new List<float[]>[n];
        for (int b = 0; b < n; b++)
        {
            for (int j = 0; j < k; j++)
                for (int e = 0; e < 5; e++)
                    Assert.That(boxes[(b * k + j) * 5 + e], Is.EqualTo(want[b].Boxes[j][e]).Within(1e-4),
                        $"image {b} box {j} value {e}");
            var ours = Enumerable.Range(0, k).Where(j => keep[b * k + j] == 1f).ToArray();
            Assert.That(keep.Skip(b * k).Take(k).All(v => v == 0f || v == 1f), "keep holds 0 or 1");
            Assert.That(ours, Is.EquivalentTo(want[b].Selected), $"image {b}: the boxes NMS keeps");
            kept[b] = ours.Select(j => boxes.AsSpan((b * k + j) * 5, 5).ToArray()).ToList();
        }
        return kept;
    }

    /// <summary>
    /// face-api's demo photos (group photos, landscape, so the padded square holds the image in its top part) with
    /// the number of faces the float64 model finds in each at face-api's defaults. Beyond the equality with the
    /// model, every kept box must be face-sized and centred inside the image, not in the black padding.
    /// </summary>
    [TestCase("sample1.jpg", 3)]
    [TestCase("sample2.jpg", 3)]
    [TestCase("sample3.jpg", 3)]
    [TestCase("sample4.jpg", 4)]
    [TestCase("sample5.jpg", 5)]
    [TestCase("sample6.jpg", 4)]
    public void RealWeights_MatchTorchSharp_OnDemoPhoto(string sample, int faces)
    {
        var weights = RealWeights();
        var image = Sample(sample);
        const int s = SsdMobileNetV1.InputSize;
        var input = new float[s * s * 3];
        SsdMobileNetV1.Input(image, input);
        var kept = Compare("cpu", weights, input, 1, s, SsdMobileNetV1.DefaultScoreThreshold)[0];
        double width = (double)image.Width / Math.Max(image.Width, image.Height),
            height = (double)image.Height / Math.Max(image.Width, image.Height);
        foreach (var f in kept)
        {
            TestContext.Out.WriteLine($"{sample}: face ({f[0]:F3}, {f[1]:F3})-({f[2]:F3}, {f[3]:F3}) score {f[4]:F3}");
            Assert.That((f[0] + f[2]) / 2, Is.InRange(0, width), "face centre inside the image (x)");
            Assert.That((f[1] + f[3]) / 2, Is.InRange(0, height), "face centre inside the image (y)");
            Assert.That(f[2] - f[0], Is.InRange(0.02, 0.5), "face width");
            Assert.That(f[3] - f[1], Is.InRange(0.02, 0.5), "face height");
        }
        Assert.That(kept, Has.Count.EqualTo(faces), "faces found");
        if (sample == "sample3.jpg")
            Assert.That(kept.Any(f => Math.Abs((f[0] + f[2]) / 2 - width / 2) < 0.15 * width), "a face mid-image");
    }

    /// <summary>
    /// The real network on the other backends: ILGPU's CPU accelerator is too slow for 512 pixels (minutes), so the
    /// photo is prepared at 128 pixels, where the real convolution weights run as they are and only the anchors
    /// (whose count depends on the size) are generated.
    /// </summary>
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void RealWeights_MatchTorchSharp_At128(string backendName)
    {
        const int size = 128;
        var real = RealWeights();
        var anchors = SsdMobileNetV1.GenerateWeights(TestSeed.Use(128), size)["Output/extra_dim"];
        var weights = new StateDict("face-api weights with anchors for 128 pixels");
        foreach (string name in real.Names)
        {
            var t = name == "Output/extra_dim" ? anchors : real[name];
            weights.Add(name, t.DType, t.Shape, t.Data);
        }
        var image = Sample("sample3.jpg");
        var pixels = new float[size * size * 3];
        FaceApiImage.PaddedSquare(image, size, pixels);
        var input = pixels.Select(v => (float)(v / 127.5 - 1.0)).ToArray();
        Compare(backendName, weights, input, 1, size, 0.3);
    }

    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void GeneratedWeights_MatchTorchSharp(string backendName)
    {
        // A 64-pixel input (96 anchors) keeps the random network small; two images of uniform noise in [−1, 1).
        const int size = 64, n = 2;
        ulong seed = TestSeed.Use(5118);
        var weights = SsdMobileNetV1.GenerateWeights(seed, size);
        var input = new DeterministicRandom(seed + 1).Uniform(n * size * size * 3, -1f, 1f);
        var kept = Compare(backendName, weights, input, n, size, 0.5);
        Assert.That(kept.Sum(k => k.Count), Is.GreaterThan(0), "NMS keeps some boxes");
        Assert.That(kept.Sum(k => k.Count), Is.LessThan(n * SsdMobileNetV1.BoxCount(size)), "NMS drops some boxes");
    }
}
