using Dfer.Devices.Ilgpu;
using Dfer.Ops.Attention;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Dmin;
using Dfer.Ops.Gate;
using Dfer.Ops.Linear;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.AttentionPool;

/// <summary>
/// The fused head on ILGPU as a chain of the engine's ILGPU kernels (linear, attention, DMIN, gate,
/// conv1d, linear) over one device scratch buffer; the native CUDA backend runs attention_pool.cu instead.
/// </summary>
public sealed class AttentionPoolIlgpu : IIlgpuKernel
{
    private readonly AttentionPoolOp _op;
    private readonly LinearIlgpu _qkv, _fc;
    private readonly AttentionIlgpu _attention;
    private readonly DminIlgpu _norm;
    private readonly GateIlgpu _gate = new();
    private readonly Conv1dIlgpu _conv;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scratch;

    public AttentionPoolIlgpu(IlgpuDevice device, AttentionPoolOp op)
    {
        _op = op;
        var parts = op.Parts();
        _qkv = new LinearIlgpu(device, parts.Qkv);
        _attention = new AttentionIlgpu(parts.Attention);
        _norm = new DminIlgpu(device, parts.Norm);
        _conv = new Conv1dIlgpu(device, parts.Conv);
        _fc = new LinearIlgpu(device, parts.Fc);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        int b = inputShapes[0][0], n = _op.Instances, d = _op.Dim, lout = _op.PooledLength;
        long rowsElems = (long)b * n * d;
        long need = 6 * rowsElems + (long)b * lout;
        if (_scratch is null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = device.Allocate(need);
        }
        long at = 0;
        ArrayView<float> View(long length)
        {
            ArrayView<float> v = (ArrayView<float>)_scratch!.View.SubView(at, length);
            at += length;
            return v;
        }
        int[] rows = { b, n, d }, qkvShape = { b, n, 3 * d }, pooledShape = { b, 1, lout };
        var qkv = View(3 * rowsElems);
        var y = View(rowsElems);
        var z = View(rowsElems);
        var g = View(rowsElems);
        var pooled = View((long)b * lout);
        var x = inputs[0];
        _qkv.Run(device, new[] { x }, new[] { rows }, qkv, qkvShape);
        _attention.Run(device, new[] { qkv }, new[] { qkvShape }, y, rows);
        _norm.Run(device, new[] { y }, new[] { rows }, z, rows);
        _gate.Run(device, new[] { x, z }, new[] { rows, rows }, g, rows);
        _conv.Run(device, new[] { g }, new[] { rows }, pooled, pooledShape);
        _fc.Run(device, new[] { pooled }, new[] { new[] { b, lout } }, output, outputShape);
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _fc.Dispose();
        _attention.Dispose();
        _norm.Dispose();
        _gate.Dispose();
        _conv.Dispose();
        _scratch?.Dispose();
    }
}
