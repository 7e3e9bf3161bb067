using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.AddAct;

/// <summary>
/// the sum of the inputs, then the activation.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class AddActTorch : TorchOp<AddActOp>
{
    protected override TTensor Run(AddActOp a, TTensor[] x)
    {
        var sum = x[0];
        for (int i = 1; i < x.Length; i++) sum = sum + x[i];
        return TorchFunctions.Activate(a.Act, sum);
    }
}
