using System.Runtime.InteropServices;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Lstm;

/// <summary>The argument of <c>lstm_proj_f32</c> (mirrors <c>struct LstmProjParams</c> in native/kernels/lstm.cu; 48
/// bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LstmProjCudaParams
{
    public IntPtr X, W, Bias, G;
    public int M, N, K;
}

/// <summary>The argument of <c>lstm_rec_f32</c> (mirrors <c>struct LstmRecParams</c> in native/kernels/lstm.cu; 80
/// bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LstmRecCudaParams
{
    public IntPtr G, Whh, Y, C, Barrier;
    public int Batch, Len, Hidden, Dirs;
    public int Slice;
    public int StepBegin, StepEnd;
    public int WSmem;
}

/// <summary>
/// How <see cref="LstmCuda"/> runs the recurrence on this GPU: one persistent launch per layer (all
/// steps, grid barrier between them, W_hh rows in shared memory) or one launch per time step.
/// </summary>
/// <param name="Persistent">One launch per layer with every block co-resident; else one launch per step.</param>
/// <param name="Slice">Hidden units per block; the grid is directions × ⌈hidden / slice⌉ blocks.</param>
/// <param name="WeightsInSmem">Whether each block stages its 4·slice W_hh rows in shared memory.</param>
/// <param name="Blocks">Blocks per recurrence launch.</param>
/// <param name="SmemBytes">Dynamic shared memory per block.</param>
/// <param name="CoResidentBlocks">Blocks of this size the GPU holds at once (occupancy × SMs); 0 when not
/// queried.</param>
public sealed record LstmCudaPlan(bool Persistent, int Slice, bool WeightsInSmem, int Blocks, int SmemBytes,
    int CoResidentBlocks)
{
    public override string ToString() =>
        $"{(Persistent ? "persistent" : "per-step")}, slice {Slice}, {Blocks} "
        + $"blocks{(Persistent ? $" (of {CoResidentBlocks} co-resident)" : "")}, "
        + $"W_hh in {(WeightsInSmem ? "shared" : "global")} memory, {SmemBytes} B smem";
}

/// <summary>
/// LSTM on the native CUDA backend (native/kernels/lstm.cu, exact fp32). Weights are packed once per
/// layer with both directions stacked: W_ih [dirs·4H, In], W_hh [dirs·4H, H], bias b_ih + b_hh
/// [dirs·4H]. Per layer: one <c>lstm_proj_f32</c> launch projects every time step of both directions
/// (G = X·W_ihᵀ + bias), then <c>lstm_rec_f32</c> runs the recurrence as <see cref="Plan"/> decides:
/// <list type="bullet">
/// <item>persistent (preferred): one launch for all L steps. Each block owns one direction's slice of
/// hidden units with its W_hh rows in shared memory; steps are separated by a grid-wide barrier (an
/// atomic arrival counter per layer, zeroed before the forward pass), which is only safe when every
/// block is resident at once, so the grid is sized from the SM count and the occupancy query: the
/// smallest slice whose grid fits one block per SM.</item>
/// <item>per step (fallback, when no co-resident grid can hold W_hh in shared memory): L launches of the
/// same kernel, one step each, W_hh read from global memory (L2); kernel boundaries order the steps.</item>
/// </list>
/// The device's <see cref="CudaVariants.LstmMode"/> (<c>DFER_LSTM_MODE=step</c> or <c>=persistent</c>) forces a mode
/// (tests, benchmarks). Co-residency assumes the GPU is not shared with concurrently running kernels (the legacy NULL
/// stream this backend uses serialises the context's work; MPS with an SM limit would break the assumption).
/// </summary>
public sealed class LstmCuda : ICudaStep
{
    private readonly CudaDevice _cuda;
    private readonly LstmOp _op;
    private readonly CudaKernel _proj, _rec;
    private readonly KernelLaunch _projLaunch, _recLaunch;
    private readonly (MemoryBuffer1D<float, Stride1D.Dense> Wih, MemoryBuffer1D<float, Stride1D.Dense> Whh,
        MemoryBuffer1D<float, Stride1D.Dense> Bias)[] _layers;

    public LstmCuda(CudaDevice cuda, LstmOp op)
    {
        _cuda = cuda;
        _op = op;
        _proj = cuda.Kernel("lstm", "lstm_proj_f32");
        _rec = cuda.Kernel("lstm", "lstm_rec_f32");
        _projLaunch = _proj.Launch ?? throw new DferException("lstm_proj_f32 has no launch line in lstm.cu");
        _recLaunch = _rec.Launch ?? throw new DferException("lstm_rec_f32 has no launch line in lstm.cu");
        int h4 = 4 * op.Hidden, dirs = op.Directions;
        _layers = op.Layers.Select((layer, l) =>
        {
            int inSize = l == 0 ? op.InputSize : op.Hidden * dirs;
            var wih = new float[(long)dirs * h4 * inSize];
            var whh = new float[(long)dirs * h4 * op.Hidden];
            var bias = new float[dirs * h4];
            for (int d = 0; d < dirs; d++)
            {
                LstmCell cell = layer[d];
                cell.Wih.CopyTo(wih, (long)d * h4 * inSize);
                cell.Whh.CopyTo(whh, (long)d * h4 * op.Hidden);
                for (int g = 0; g < h4; g++) bias[d * h4 + g] = cell.Bih[g] + cell.Bhh[g];
            }
            return (cuda.Ilgpu.Upload(wih), cuda.Ilgpu.Upload(whh), cuda.Ilgpu.Upload(bias));
        }).ToArray();
        Plan = MakePlan(cuda.Variants.LstmMode);
    }

