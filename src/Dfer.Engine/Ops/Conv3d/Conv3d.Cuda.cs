using System.Runtime.InteropServices;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// The kernel argument of every conv3d variant in native/kernels/conv3d.cu, passed by value
/// (field order and types mirror <c>struct Conv3dParams</c> there: five pointers, one 64-bit row
/// count, twenty ints, then the pool's pointer, rows per pooled segment and scale, then split-K's partial
/// pointer, split count and K chunk; 160 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Conv3dCudaParams
{
    public IntPtr X, Wgt, Bias, Res, Y;
    public long M;
    public int N, T, H, W, C, To, Ho, Wo, Co, Kt, Kh, Kw, St, Sh, Sw, Pt, Ph, Pw;
    public int K;
    public int Relu;
    public IntPtr Pool;
    public int PoolRows;
    public float PoolScale;
    public IntPtr Partial;
    public int KSplits;
    public int KChunk;
}

/// <summary>
/// One kernel of native/kernels/conv3d.cu as the host sees it.
/// </summary>
/// <param name="Kernel">Its extern "C" name, <c>conv3d_&lt;class&gt;_v&lt;N&gt;</c>.</param>
/// <param name="Class">What it computes in: fp32 (exact SIMT), tf32, 3xtf32 (fp32-accurate on TF32 tensor cores), bf16
/// or fp16.</param>
/// <param name="Needs32Channels">Whether it needs Cin % 32 == 0 (its K tiles never straddle a kernel tap, so they load
/// with 16-byte cp.async).</param>
/// <param name="FloatInput">Whether it reads fp32 activations even though it computes in 16 bits (the stem: frames
/// arrive as fp32).</param>
public sealed record Conv3dCudaVariant(string Kernel, string Class, bool Needs32Channels, bool FloatInput)
{
    /// <summary>Whether weights, residual and output are 16-bit (bf16 or fp16).</summary>
    public bool Is16Bit => Class is "bf16" or "fp16";

    public bool IsBf16 => Class == "bf16";

    /// <summary>Whether the activations it reads are 16-bit.</summary>
    public bool Reads16Bit => Is16Bit && !FloatInput;

    /// <summary>Whether it can run a convolution with <paramref name="cin"/> input channels.</summary>
    public bool Fits(int cin) => !Needs32Channels || cin % 32 == 0;

    /// <summary>The precision mode this variant serves.</summary>
    public Precision Precision => Class switch
    {
        "fp32" or "3xtf32" => Precision.Fp32,
        "tf32" => Precision.Tf32,
        "bf16" => Precision.Bf16,
        _ => Precision.Fp16,
    };

    public override string ToString() => Kernel;
}

/// <summary>Which of a conv3d's tensors the graph stores in 16 bits (the rest are fp32).</summary>
/// <param name="Input16">The activations it reads.</param>
/// <param name="Residual16">The residual it adds.</param>
/// <param name="Output16">What it writes.</param>
public readonly record struct Conv3dStorage(bool Input16, bool Residual16, bool Output16);

/// <summary>
/// conv3d on the native CUDA backend: the variants of native/kernels/conv3d.cu (see its header),
/// chosen per layer shape and precision by <see cref="Choose"/>, the one table. Weights are packed
/// once as [Cout][kT][kH][kW][Cin] (each output channel's K row contiguous, what the tensor-core
/// B operand wants) in the variant's operand type. Tensors the graph stores in fp32 (see
/// <see cref="Conv3dStorage"/>) are cast at a 16-bit variant's edges with the kernels of cast.cu,
/// through the step's workspace. A pooled instance writes AdaptiveAvgPool3d(1) of its output
/// ([N, Cout], fp32) instead of the output: the pool is the kernel's epilogue.
/// <see cref="RunRaw"/> runs on buffers already in the variant's types.
/// </summary>
public sealed class Conv3dCuda : ICudaStep
{
    /// <summary>Every variant of conv3d.cu, in its file's order.</summary>
    public static IReadOnlyList<Conv3dCudaVariant> Variants { get; } =
    [
        new("conv3d_f32_v1", "fp32", false, false),
        new("conv3d_tf32_v2", "tf32", false, false),
        new("conv3d_3xtf32_v3", "3xtf32", false, false),
        new("conv3d_bf16_v4", "bf16", true, false),
        new("conv3d_f16_v4", "fp16", true, false),
        new("conv3d_bf16_v5", "bf16", true, false),
        new("conv3d_f16_v5", "fp16", true, false),
        new("conv3d_bf16_v6", "bf16", false, false),
        new("conv3d_f16_v6", "fp16", false, false),
        new("conv3d_bf16_v7", "bf16", false, true),
        new("conv3d_f16_v7", "fp16", false, true),
    ];

