using Dfer.Tensors;

namespace Dfer.Devices.Cpu;

/// <summary>A CPU kernel bound to one op instance (weights already packed for it).</summary>
public interface ICpuKernel
{
    /// <summary>Computes <paramref name="output"/> from <paramref name="inputs"/>; writes the output's elements only,
    /// never its halo.</summary>
    void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output);

    /// <summary>Zero border the kernel wants around input <paramref name="input"/> (null: none). It still works
    /// without, at the cost of a copy.</summary>
    int[]? InputHalo(int input) => null;
}

/// <summary>
/// A CPU kernel that does not execute its op's nominal arithmetic (<c>Op.Flops</c>, the op's definition): Winograd's
/// fewer products plus its transforms, temporal taps skipped where they read only the zero halo, tiles padded to whole
/// rows and columns. A kernel without this capability executes the nominal count (the CPU backend's
/// <c>ExecutedFlops</c> falls back to it).
/// </summary>
public interface IExecutedFlops
{
    /// <summary>The FLOPs (2 per multiply-add, 1 per add) <see cref="ICpuKernel.Run"/> executes on
    /// <paramref name="ctx"/> (its variant pins decide which path runs) for inputs of
    /// <paramref name="inputShapes"/>.</summary>
    long ExecutedFlops(CpuContext ctx, IReadOnlyList<int[]> inputShapes);
}