    /// <summary>The recurrence's launch mode and grid on this GPU.</summary>
    public LstmCudaPlan Plan { get; }

    /// <summary>Batch rows per chunk of the recurrence (kNB in lstm.cu, its launch line's tile_m).</summary>
    private int Nb => _recLaunch.TileM;

    private LstmCudaPlan MakePlan(CudaLstmMode forced) =>
        Choose(_op.Hidden, _op.Directions, Nb, _cuda.MultiprocessorCount, MaxSmemPerBlock() - _rec.StaticSharedBytes,
        CoResidentBlocks, forced);

    /// <summary>
    /// The launch plan for hidden size <paramref name="hidden"/> and <paramref name="dirs"/> directions on a GPU with
    /// <paramref name="sms"/> SMs and <paramref name="maxSmem"/> bytes of dynamic shared memory per block;
    /// <paramref name="coResident"/> answers how many blocks with a given dynamic shared memory size the GPU holds at
    /// once. Persistent: the smallest slice whose grid fits one block per SM (most blocks share the W_hh reads, and one
    /// block per SM keeps the barrier short), if its W_hh rows fit in shared memory and the grid is co-resident; shared
    /// memory only grows with the slice, so when that slice does not fit none does. Otherwise one launch per step with
    /// about two blocks per SM and W_hh streamed from L2. <paramref name="forced"/>: the device's pin (DFER_LSTM_MODE).
    /// </summary>
    internal static LstmCudaPlan Choose(int hidden, int dirs, int nb, int sms, int maxSmem, Func<int, int> coResident,
        CudaLstmMode forced)
    {
        if (forced != CudaLstmMode.Step)
        {
            int slice = Math.Max(1, (int)Math.Min(hidden, ((long)dirs * hidden + sms - 1) / sms));
            while (slice < hidden && (long)dirs * ((hidden + slice - 1) / slice) > sms) slice++;
            int blocks = dirs * ((hidden + slice - 1) / slice);
            long smem = 4L * (4L * slice * hidden + (long)nb * hidden + 4L * slice * nb);
            if (smem <= maxSmem)
            {
                int fit = coResident((int)smem);
                if (blocks <= fit) return new LstmCudaPlan(true, slice, true, blocks, (int)smem, fit);
                if (forced == CudaLstmMode.Persistent)
                    throw new DferException(
                        $"lstm: persistent mode asked for (DFER_LSTM_MODE=persistent), but {blocks} blocks of {smem} B "
                        + $"exceed the {fit} co-resident");
            }
            else if (forced == CudaLstmMode.Persistent)
            {
                throw new DferException(
                    $"lstm: persistent mode asked for (DFER_LSTM_MODE=persistent), but W_hh rows of hidden {hidden} "
                    + $"need {smem} B of shared memory per block (GPU: {maxSmem} B)");
            }
        }
        int stepSlice = Math.Max(1, (int)Math.Min(hidden, ((long)dirs * hidden + 2L * sms - 1) / (2L * sms)));
        long stepSmem = 4L * ((long)nb * hidden + 4L * stepSlice * nb);
        if (stepSmem > maxSmem)
            throw new DferException(
                $"lstm: hidden size {hidden} needs {stepSmem} B of shared memory per block for h; the GPU "
                + $"has {maxSmem} B");
        return new LstmCudaPlan(false, stepSlice, false, dirs * ((hidden + stepSlice - 1) / stepSlice), (int)stepSmem,
            0);
    }

