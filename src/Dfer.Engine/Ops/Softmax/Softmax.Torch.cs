using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Softmax;

/// <summary>
/// softmax over the last axis.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class SoftmaxTorch : TorchOp<SoftmaxOp>
{
    protected override TTensor Run(SoftmaxOp op, TTensor[] x)
        => softmax(x[0], -1);
}
