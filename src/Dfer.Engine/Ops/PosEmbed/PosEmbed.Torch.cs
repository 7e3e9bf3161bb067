using Dfer.Reference;
using static Dfer.Reference.TorchTensors;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.PosEmbed;

/// <summary>
/// The positional add as PyTorch writes it: <c>x + table[:L].unsqueeze(0)</c>.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class PosEmbedTorch : TorchOp<PosEmbedOp>
{
    protected override TTensor Run(PosEmbedOp op, TTensor[] x)
        => x[0] + W(op.Table, op.Rows, op.Dim).narrow(0, 0, x[0].shape[1]).unsqueeze(0);
}
