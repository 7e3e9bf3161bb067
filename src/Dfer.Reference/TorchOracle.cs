using Dfer.Ops;
using Dfer.Ops.Attention;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.DepthwiseConv3d;
using Dfer.Ops.Dmin;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.Permute;
using Dfer.Ops.RelPosAttention;
using Dfer.Ops.Reshape;
using Dfer.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Reference;

/// <summary>
/// PyTorch's own operators (libtorch 2.10 through TorchSharp, float64) as an oracle: each op computed
/// the way the original models compute it, in PyTorch's layouts, and converted back to Dfer's. The
/// tests check the Reference implementations against it; <c>dfer validate --reference torch</c> checks
/// kernels against it directly.
/// </summary>
public sealed class TorchOracle : IReferenceOracle
{
    public TorchOracle() => TorchRuntime.EnsureLoaded();

    public string Description => $"PyTorch operators (libtorch {__version__} via TorchSharp), float64";

    public double[] Run(Op op, double[][] inputs, int[][] shapes)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = inputs.Select((a, i) => T(a, shapes[i])).ToArray();
        return Torch(op, x).contiguous().data<double>().ToArray();
    }

    private static TTensor T(double[] data, int[] shape) =>
        tensor(data, shape.Select(d => (long)d).ToArray(), ScalarType.Float64);

    private static TTensor W(float[] data, params long[] shape) =>
        tensor(data.Select(v => (double)v).ToArray(), shape, ScalarType.Float64);

    /// <summary>What PyTorch computes for the op, in PyTorch's own layouts, converted back to ours.</summary>
    internal static TTensor Torch(Op op, TTensor[] x) => op switch
    {
        Conv3dOp c => Conv3d(c, x),
        DepthwiseConv3dOp d => DepthwiseConv3d(d, x[0]),
        Conv2dOp c => Conv2d(c, x[0]),
        Dfer.Ops.FrameSample.FrameSampleOp f => FrameSample(f, x[0], x[1]),
        Dfer.Ops.AvgPool3d.AvgPool3dOp => F.adaptive_avg_pool3d(x[0].permute(0, 4, 1, 2, 3), 1).flatten(1),
        LinearOp l => F.linear(x[0], W(l.Weight, l.Out, l.In), l.Bias == null ? null : W(l.Bias, l.Out)),
        LstmOp l => Lstm(l, x[0]),
        AttentionOp a => Attention(a, x[0]),
        RelPosAttentionOp r => RelPosAttention(r, x[0], x[1], x[2]),
        Dfer.Ops.Lifting.LiftingOp l => Lifting(l, x[0], x[1], x[2]),
        Dfer.Ops.TokenPool.TokenPoolOp tp => TokenPool(tp, x[0]),
        Dfer.Ops.TokenMaxPool.TokenMaxPoolOp tm => TokenMaxPool(tm, x[0]),
        DminOp d => Dmin(d, x[0]),
        Dfer.Ops.Add.AddOp => add(x[0], x[1]),
        Dfer.Ops.Slice.SliceOp s => x[0].narrow(s.Axis, s.Start, s.Length),
        Dfer.Ops.ClassToken.ClassTokenOp c => cat(new[] { W(c.Token, 1, 1, c.Channels).expand(x[0].shape[0], 1, c.Channels), x[0] }, 1),
        Dfer.Ops.AdaptiveSplit.AdaptiveSplitOp a => AdaptiveSplit(a, x[0]),
        Dfer.Ops.Gate.GateOp => x[0] * sigmoid(x[1]),
        Conv1dOp c => F.conv1d(x[0], W(c.Weight, c.Cout, c.Cin, c.KernelSize), W(c.Bias, c.Cout), padding: c.Pad),
        Dfer.Ops.Softmax.SoftmaxOp => softmax(x[0], -1),
        Dfer.Ops.LayerNorm.LayerNormOp l => F.layer_norm(x[0], new long[] { l.Channels }, W(l.Weight, l.Channels), W(l.Bias, l.Channels), l.Eps),
        Dfer.Ops.Gelu.GeluOp => F.gelu(x[0]),
        Dfer.Ops.MaxPool3d.MaxPool3dOp m => F.max_pool3d(x[0].permute(0, 4, 1, 2, 3), new long[] { m.Kernel.T, m.Kernel.H, m.Kernel.W },
            new long[] { m.Stride.T, m.Stride.H, m.Stride.W }, new long[] { m.Pad.T, m.Pad.H, m.Pad.W }).permute(0, 2, 3, 4, 1),
        PermuteOp p => x[0].reshape(p.ResolvedView(x[0].shape.Select(d => (int)d).ToArray()).Select(d => (long)d).ToArray())
            .permute(p.Axes.Select(a => (long)a).ToArray()).flatten(),
        ReshapeOp r => x[0].reshape(r.Shape.Select(d => (long)d).ToArray()),
        Dfer.Ops.SepConv2d.SepConv2dOp s => TorchFaceApiOps.SepConv2d(s, x[0]),
        Dfer.Ops.MaxPool2d.MaxPool2dOp m => TorchFaceApiOps.MaxPool2d(m, x[0]),
        Dfer.Ops.AddAct.AddActOp a => TorchFaceApiOps.AddAct(a, x),
        Dfer.Ops.BoxDecode.BoxDecodeOp b => TorchFaceApiOps.BoxDecode(b, x[0]),
        Dfer.Ops.Nms.NmsOp n => TorchFaceApiOps.Nms(n, x[0]),
        Dfer.Ops.AttentionPool.AttentionPoolOp a => AttentionPool(a, x[0]),
        _ => throw new NotSupportedException(op.Kind.Name),
    };

    private static TTensor Conv3d(Conv3dOp c, TTensor[] x)
    {
        var w = W(c.Weight, c.Cout, c.Cin, c.Kernel.T, c.Kernel.H, c.Kernel.W);
        var y = F.conv3d(x[0].permute(0, 4, 1, 2, 3), w, W(c.Bias, c.Cout),
            new long[] { c.Stride.T, c.Stride.H, c.Stride.W }, new long[] { c.Pad.T, c.Pad.H, c.Pad.W }).permute(0, 2, 3, 4, 1);
        if (c.Residual) y = y + x[1];
        return c.Relu ? F.relu(y) : y;
    }

    private static TTensor DepthwiseConv3d(DepthwiseConv3dOp d, TTensor x)
    {
        var w = W(d.Weight, d.Channels, 1, d.Kernel.T, d.Kernel.H, d.Kernel.W);
        return F.conv3d(x.permute(0, 4, 1, 2, 3), w, d.Bias == null ? null : W(d.Bias, d.Channels),
            new long[] { d.Stride.T, d.Stride.H, d.Stride.W }, new long[] { d.Pad.T, d.Pad.H, d.Pad.W }, groups: d.Channels).permute(0, 2, 3, 4, 1);
    }

    /// <summary>
    /// IFDD's ISSM sampling as the original code does it: the index normalised by
    /// <c>normalize_grid</c> (2·idx/D − 1), then <c>grid_sample</c> (bilinear, border padding,
    /// align_corners=False) on the frames laid out as a [B, S·C, T, 1] image with x = 0.
    /// </summary>
    private static TTensor FrameSample(Dfer.Ops.FrameSample.FrameSampleOp f, TTensor frames, TTensor index)
    {
        long b = frames.shape[0], t = frames.shape[1], s = frames.shape[2], c = frames.shape[3], k = index.shape[1];
        var image = frames.reshape(b, t, s * c).permute(0, 2, 1).unsqueeze(-1);
        var g = index * (2.0 / f.Divisor) - 1.0;
        var grid = stack(new[] { zeros_like(g), g }, -1).unsqueeze(2);
        var sampled = F.grid_sample(image, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
        return sampled.squeeze(-1).permute(0, 2, 1).reshape(b, k, s, c);
    }

    /// <summary>
    /// IFDD's lifting step as the original code does it: grid_sample split, WaveNorm by layer_norm,
    /// then the Updater and Predictor cross-attentions (heads by view/transpose, softmax of scaled
    /// q·kᵀ by matmul, plus the value residual) with their linear projections. → [B, K·S, C].
    /// </summary>
    private static TTensor Lifting(Dfer.Ops.Lifting.LiftingOp l, TTensor frames, TTensor idxA, TTensor idxD)
    {
        long b = frames.shape[0], c = l.Channels, n = idxA.shape[1] * frames.shape[2];
        TTensor Norm(Dfer.Ops.LayerNorm.LayerNormOp ln, TTensor x) => F.layer_norm(x, new long[] { c }, W(ln.Weight, c), W(ln.Bias, c), ln.Eps);
        TTensor Lin(LinearOp op, TTensor x) => F.linear(x, W(op.Weight, op.Out, op.In), W(op.Bias!, op.Out));
        TTensor Heads(TTensor t) => t.reshape(b, n, l.Heads, l.HeadDim).transpose(1, 2);
        TTensor CrossAttention(TTensor qin, TTensor kvin, LinearOp wq, LinearOp wkv)
        {
            var q = Heads(Lin(wq, qin));
            var kv = Lin(wkv, kvin);
            var k = Heads(kv[.., .., ..(int)c]);
            var v = kv[.., .., (int)c..];
            var attn = softmax(matmul(q * l.Scale, k.transpose(-2, -1)), -1);
            return matmul(attn, Heads(v)).transpose(1, 2).reshape(b, n, c) + v;
        }
        var xa = Norm(l.XaNorm, FrameSample(l.Sample, frames, idxA).reshape(b, n, c));
        var xd = Norm(l.XdNorm, FrameSample(l.Sample, frames, idxD).reshape(b, n, c));
        xa = xa + Lin(l.ProjectA, CrossAttention(xa, xd, l.QA, l.KvD));
        return xd - Lin(l.ProjectD, CrossAttention(xd, xa, l.QD, l.KvA));
    }

    /// <summary>
    /// IFDD's adaptIndexSplit_dotsim from the frame features on: bmm similarity, softmax over the last
    /// dim, the bias-free offset Linear on the row-major flattened matrix, 2·tanh, plus the base index buffer.
    /// </summary>
    private static TTensor AdaptiveSplit(Dfer.Ops.AdaptiveSplit.AdaptiveSplitOp a, TTensor f)
    {
        long b = f.shape[0], t = a.Frames;
        var s = bmm(f, f.transpose(1, 2)) * a.SimilarityScale;
        var p = softmax(a.Negate ? -s : s, -1);
        var off = tanh(F.linear(p.reshape(b, t * t), W(a.OffsetWeight, a.Count, t * t))) * a.OffsetScale;
        return off + W(a.BaseIndex, a.Count).unsqueeze(0);
    }

    /// <summary>
    /// MViTv2's <c>Pool</c> on one part of a packed qkv as the original code does it: qkv reshaped to
    /// [B, N, parts, heads, d] and this part taken as [B, heads, N, d]; the class token split off; the rest
    /// reshaped to [B·heads, d, T, H, W] (heads folded into the batch), conv3d with groups = d, flattened back
    /// to tokens, the class token concatenated in front, layer_norm over d on every token.
    /// </summary>
    private static TTensor TokenPool(Dfer.Ops.TokenPool.TokenPoolOp tp, TTensor x)
    {
        long b = x.shape[0], n = x.shape[1], h = tp.Heads, d = tp.HeadDim;
        var z = x.reshape(b, n, tp.Parts, h, d).select(2, tp.Part).permute(0, 2, 1, 3);
        var cls = z[.., .., ..1, ..];
        var vol = z[.., .., 1.., ..].reshape(b * h, tp.Grid.T, tp.Grid.H, tp.Grid.W, d).permute(0, 4, 1, 2, 3);
        var conv = tp.Conv;
        var w = W(conv.Weight, d, 1, conv.Kernel.T, conv.Kernel.H, conv.Kernel.W);
        var pooled = F.conv3d(vol, w, conv.Bias == null ? null : W(conv.Bias, d),
            new long[] { conv.Stride.T, conv.Stride.H, conv.Stride.W }, new long[] { conv.Pad.T, conv.Pad.H, conv.Pad.W }, groups: d);
        var tokens = pooled.reshape(b, h, d, -1).transpose(2, 3);
        var all = cat(new[] { cls, tokens }, 2);
        return F.layer_norm(all, new long[] { d }, W(tp.Norm.Weight, d), W(tp.Norm.Bias, d), tp.Norm.Eps);
    }

    /// <summary>
    /// MViT's <c>pool_skip</c> as the original code does it: the class token split off, the rest reshaped to
    /// [B, C, T, H, W], max_pool3d, flattened back to tokens and the class token concatenated in front.
    /// </summary>
    private static TTensor TokenMaxPool(Dfer.Ops.TokenMaxPool.TokenMaxPoolOp tm, TTensor x)
    {
        long b = x.shape[0], c = x.shape[2];
        var m = tm.Pool;
        var vol = x[.., 1.., ..].transpose(1, 2).reshape(b, c, tm.Grid.T, tm.Grid.H, tm.Grid.W);
        var pooled = F.max_pool3d(vol, new long[] { m.Kernel.T, m.Kernel.H, m.Kernel.W },
            new long[] { m.Stride.T, m.Stride.H, m.Stride.W }, new long[] { m.Pad.T, m.Pad.H, m.Pad.W });
        return cat(new[] { x[.., ..1, ..], pooled.flatten(2).transpose(1, 2) }, 1);
    }

    private static TTensor Conv2d(Conv2dOp c, TTensor x)
    {
        var w = W(c.Weight, c.Cout, c.Cin, c.Kernel.H, c.Kernel.W);
        return F.conv2d(x.permute(0, 3, 1, 2), w, c.Bias == null ? null : W(c.Bias, c.Cout),
            new long[] { c.Stride.H, c.Stride.W }, new long[] { c.Pad.H, c.Pad.W }, new long[] { c.Dilation.H, c.Dilation.W }).permute(0, 2, 3, 1);
    }

    private static TTensor Lstm(LstmOp l, TTensor x)
    {
        using var lstm = nn.LSTM(l.InputSize, l.Hidden, l.Layers.Length, batchFirst: true, bidirectional: l.Bidirectional, dtype: ScalarType.Float64);
        lstm.to(ScalarType.Float64);
        var parameters = lstm.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        if (parameters.Values.Any(p => p.dtype != ScalarType.Float64)) throw new InvalidOperationException("LSTM parameters must be float64");
        for (int layer = 0; layer < l.Layers.Length; layer++)
            for (int d = 0; d < l.Directions; d++)
            {
                var cell = l.Layers[layer][d];
                string sfx = $"l{layer}{(d == 1 ? "_reverse" : "")}";
                parameters[$"weight_ih_{sfx}"].copy_(W(cell.Wih, 4 * l.Hidden, cell.Wih.Length / (4 * l.Hidden)));
                parameters[$"weight_hh_{sfx}"].copy_(W(cell.Whh, 4 * l.Hidden, l.Hidden));
                parameters[$"bias_ih_{sfx}"].copy_(W(cell.Bih, 4 * l.Hidden));
                parameters[$"bias_hh_{sfx}"].copy_(W(cell.Bhh, 4 * l.Hidden));
            }
        var (output, _, _) = lstm.forward(x);
        return output;
    }

    private static TTensor Attention(AttentionOp a, TTensor qkv)
    {
        long b = qkv.shape[0], n = qkv.shape[1];
        var parts = qkv.chunk(3, -1).Select(t => t.reshape(b, n, a.Heads, a.HeadDim).permute(0, 2, 1, 3)).ToArray();
        var attn = softmax(matmul(parts[0], parts[1].transpose(-1, -2)) * a.Scale, -1);
        return matmul(attn, parts[2]).permute(0, 2, 1, 3).reshape(b, n, a.Dim);
    }

    /// <summary>
    /// MViTv2's attention with decomposed relative positions, as its code computes it: the logits by
    /// matmul, the per-axis tables gathered by the distance index, three einsums against the unscaled
    /// query, broadcast-added to the [1:, 1:] block, softmax, matmul, residual pooling.
    /// </summary>
    private static TTensor RelPosAttention(RelPosAttentionOp r, TTensor q, TTensor k, TTensor v)
    {
        long b = q.shape[0], h = q.shape[1], d = r.HeadDim;
        var (qt, qh, qw) = r.QGrid;
        var (kt, kh, kw) = r.KGrid;
        var attn = matmul(q * r.Scale, k.transpose(-1, -2));

        // dist = i·max(c/a,1) − j·max(a/c,1) + (c−1)·max(a/c,1), truncated (it is never negative).
        TTensor Gather(float[] table, long a, long c)
        {
            double qr = Math.Max((double)c / a, 1.0), kr = Math.Max((double)a / c, 1.0);
            var dist = arange(a, ScalarType.Float64).unsqueeze(1) * qr - arange(c, ScalarType.Float64).unsqueeze(0) * kr + (c - 1) * kr;
            return W(table, table.Length / d, d).index(new[] { TensorIndex.Tensor(dist.to(ScalarType.Int64)) });   // [a, c, d]
        }
        var rt = Gather(r.RelT, qt, kt);
        var rh = Gather(r.RelH, qh, kh);
        var rw = Gather(r.RelW, qw, kw);
        var u = q.narrow(2, 1, q.shape[2] - 1).reshape(b, h, qt, qh, qw, d);
        var relT = einsum("bntyxc,tkc->bntyxk", u, rt);
        var relH = einsum("bntyxc,ykc->bntyxk", u, rh);
        var relW = einsum("bntyxc,xkc->bntyxk", u, rw);
        var bias = relT.reshape(b, h, qt, qh, qw, kt, 1, 1) + relH.reshape(b, h, qt, qh, qw, 1, kh, 1) + relW.reshape(b, h, qt, qh, qw, 1, 1, kw);
        bias = bias.reshape(b, h, qt * qh * qw, kt * kh * kw);
        attn = attn.clone();
        attn.narrow(2, 1, qt * qh * qw).narrow(3, 1, kt * kh * kw).add_(bias);
        var o = matmul(softmax(attn, -1), v);
        if (r.ResidualPooling) o.narrow(2, 1, qt * qh * qw).add_(q.narrow(2, 1, qt * qh * qw));
        return o;
    }

    /// <summary>
    /// M3DFEL's head as its forward composes it: to_qkv (a bias-free linear), multi-head attention over
    /// the instances, DMIN, the sigmoid gate, pwconv (a Conv1d over the instances as channels), fc.
    /// </summary>
    private static TTensor AttentionPool(Dfer.Ops.AttentionPool.AttentionPoolOp a, TTensor ori)
    {
        long b = ori.shape[0];
        var qkv = F.linear(ori, W(a.QkvWeight, 3 * a.Dim, a.Dim));
        var y = Attention(new AttentionOp(a.Heads, a.HeadDim, a.Scale), qkv);
        var z = Dmin(new DminOp(a.Dim, a.MeanWeight, a.VarWeight, a.NormWeight, a.NormBias, a.Eps), y);
        var gated = ori * sigmoid(z);
        var pooled = F.conv1d(gated, W(a.ConvWeight, 1, a.Instances, a.ConvKernel), W(new[] { a.ConvBias }, 1), padding: a.ConvPad);
        return F.linear(pooled.reshape(b, a.PooledLength), W(a.FcWeight, a.Classes, a.PooledLength), W(a.FcBias, a.Classes));
    }

    private static TTensor Dmin(DminOp d, TTensor y)
    {
        // The original works on [B, C, N]; transpose as it does.
        var x = y.transpose(1, 2);
        var meanIn = x.mean(new long[] { 2 }, keepdim: true);
        var varIn = x.var(2, unbiased: true, keepdim: true);
        var meanLn = meanIn.mean(new long[] { 1 }, keepdim: true);
        var varLn = (varIn + meanIn.pow(2)).mean(new long[] { 1 }, keepdim: true) - meanLn.pow(2);
        var wm = softmax(W(d.MeanWeight, 2), 0);
        var wv = softmax(W(d.VarWeight, 2), 0);
        var mean = wm[0] * meanIn + wm[1] * meanLn;
        var variance = wv[0] * varIn + wv[1] * varLn;
        var z = (x - mean) / sqrt(variance + d.Eps) * W(d.Weight, 1, d.Channels, 1) + W(d.Bias, 1, d.Channels, 1);
        return z.transpose(1, 2);
    }
}
