using Dfer.Primitives;
using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Lifting;

/// <summary>
/// IFDD's lifting step as the original code does it (docs/models/ifdd.md): grid_sample split, WaveNorm by layer_norm,
/// then the Updater and Predictor cross-attentions with their projections. → [B, K·S, C]. Compiled into
/// Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class LiftingTorch : TorchOp<LiftingOp>
{
    protected override TTensor Run(LiftingOp l, TTensor[] x)
    {
        TTensor frames = x[0], idxA = x[1], idxD = x[2];
        long b = frames.shape[0], c = l.Channels, n = idxA.shape[1] * frames.shape[2];
        TTensor Norm(LayerNormWeights ln, TTensor t)
            => F.layer_norm(t, new long[] { c }, W(ln.Weight, c), W(ln.Bias, c), ln.Eps);
        TTensor Lin(LinearWeights op, TTensor t) => F.linear(t, W(op.Weight, op.Out, op.In), W(op.Bias!, op.Out));
        TTensor Heads(TTensor t) => t.reshape(b, n, l.Heads, l.HeadDim).transpose(1, 2);
        TTensor CrossAttention(TTensor qin, TTensor kvin, LinearWeights wq, LinearWeights wkv)
        {
            var q = Heads(Lin(wq, qin));
            var kv = Lin(wkv, kvin);
            var k = Heads(kv[.., .., ..(int)c]);
            var v = kv[.., .., (int)c..];
            var attn = softmax(matmul(q * l.Scale, k.transpose(-2, -1)), -1);
            return matmul(attn, Heads(v)).transpose(1, 2).reshape(b, n, c) + v;
        }
        var xa = Norm(l.XaNorm, TorchFunctions.FrameSample(frames, idxA, l.Sample.Divisor).reshape(b, n, c));
        var xd = Norm(l.XdNorm, TorchFunctions.FrameSample(frames, idxD, l.Sample.Divisor).reshape(b, n, c));
        xa = xa + Lin(l.ProjectA, CrossAttention(xa, xd, l.QA, l.KvD));
        return xd - Lin(l.ProjectD, CrossAttention(xd, xa, l.QD, l.KvA));
    }
}
