using Dfer.Backends.Reference;
using Dfer.Ops;

namespace Dfer.Runtime;

/// <summary>
/// What kernels are judged against: computes an op in float64 from the same inputs. The built-in
/// one is the Reference implementations; the optional Dfer.Reference assembly adds PyTorch's own
/// operators (<c>dfer validate --reference torch</c>).
/// </summary>
public interface IReferenceOracle
{
    /// <summary>What the oracle is, for reports.</summary>
    string Description { get; }

    /// <summary>The op's output, row-major, in Dfer's layouts.</summary>
    double[] Run(Op op, double[][] inputs, int[][] shapes);
}

/// <summary>The float64 Reference implementations (plain loops), themselves checked against PyTorch by the
/// tests.</summary>
public sealed class ReferenceOracle : IReferenceOracle
{
    public static readonly ReferenceOracle Instance = new();

    public string Description => "float64 Reference implementations";

    public double[] Run(Op op, double[][] inputs, int[][] shapes) => ReferenceBackend.RunOp(op, inputs, shapes);
}
