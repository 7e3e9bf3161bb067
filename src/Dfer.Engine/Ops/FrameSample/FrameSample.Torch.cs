using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.FrameSample;

/// <summary>
/// IFDD's ISSM sampling as the original code does it (docs/models/ifdd.md): <c>grid_sample</c> over the frames.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class FrameSampleTorch : TorchOp<FrameSampleOp>
{
    protected override TTensor Run(FrameSampleOp op, TTensor[] x)
        => TorchFunctions.FrameSample(x[0], x[1], op.Divisor);
}
