using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>
/// MViT's <c>pool_skip</c> as the original code does it: class token split off, max_pool3d over the grid, class token
/// back in front. Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class TokenMaxPoolTorch : TorchOp<TokenMaxPoolOp>
{
    protected override TTensor Run(TokenMaxPoolOp tm, TTensor[] x)
    {
        long b = x[0].shape[0], c = x[0].shape[2];
        var m = tm.Pool;
        var vol = x[0][.., 1.., ..].transpose(1, 2).reshape(b, c, tm.Grid.T, tm.Grid.H, tm.Grid.W);
        var pooled = F.max_pool3d(vol, new long[] { m.Kernel.T, m.Kernel.H, m.Kernel.W },
            new long[] { m.Stride.T, m.Stride.H, m.Stride.W }, new long[] { m.Pad.T, m.Pad.H, m.Pad.W });
        return cat(new[] { x[0][.., ..1, ..], pooled.flatten(2).transpose(1, 2) }, 1);
    }
}
