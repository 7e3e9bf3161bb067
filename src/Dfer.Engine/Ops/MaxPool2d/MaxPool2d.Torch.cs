using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.MaxPool2d;

/// <summary>
/// 2D max pooling with TF's padding as −∞ via <c>F.pad</c>, then <c>F.max_pool2d</c>.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class MaxPool2dTorch : TorchOp<MaxPool2dOp>
{
    protected override TTensor Run(MaxPool2dOp m, TTensor[] x)
    {
        var p = m.Pad;
        var y = F.pad(x[0].permute(0, 3, 1, 2), new long[] { p.Left, p.Right, p.Top, p.Bottom }, PaddingModes.Constant,
            double.NegativeInfinity);
        return F.max_pool2d(y, new long[] { m.Kernel.H, m.Kernel.W }, new long[] { m.Stride.H, m.Stride.W })
            .permute(0, 2, 3, 1);
    }
}
