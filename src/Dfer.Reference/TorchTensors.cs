using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Reference;

/// <summary>Float64 tensors from Dfer's arrays, for the <see cref="TorchOp"/>s.</summary>
public static class TorchTensors
{
    /// <summary>A float64 tensor of <paramref name="shape"/> from row-major doubles.</summary>
    public static TTensor T(double[] data, int[] shape) =>
        tensor(data, shape.Select(d => (long)d).ToArray(), ScalarType.Float64);

    /// <summary>A float64 tensor of <paramref name="shape"/> from fp32 weights.</summary>
    public static TTensor W(float[] data, params long[] shape) =>
        tensor(data.Select(v => (double)v).ToArray(), shape, ScalarType.Float64);
}
