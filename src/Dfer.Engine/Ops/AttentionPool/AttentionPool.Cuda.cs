using System.Runtime.InteropServices;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.AttentionPool;

/// <summary>
/// The kernel argument of both kernels of native/kernels/attention_pool.cu, passed by value (field
/// order and types mirror <c>struct AttentionPoolParams</c> there: nine pointers, ten ints, eight
/// floats; 144 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct AttentionPoolCudaParams
{
    public IntPtr X, Wqkv, Qkv, NormW, NormB, ConvW, FcW, FcB, Y;
    public int B, N, D, Heads, HeadDim, Classes, K, Pad, Lout, Rows;
    public float Scale, Wm0, Wm1, Wv0, Wv1, Eps, ConvB, Unused;
}

/// <summary>
/// attentionpool on the native CUDA backend, exact fp32: attention_pool_qkv_f32_v1 projects every
/// instance (grid over row tiles × qkv column tiles, so the [3D, D] weight streams through every SM)
/// into a device workspace [B, N, 3D]; attention_pool_tail_f32_v1, one block per batch row, then runs
/// attention, DMIN, gate, pwconv and fc in place in that row's slice and writes the logits.
/// </summary>
public sealed class AttentionPoolCuda : ICudaStep
{
    /// <summary>The kernels' static shared memory holds heads·N·N attention probabilities at most.</summary>
    public const int MaxScores = 1024;

    private readonly CudaDevice _cuda;
    private readonly AttentionPoolOp _op;
    private readonly CudaKernel _qkvKernel, _tailKernel;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _wqkv, _normW, _normB, _convW, _fcW, _fcB;
    private readonly float _wm0, _wm1, _wv0, _wv1;

    public AttentionPoolCuda(CudaDevice cuda, AttentionPoolOp op)
    {
        if (Unsupported(op) is string why)
            throw new DferException($"attention_pool.cu cannot run this attentionpool: {why}");
        _cuda = cuda;
        _op = op;
        _qkvKernel = cuda.Kernel("attention_pool", "attention_pool_qkv_f32_v1");
        _tailKernel = cuda.Kernel("attention_pool", "attention_pool_tail_f32_v1");
        var ilgpu = cuda.Ilgpu;
        _wqkv = ilgpu.Upload(op.QkvWeight);
        _normW = ilgpu.Upload(op.NormWeight);
        _normB = ilgpu.Upload(op.NormBias);
        _convW = ilgpu.Upload(op.ConvWeight);
        _fcW = ilgpu.Upload(op.FcWeight);
        _fcB = ilgpu.Upload(op.FcBias);
        _wm0 = (float)AttentionPoolReference.Softmax2(op.MeanWeight, 0);
        _wm1 = (float)AttentionPoolReference.Softmax2(op.MeanWeight, 1);
        _wv0 = (float)AttentionPoolReference.Softmax2(op.VarWeight, 0);
        _wv1 = (float)AttentionPoolReference.Softmax2(op.VarWeight, 1);
    }

    /// <summary>Why the kernels cannot run <paramref name="op"/> (their limits, in attention_pool.cu's header), or
    /// null.</summary>
    public static string? Unsupported(AttentionPoolOp op)
    {
        if ((long)op.Heads * op.Instances * op.Instances > MaxScores)
            return $"heads·N·N = {(long)op.Heads * op.Instances * op.Instances} probabilities exceed {MaxScores}";
        if ((long)op.PooledLength > (long)op.Instances * op.Dim)
            return $"pwconv output length {op.PooledLength} exceeds N·D = {(long)op.Instances * op.Dim}";
        if ((3L * op.Dim + 15) / 16 > 65535) return $"3·D = {3L * op.Dim} qkv columns exceed the grid's y limit";
        return null;
    }

    public CudaDevice Cuda => _cuda;

    /// <summary>The qkv workspace: [B·N, 3·D] fp32.</summary>
    public long WorkspaceBytes(IReadOnlyList<int[]> inputShapes, int[] outputShape)
        => 4L * inputShapes[0][0] * _op.Instances * 3 * _op.Dim;

    public void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace)
    {
        int b = inputShapes[0][0];
        if (b == 0) return;
        long rows = (long)b * _op.Instances, need = rows * 3 * _op.Dim;
        if (rows > int.MaxValue || need > int.MaxValue)
            throw new DferException(
                $"attentionpool: batch {b} makes the qkv workspace exceed 2^31 elements; use a smaller --batch");
        var p = new AttentionPoolCudaParams
        {
            X = inputs[0],
            Wqkv = _wqkv.NativePtr,
            Qkv = workspace,
            NormW = _normW.NativePtr,
            NormB = _normB.NativePtr,
            ConvW = _convW.NativePtr,
            FcW = _fcW.NativePtr,
            FcB = _fcB.NativePtr,
            Y = output,
            B = b,
            N = _op.Instances,
            D = _op.Dim,
            Heads = _op.Heads,
            HeadDim = _op.HeadDim,
            Classes = _op.Classes,
            K = _op.ConvKernel,
            Pad = _op.ConvPad,
            Lout = _op.PooledLength,
            Rows = (int)rows,
            Scale = (float)_op.Scale,
            Wm0 = _wm0,
            Wm1 = _wm1,
            Wv0 = _wv0,
            Wv1 = _wv1,
            Eps = (float)_op.Eps,
            ConvB = _op.ConvBias,
        };
        KernelLaunch q = _qkvKernel.Launch
            ?? throw new DferException("attention_pool_qkv_f32_v1 has no launch line in attention_pool.cu");
        KernelLaunch t = _tailKernel.Launch
            ?? throw new DferException("attention_pool_tail_f32_v1 has no launch line in attention_pool.cu");
        uint gridX = (uint)((rows + q.TileM - 1) / q.TileM), gridY = (uint)((3L * _op.Dim + q.TileN - 1) / q.TileN);
        _cuda.Launch(_qkvKernel, (gridX, gridY, 1u), (uint)q.Block, q.Smem, in p);
        _cuda.Launch(_tailKernel, ((uint)b, 1u, 1u), (uint)t.Block, t.Smem, in p);
    }

    public void Dispose()
    {
        _wqkv.Dispose();
        _normW.Dispose();
        _normB.Dispose();
        _convW.Dispose();
        _fcW.Dispose();
        _fcB.Dispose();
    }
}
