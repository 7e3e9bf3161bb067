using Dfer.Devices.Cpu;
using Dfer.Ops.Attention;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Dmin;
using Dfer.Ops.Gate;
using Dfer.Ops.Linear;
using Dfer.Tensors;

namespace Dfer.Ops.AttentionPool;

/// <summary>
/// The fused head on the CPU as a chain of the engine's CPU kernels (linear for the qkv projection,
/// attention, DMIN, gate, conv1d, linear for fc) over one scratch buffer: the head is a few
/// microseconds of the clip's time, all in the 3072×1024 projection, which the linear kernel already
/// runs at memory speed.
/// </summary>
public sealed unsafe class AttentionPoolCpu : ICpuKernel, IDisposable
{
    private readonly AttentionPoolOp _op;
    private readonly LinearCpu _qkv, _fc;
    private readonly AttentionCpu _attention;
    private readonly DminCpu _norm;
    private readonly GateCpu _gate = new();
    private readonly Conv1dCpu _conv;
    private NativeBuffer? _scratch;

    public AttentionPoolCpu(AttentionPoolOp op)
    {
        _op = op;
        var parts = op.Parts();
        _qkv = new LinearCpu(parts.Qkv);
        _attention = new AttentionCpu(parts.Attention);
        _norm = new DminCpu(parts.Norm);
        _conv = new Conv1dCpu(parts.Conv);
        _fc = new LinearCpu(parts.Fc);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "attentionpool");
        int b = x.Shape[0], n = _op.Instances, d = _op.Dim, lout = _op.PooledLength;
        long rowsElems = (long)b * n * d;
        // qkv [B,N,3D] | y [B,N,D] | z [B,N,D] | g [B,N,D] | pooled [B,1,Lout]
        long need = 3 * rowsElems + 3 * rowsElems + (long)b * lout;
        if (_scratch is null || _scratch.Bytes < need * sizeof(float))
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer(need * sizeof(float));
        }
        long at = 0;
        Tensor View(params int[] shape)
        {
            var t = new Tensor(_scratch, at, shape, Tensor.ContiguousStrides(shape));
            at += Tensor.ElementCountOf(shape);
            return t;
        }
        var qkv = View(b, n, 3 * d);
        var y = View(b, n, d);
        var z = View(b, n, d);
        var g = View(b, n, d);
        var pooled = View(b, 1, lout);
        _qkv.Run(ctx, new[] { x }, qkv);
        _attention.Run(ctx, new[] { qkv }, y);
        _norm.Run(ctx, new[] { y }, z);
        _gate.Run(ctx, new[] { x, z }, g);
        _conv.Run(ctx, new[] { g }, pooled);
        _fc.Run(ctx, new[] { pooled.Reshape(b, lout) }, output);
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _fc.Dispose();
        _scratch?.Dispose();
    }
}
