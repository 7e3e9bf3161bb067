using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.ClassToken;

/// <summary>
/// the class token concatenated in front of the tokens.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class ClassTokenTorch : TorchOp<ClassTokenOp>
{
    protected override TTensor Run(ClassTokenOp op, TTensor[] x)
        => cat(new[] { W(op.Token, 1, 1, op.Channels).expand(x[0].shape[0], 1, op.Channels), x[0] }, 1);
}