    private int MaxSmemPerBlock()
    {
        _cuda.EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuCtxGetDevice(out int device));
        CudaCheck.Check(
            CudaDriver.cuDeviceGetAttribute(out int bytes, CudaDriver.DeviceMaxSharedMemoryPerBlockOptin, device));
        return bytes;
    }

    /// <summary>Blocks of <c>lstm_rec_f32</c> with <paramref name="smem"/> bytes of dynamic shared memory that the GPU
    /// holds at once.</summary>
    private int CoResidentBlocks(int smem)
    {
        _cuda.EnsureCurrent();
        // The occupancy calculator counts only blocks the function may be launched with: raise its limit first.
        if (smem > _rec.DynamicSmemLimit)
        {
            CudaCheck.Check(
                CudaDriver.cuFuncSetAttribute(_rec.Function, CudaDriver.FuncMaxDynamicSharedSizeBytes, smem),
                $"cuFuncSetAttribute(lstm_rec_f32, MAX_DYNAMIC_SHARED_SIZE_BYTES, {smem})");
            _rec.DynamicSmemLimit = smem;
        }
        CudaCheck.Check(
            CudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(out int perSm, _rec.Function, _recLaunch.Block,
            (nuint)smem),
            $"cuOccupancyMaxActiveBlocksPerMultiprocessor(lstm_rec_f32, {_recLaunch.Block}, {smem})");
        return perSm * _cuda.MultiprocessorCount;
    }

    public CudaDevice Cuda => _cuda;

    /// <summary>The workspace: gate pre-activations G [rows, dirs·4H], cell state, the layer-to-layer buffer, one
    /// barrier word per layer (256-byte aligned parts).</summary>
    private (long Gates, long Cell, long Between, long Barrier, long Bytes) Scratch(int[] x)
    {
        int batch = x[0], len = x[1], hid = _op.Hidden, dirs = _op.Directions, layers = _layers.Length;
        long rows = (long)batch * len, n = (long)dirs * 4 * hid, at = 0;
        long Take(long floats)
        {
            long offset = at;
            at += (4 * Math.Max(floats, 1) + 255) / 256 * 256;
            return offset;
        }
        long gates = Take(rows * n), cell = Take((long)dirs * batch * hid);
        long between = layers > 1 ? Take(rows * dirs * hid) : -1;
        long barrier = Take(layers);
        return (gates, cell, between, barrier, at);
    }

    public long WorkspaceBytes(IReadOnlyList<int[]> inputShapes, int[] outputShape) =>
        inputShapes[0][0] == 0 || inputShapes[0][1] == 0 ? 0 : Scratch(inputShapes[0]).Bytes;

    public void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace)
    {
        int[] x = inputShapes[0];
        int batch = x[0], len = x[1], hid = _op.Hidden, dirs = _op.Directions, layers = _layers.Length;
        if (batch == 0 || len == 0) return;
        long rows = (long)batch * len, n = (long)dirs * 4 * hid;
        // The kernels index rows and columns of G with 32-bit ints (element offsets are 64-bit); G's column tiles are
        // grid.y.
        if (rows > int.MaxValue || (n + _projLaunch.TileN - 1) / _projLaunch.TileN > 65535)
            throw new DferException(
                $"lstm input {Tensor.FormatShape(x)} with hidden {hid} is too large for lstm.cu; use a smaller "
                + "--batch");
        var scratch = Scratch(x);
        IntPtr gates = workspace + (nint)scratch.Gates, cell = workspace + (nint)scratch.Cell,
            barrier = workspace + (nint)scratch.Barrier;
        IntPtr between = scratch.Between >= 0 ? workspace + (nint)scratch.Between : IntPtr.Zero;
        if (Plan.Persistent) _cuda.ZeroAsync(barrier, layers);   // the grid barriers count arrivals from zero

        IntPtr input = inputs[0];
        int inSize = x[2];
        for (int l = 0; l < layers; l++)
        {
            // Layers alternate between the scratch buffer and the output so the last one lands in the output
            // and no layer writes the buffer its projection reads.
            bool toOutput = (layers - 1 - l) % 2 == 0;
            IntPtr y = toOutput ? output : between;
            var (wih, whh, bias) = _layers[l];
            var pp = new LstmProjCudaParams
            {
                X = input,
                W = wih.NativePtr,
                Bias = bias.NativePtr,
                G = gates,
                M = (int)rows,
                N = (int)n,
                K = inSize,
            };
            uint gridM = (uint)((rows + _projLaunch.TileM - 1) / _projLaunch.TileM),
                gridN = (uint)((n + _projLaunch.TileN - 1) / _projLaunch.TileN);
            _cuda.Launch(_proj, (gridM, gridN, 1u), (uint)_projLaunch.Block, _projLaunch.Smem, in pp);

            var rp = new LstmRecCudaParams
            {
                G = gates,
                Whh = whh.NativePtr,
                Y = y,
                C = cell,
                Barrier = barrier + 4 * l,
                Batch = batch,
                Len = len,
                Hidden = hid,
                Dirs = dirs,
                Slice = Plan.Slice,
                StepBegin = 0,
                StepEnd = len,
                WSmem = Plan.WeightsInSmem ? 1 : 0,
            };
            if (Plan.Persistent)
            {
                _cuda.Launch(_rec, ((uint)Plan.Blocks, 1u, 1u), (uint)_recLaunch.Block, Plan.SmemBytes, in rp);
            }
            else
            {
                for (int s = 0; s < len; s++)
                {
                    rp.StepBegin = s;
                    rp.StepEnd = s + 1;
                    _cuda.Launch(_rec, ((uint)Plan.Blocks, 1u, 1u), (uint)_recLaunch.Block, Plan.SmemBytes, in rp);
                }
            }
            input = y;
            inSize = dirs * hid;
        }
    }

    public void Dispose()
    {
        foreach (var (wih, whh, bias) in _layers)
        {
            wih.Dispose();
            whh.Dispose();
            bias.Dispose();
        }
    }
}
