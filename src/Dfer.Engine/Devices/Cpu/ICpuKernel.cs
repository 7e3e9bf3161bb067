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