    public static Conv3dCudaVariant Find(string kernel) =>
        Variants.FirstOrDefault(v => v.Kernel == kernel)
        ?? throw new DferException($"no conv3d variant '{kernel}'; known: {string.Join(", ", Variants)}");

    /// <summary>
    /// The variant table. NOT YET BACKED BY GPU NUMBERS (no GPU was available when it was
    /// written): the choices follow the kernels' design and must be revisited with
    /// perf/gpu/workbench.sh. fp32 → the exact SIMT kernel (v1; 3xTF32 v3 is the candidate to
    /// replace it once measured); tf32 → v2; 16-bit with Cin % 32 == 0 → the cp.async pipeline,
    /// 128×128 tiles (v4) unless Cout ≤ 64 (v5, 128×64); other 16-bit shapes → v7 when the
    /// activations arrive in fp32 (the stem reads the frames directly) else v6.
    /// </summary>
    public static Conv3dCudaVariant Choose(Precision precision, int cin, int cout, bool fp32Activations)
    {
        if (precision == Precision.Fp32) return Find("conv3d_f32_v1");
        if (precision == Precision.Tf32) return Find("conv3d_tf32_v2");
        string type = precision == Precision.Bf16 ? "bf16" : "f16";
        string version = cin % 32 == 0 ? (cout <= 64 ? "v5" : "v4") : fp32Activations ? "v7" : "v6";
        return Find($"conv3d_{type}_{version}");
    }

    private readonly CudaDevice _cuda;
    private readonly Conv3dOp _op;
    private readonly CudaKernel _kernel, _finish;
    private readonly MemoryBuffer _weights;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _bias;
    private readonly Conv3dStorage _storage;
    private readonly bool _pooled;

    /// <summary>
    /// Packs <paramref name="op"/>'s weights for <paramref name="variant"/> (or the table's choice for
    /// <paramref name="precision"/>). <paramref name="storage"/> says which of its tensors the graph
    /// already keeps in the variant's 16-bit type (so they are used as they are, not cast); by
    /// default every view holds fp32. With <paramref name="pooled"/> the step's output is the
    /// global average pool of the convolution ([N, Cout], fp32), computed in the epilogue.
    /// </summary>
    public Conv3dCuda(CudaDevice cuda, Conv3dOp op, Precision precision, Conv3dCudaVariant? variant = null,
        Conv3dStorage storage = default,
        bool pooled = false)
    {
        _cuda = cuda;
        _op = op;
        _pooled = pooled;
        if (pooled && storage.Output16)
            throw new ArgumentException("a pooled conv3d writes its fp32 pool, not a 16-bit output");
        Variant = variant ?? Choose(precision, op.Cin, op.Cout, fp32Activations: !storage.Input16);
        if (!Variant.Fits(op.Cin))
            throw new DferException($"{Variant.Kernel} needs a multiple of 32 input channels, conv3d has {op.Cin}");
        if ((storage.Input16 || storage.Residual16 || storage.Output16) && !Variant.Is16Bit)
            throw new ArgumentException(
                $"{Variant.Kernel} computes in {Variant.Class}: it cannot read or write 16-bit tensors");
        if (storage.Input16 && Variant.FloatInput)
            throw new ArgumentException($"{Variant.Kernel} reads fp32 activations, the input is stored in 16 bits");
        _storage = storage;
        _kernel = cuda.Kernel("conv3d", Variant.Kernel);
        _finish = cuda.Kernel("conv3d",
            Variant.Is16Bit ? (Variant.IsBf16 ? "conv3d_splitk_finish_bf16" : "conv3d_splitk_finish_f16")
            : "conv3d_splitk_finish_f32");
        float[] packed = PackWeights(op);
        var accelerator = cuda.Ilgpu.Accelerator;
        if (Variant.Is16Bit)
        {
            var w = accelerator.Allocate1D<ushort>(packed.Length);
            w.View.CopyFromCPU(HalfBits.Narrow(packed, Variant.IsBf16));
            _weights = w;
        }
        else
        {
            _weights = cuda.Ilgpu.Upload(packed);
        }
        _bias = cuda.Ilgpu.Upload(op.Bias);
    }

