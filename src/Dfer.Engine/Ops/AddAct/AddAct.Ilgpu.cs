using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.AddAct;

/// <summary>y = act(Σ inputs) on ILGPU, one thread per element; absent inputs are a dummy view the kernel does not
/// read.</summary>
public sealed class AddActIlgpu(AddActOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Add, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(Add));
        var v = new ArrayView<float>[AddActOp.MaxInputs];
        for (int j = 0; j < v.Length; j++) v[j] = j < inputs.Length ? inputs[j] : device.Unused;
        kernel(IlgpuLaunch.Count(output.Length), v[0], v[1], v[2], v[3], output, op.Inputs, (int)op.Act);
    }

    private static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> d,
        ArrayView<float> y, int count, int act)
    {
        float s = a[i];
        if (count > 1) s += b[i];
        if (count > 2) s += c[i];
        if (count > 3) s += d[i];
        y[i] = ActivationMath.ApplyOnDevice(act, s);
    }

    public void Dispose() { }
}
