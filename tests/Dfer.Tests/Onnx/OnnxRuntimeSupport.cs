using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Dfer.Tests.Onnx;

/// <summary>Runs an ONNX model in ONNX Runtime (CPU, two threads, every graph optimisation on).</summary>
internal static class OnnxRuntimeSupport
{
    public static InferenceSession Open(byte[] model) =>
        new(model, new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1 });

    public static InferenceSession Open(string path) =>
        new(path, new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1 });

    /// <summary>The named float32 outputs for the given float32 inputs.</summary>
    public static Dictionary<string, float[]> Run(InferenceSession session,
        params (string Name, float[] Data, int[] Shape)[] inputs)
    {
        var values = inputs
            .Select(i => NamedOnnxValue.CreateFromTensor(i.Name, new DenseTensor<float>(i.Data, i.Shape))).ToList();
        using var results = session.Run(values);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }

    /// <summary>max |a − b| / max(1, |b|): absolute below 1, relative above.</summary>
    public static double MaxScaledError(float[] a, float[] b)
    {
        Assert.That(a, Has.Length.EqualTo(b.Length));
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.That(float.IsFinite(a[i]), $"element {i} is {a[i]}");
            max = Math.Max(max, Math.Abs(a[i] - b[i]) / Math.Max(1.0, Math.Abs(b[i])));
        }
        return max;
    }
}