    /// <summary>The variant this instance runs.</summary>
    public Conv3dCudaVariant Variant { get; }

    /// <summary>[Cout, Cin, kT, kH, kW] → [Cout, kT, kH, kW, Cin]: GEMM column k = ((a·kH + b)·kW + c)·Cin +
    /// i.</summary>
    public static float[] PackWeights(Conv3dOp op)
    {
        var (kt, kh, kw) = op.Kernel;
        int cin = op.Cin, taps = kt * kh * kw;
        var packed = new float[op.Weight.Length];
        for (int o = 0; o < op.Cout; o++)
            for (int i = 0; i < cin; i++)
                for (int tap = 0; tap < taps; tap++)
                    packed[((long)o * taps + tap) * cin + i] = op.Weight[((long)o * cin + i) * taps + tap];
        return packed;
    }

    /// <summary>The launch's kernel argument for input shape <paramref name="x"/> and output shape <paramref name="y"/>
    /// (the convolution's, also when pooled).</summary>
    internal Conv3dCudaParams Params(int[] x, int[] y, IntPtr input, IntPtr residual, IntPtr output,
        IntPtr pool = default)
    {
        int poolRows = y[1] * y[2] * y[3];
        return new()
        {
            X = input,
            Wgt = _weights.NativePtr,
            Bias = _bias.NativePtr,
            Res = residual,
            Y = output,
            M = (long)y[0] * y[1] * y[2] * y[3],
            N = x[0],
            T = x[1],
            H = x[2],
            W = x[3],
            C = x[4],
            To = y[1],
            Ho = y[2],
            Wo = y[3],
            Co = y[4],
            Kt = _op.Kernel.T,
            Kh = _op.Kernel.H,
            Kw = _op.Kernel.W,
            St = _op.Stride.T,
            Sh = _op.Stride.H,
            Sw = _op.Stride.W,
            Pt = _op.Pad.T,
            Ph = _op.Pad.H,
            Pw = _op.Pad.W,
            K = _op.Kernel.T * _op.Kernel.H * _op.Kernel.W * x[4],
            Relu = _op.Relu ? 1 : 0,
            Pool = pool,
            PoolRows = pool == IntPtr.Zero ? 0 : poolRows,
            PoolScale = pool == IntPtr.Zero || poolRows == 0 ? 0f : 1f / poolRows,
        };
    }

