using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.LayerNorm;

/// <summary>
/// layer norm as <c>F.layer_norm</c> over the last axis.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class LayerNormTorch : TorchOp<LayerNormOp>
{
    protected override TTensor Run(LayerNormOp op, TTensor[] x)
        => F.layer_norm(x[0], new long[] { op.Channels }, W(op.Weight, op.Channels), W(op.Bias, op.Channels), op.Eps);
}
