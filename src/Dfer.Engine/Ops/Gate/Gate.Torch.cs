using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Gate;

/// <summary>
/// the sigmoid gate.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class GateTorch : TorchOp<GateOp>
{
    protected override TTensor Run(GateOp op, TTensor[] x)
        => x[0] * sigmoid(x[1]);
}