    /// <summary>
    /// Queues the convolution on device addresses already in the variant's types (input fp32 for
    /// fp32/tf32/3xtf32 and v7, else 16-bit; residual and output in the variant's output type);
    /// <paramref name="residual"/> is <see cref="IntPtr.Zero"/> when the op has none. With a
    /// <paramref name="pool"/> address, <paramref name="output"/> is not written (it may be zero):
    /// the pool ([N, Cout] fp32) is zeroed and receives the mean over To·Ho·Wo of every output row.
    /// <paramref name="outputShape"/> is the convolution's output shape either way.
    /// </summary>
    public void RunRaw(IntPtr input, IntPtr residual, IntPtr output, int[] inputShape, int[] outputShape,
        IntPtr pool = default,
        IntPtr partial = default)
    {
        if (_op.Residual != (residual != IntPtr.Zero))
            throw new ArgumentException(
                _op.Residual ? "conv3d with a residual needs its residual input"
                : "conv3d without a residual was given one");
        Conv3dCudaParams p = Params(inputShape, outputShape, input, residual, output, pool);
        // Split K where the tiles alone would leave SMs idle (small batches); it needs the partial sums' scratch.
        var (splits, chunk) = partial == IntPtr.Zero ? (1, p.K) : SplitPlan(outputShape, inputShape[4]);
        if (splits > 1)
        {
            p.Partial = partial;
            p.KSplits = splits;
            p.KChunk = chunk;
        }
        if (pool != IntPtr.Zero) _cuda.ZeroAsync(pool, (long)p.N * p.Co);
        if (p.M == 0 || p.Co == 0) return;
        // The kernels index pixels and output rows with 32-bit ints (element offsets are 64-bit).
        if (p.M > int.MaxValue || (long)p.N * p.T * p.H * p.W > int.MaxValue)
            throw new DferException(
                $"conv3d input {Tensor.FormatShape(inputShape)} has more than 2^31 pixels or output rows; use a "
                + "smaller --batch");
        // v4/v5 read activations with 16-byte cp.async; a misaligned view would fault, so refuse it here.
        if (Variant.Needs32Channels && (input & 15) != 0)
            throw new DferException($"{Variant.Kernel} needs 16-byte aligned activations, got address 0x{input:x}");
        KernelLaunch launch = _kernel.Launch
            ?? throw new DferException($"{Variant.Kernel} has no launch line in conv3d.cu");
        long blocksM = (p.M + launch.TileM - 1) / launch.TileM;
        uint blocksN = (uint)((p.Co + launch.TileN - 1) / launch.TileN);
        _cuda.Launch(_kernel, ((uint)blocksM, blocksN, (uint)Math.Max(p.KSplits, 1)), (uint)launch.Block, launch.Smem,
            in p);
        if (p.KSplits > 1)
        {
            // The partial sums become the output (or the pool): bias, residual and ReLU applied once, after the sum.
            KernelLaunch fl = _finish.Launch
                ?? throw new DferException($"{_finish.Name} has no launch line in conv3d.cu");
            _cuda.Launch(_finish, (CudaDevice.GridStride(p.M * p.Co, fl.TileM), 1u, 1u), (uint)fl.Block, fl.Smem, in p);
        }
    }

    /// <summary>
    /// How many ways to split K, and the K range of each (a multiple of 64), for a convolution with output shape
    /// <paramref name="y"/> and <paramref name="cin"/> input channels on this device; (1, K) for no split.
    /// <see cref="SplitK"/> decides; the device's <see cref="CudaVariants.Conv3dSplitK"/> (DFER_CONV3D_SPLITK) asks for
    /// N ways (still bounded), 0 for none.
    /// </summary>
    private (int Splits, int Chunk) SplitPlan(int[] y, int cin)
    {
        KernelLaunch launch = _kernel.Launch
            ?? throw new DferException($"{Variant.Kernel} has no launch line in conv3d.cu");
        long m = (long)y[0] * y[1] * y[2] * y[3];
        int k = _op.Kernel.T * _op.Kernel.H * _op.Kernel.W * cin;
        return SplitK(m, y[4], k, launch.TileM, launch.TileN, _cuda.MultiprocessorCount, _cuda.Variants.Conv3dSplitK);
    }

    /// <summary>
    /// The split-K rule. A grid of tiles that covers fewer blocks than the GPU has SMs is split along K into up to 16
    /// ranges, enough for about two blocks per SM, each range at least 4 × 64 deep so the pipelines keep streaming;
    /// ranges are whole multiples of 64 and none is empty. <paramref name="requested"/> (CudaVariants.Conv3dSplitK)
    /// replaces the wanted count (0 or 1: no split) within the same bounds.
    /// </summary>
    public static (int Splits, int Chunk) SplitK(long m, int co, int k, int tileM, int tileN, int sms,
        int? requested = null)
    {
        const int Step = 64, MaxSplits = 16, MinChunksPerSplit = 4;
        long blocks = ((m + tileM - 1) / tileM) * ((co + tileN - 1) / tileN);
        if (blocks == 0) return (1, k);   // an empty output: nothing to split
        long want = requested ?? (blocks >= sms ? 1 : (2L * sms + blocks - 1) / blocks);
        int chunks = (k + Step - 1) / Step;
        long splits = Math.Min(Math.Min(want, MaxSplits), Math.Max(1, chunks / MinChunksPerSplit));
        if (splits <= 1) return (1, k);
        int chunk = (int)((chunks + splits - 1) / splits) * Step;
        return ((k + chunk - 1) / chunk, chunk);
    }

