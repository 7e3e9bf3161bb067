using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Dmin;

/// <summary>
/// DMIN as M3DFEL writes it on [B, C, N]: instance and layer statistics mixed by softmaxed weights.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class DminTorch : TorchOp<DminOp>
{
    protected override TTensor Run(DminOp op, TTensor[] x)
        => TorchFunctions.Dmin(x[0], op.MeanWeight, op.VarWeight, op.Weight, op.Bias, op.Eps);
}
