using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Gelu;

/// <summary>
/// GELU (exact, erf) as <c>F.gelu</c>.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class GeluTorch : TorchOp<GeluOp>
{
    protected override TTensor Run(GeluOp op, TTensor[] x)
        => F.gelu(x[0]);
}
