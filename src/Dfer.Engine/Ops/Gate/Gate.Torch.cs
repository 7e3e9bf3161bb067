using Dfer.Reference;
using TorchSharp;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Gate;

/// <summary>
/// The gate as PyTorch writes it: <c>x * act(z)</c>, a broadcast z unsqueezed over x's middle axes.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class GateTorch : TorchOp<GateOp>
{
    protected override TTensor Run(GateOp op, TTensor[] x)
    {
        var z = x[1];
        if (!x[0].shape.SequenceEqual(z.shape))
            for (int a = 1; a < x[0].shape.Length - 1; a++) z = z.unsqueeze(1);
        return x[0] * TorchFunctions.Activate(op.Act, z);
    }
}
