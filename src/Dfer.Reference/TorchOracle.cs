using Dfer.Ops;
using Dfer.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Reference;

/// <summary>
/// PyTorch's own operators (libtorch 2.10 through TorchSharp, float64) as an oracle: each op computed
/// the way the original models compute it, in PyTorch's layouts, and converted back to Dfer's. The
/// tests check the Reference implementations against it; <c>dfer validate --reference torch</c> checks
/// kernels against it directly.
/// </summary>
public sealed class TorchOracle : IReferenceOracle
{
    public TorchOracle() => TorchRuntime.EnsureLoaded();

    public string Description => $"PyTorch operators (libtorch {__version__} via TorchSharp), float64";

    public double[] Run(Op op, double[][] inputs, int[][] shapes)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = inputs.Select((a, i) => TorchTensors.T(a, shapes[i])).ToArray();
        return Torch(op, x).contiguous().data<double>().ToArray();
    }

    /// <summary>Every op's <see cref="TorchOp"/> (the <c>&lt;Op&gt;.Torch.cs</c> files compiled into this assembly), by
    /// op class.</summary>
    internal static IReadOnlyDictionary<Type, TorchOp> Ops { get; } = typeof(TorchOracle).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && typeof(TorchOp).IsAssignableFrom(t))
        .Select(t => (TorchOp)Activator.CreateInstance(t, nonPublic: true)!)
        .ToDictionary(o => o.OpType);

    /// <summary>Whether an oracle is declared for <paramref name="kind"/>.</summary>
    public static bool Covers(OpKind kind) => Ops.ContainsKey(kind.OpType);

    /// <summary>What PyTorch computes for the op, in PyTorch's own layouts, converted back to ours.</summary>
    internal static TTensor Torch(Op op, TTensor[] x) => Ops.TryGetValue(op.GetType(), out TorchOp? t)
        ? t.Compute(op, x)
        : throw new NotSupportedException($"{op.Kind.Name} declares no PyTorch oracle (Ops/<Op>/<Op>.Torch.cs)");
}
