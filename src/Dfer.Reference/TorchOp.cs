using Dfer.Ops;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Reference;

/// <summary>
/// What PyTorch computes for one op kind, in PyTorch's own layouts, converted back to Dfer's. Each op
/// declares it in its folder as <c>&lt;Op&gt;.Torch.cs</c> (docs/architecture.md, "The op contract"); this
/// assembly compiles those files (the engine excludes them, so it does not carry libtorch) and
/// <see cref="TorchOracle"/> finds them by reflection.
/// </summary>
public abstract class TorchOp
{
    /// <summary>The <see cref="Op"/> subclass this computes.</summary>
    public abstract Type OpType { get; }

    /// <summary>The op on float64 tensors of Dfer's layouts; returns Dfer's layout.</summary>
    public abstract TTensor Compute(Op op, TTensor[] inputs);
}

/// <summary><see cref="TorchOp"/> for one op class.</summary>
public abstract class TorchOp<TOp> : TorchOp where TOp : Op
{
    public sealed override Type OpType => typeof(TOp);

    public sealed override TTensor Compute(Op op, TTensor[] inputs) => Run((TOp)op, inputs);

    /// <inheritdoc cref="TorchOp.Compute"/>
    protected abstract TTensor Run(TOp op, TTensor[] x);
}