    /// <summary>Bytes of the partial sums split-K needs for output shape <paramref name="y"/> (0 when it does not
    /// split): the <c>partial</c> buffer of <see cref="RunRaw"/>.</summary>
    public long PartialBytes(int[] y, int cin)
    {
        var (splits, _) = SplitPlan(y, cin);
        return splits > 1 ? (long)splits * y[0] * y[1] * y[2] * y[3] * y[4] * 4 : 0;
    }

    public CudaDevice Cuda => _cuda;

    /// <summary>Where the cast copies of fp32-stored tensors and split-K's partial sums go in the workspace (-1: not
    /// needed), and its size.</summary>
    private (long X16, long Res16, long Y16, long Partial, long Bytes) Scratch(int[] inputShape, int[] convShape)
    {
        long at = 0;
        long Take(bool needed, long elements)
        {
            if (!needed) return -1;
            long offset = at;
            at += (2 * elements + 255) / 256 * 256;
            return offset;
        }
        long x = Take(Variant.Reads16Bit && !_storage.Input16, Tensor.ElementCountOf(inputShape));
        long r = Take(Variant.Is16Bit && _op.Residual && !_storage.Residual16, Tensor.ElementCountOf(convShape));
        long y = Take(Variant.Is16Bit && !_pooled && !_storage.Output16, Tensor.ElementCountOf(convShape));
        long partialBytes = PartialBytes(convShape, inputShape[4]);
        long partial = Take(partialBytes > 0, partialBytes / 2);   // Take counts 2-byte elements
        return (x, r, y, partial, at);
    }

    private int[] ConvShape(IReadOnlyList<int[]> inputShapes, int[] outputShape)
        => _pooled ? _op.OutputShape(inputShapes) : outputShape;

    public long WorkspaceBytes(IReadOnlyList<int[]> inputShapes, int[] outputShape) =>
        Scratch(inputShapes[0], ConvShape(inputShapes, outputShape)).Bytes;

    public void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace)
    {
        int[] conv = ConvShape(inputShapes, outputShape);
        IntPtr x = inputs[0];
        IntPtr res = _op.Residual ? inputs[1] : IntPtr.Zero;
        IntPtr pool = _pooled ? output : IntPtr.Zero;
        IntPtr y = _pooled ? IntPtr.Zero : output;
        var scratch = Scratch(inputShapes[0], conv);
        long xCount = Tensor.ElementCountOf(inputShapes[0]), yCount = Tensor.ElementCountOf(conv);
        if (scratch.X16 >= 0)
        {
            Cast(x, workspace + (nint)scratch.X16, xCount, toHalf: true);
            x = workspace + (nint)scratch.X16;
        }
        if (scratch.Res16 >= 0)
        {
            Cast(res, workspace + (nint)scratch.Res16, yCount, toHalf: true);
            res = workspace + (nint)scratch.Res16;
        }
        IntPtr partial = scratch.Partial >= 0 ? workspace + (nint)scratch.Partial : IntPtr.Zero;
        if (scratch.Y16 < 0)
        {
            RunRaw(x, res, y, inputShapes[0], conv, pool, partial);
            return;
        }
        RunRaw(x, res, workspace + (nint)scratch.Y16, inputShapes[0], conv, default, partial);
        Cast(workspace + (nint)scratch.Y16, y, yCount, toHalf: false);
    }

    /// <summary>fp32 → 16-bit (or back) on the device with cast.cu, in the variant's 16-bit type.</summary>
    private void Cast(IntPtr from, IntPtr to, long count, bool toHalf)
    {
        if (count == 0) return;
        string t = Variant.IsBf16 ? "bf16" : "f16";
        CudaKernel k = _cuda.Kernel("cast", toHalf ? $"cast_f32_{t}" : $"cast_{t}_f32");
        KernelLaunch launch = k.Launch ?? throw new DferException($"{k.Name} has no launch line in cast.cu");
        uint grid = CudaDevice.GridStride(count, launch.TileM);
        _cuda.Launch(k, (grid, 1u, 1u), (uint)launch.Block, launch.Smem, from, to, count);
    }

    public void Dispose()
    {
        _weights.Dispose();
        _bias.Dispose();
    }
}
