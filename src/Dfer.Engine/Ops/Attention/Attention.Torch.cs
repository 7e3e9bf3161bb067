using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Attention;

/// <summary>
/// multi-head self-attention over a packed qkv, by chunk, matmul and softmax.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class AttentionTorch : TorchOp<AttentionOp>
{
    protected override TTensor Run(AttentionOp op, TTensor[] x)
        => TorchFunctions.Attention(x[0], op.Heads, op.HeadDim, op.Scale);
}
