using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Permute;

/// <summary>
/// permute as PyTorch's reshape, permute and flatten.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class PermuteTorch : TorchOp<PermuteOp>
{
    protected override TTensor Run(PermuteOp op, TTensor[] x)
        => x[0].reshape(op.ResolvedView(x[0].shape.Select(d => (int)d).ToArray()).Select(d => (long)d).ToArray())
            .permute(op.Axes.Select(a => (long)a).ToArray()).flatten();
}
