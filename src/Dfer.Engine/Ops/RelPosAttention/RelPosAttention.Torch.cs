using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.RelPosAttention;

/// <summary>
/// MViTv2's attention with decomposed relative positions as its code computes it: matmul logits, per-axis tables
/// gathered by distance, three einsums, softmax, residual pooling. Compiled into Dfer.Reference only (the engine does
/// not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class RelPosAttentionTorch : TorchOp<RelPosAttentionOp>
{
    protected override TTensor Run(RelPosAttentionOp r, TTensor[] x)
    {
        TTensor q = x[0], k = x[1], v = x[2];
        long b = q.shape[0], h = q.shape[1], d = r.HeadDim;
        var (qt, qh, qw) = r.QGrid;
        var (kt, kh, kw) = r.KGrid;
        var attn = matmul(q * r.Scale, k.transpose(-1, -2));

        // dist = i·max(c/a,1) − j·max(a/c,1) + (c−1)·max(a/c,1), truncated (it is never negative).
        TTensor Gather(float[] table, long a, long c)
        {
            double qr = Math.Max((double)c / a, 1.0), kr = Math.Max((double)a / c, 1.0);
            var dist = arange(a, ScalarType.Float64).unsqueeze(1) * qr - arange(c, ScalarType.Float64)
                .unsqueeze(0) * kr + (c - 1) * kr;
            // [a, c, d]
            return W(table, table.Length / d, d).index(new[] { TensorIndex.Tensor(dist.to(ScalarType.Int64)) });
        }
        var rt = Gather(r.RelT, qt, kt);
        var rh = Gather(r.RelH, qh, kh);
        var rw = Gather(r.RelW, qw, kw);
        var u = q.narrow(2, 1, q.shape[2] - 1).reshape(b, h, qt, qh, qw, d);
        var relT = einsum("bntyxc,tkc->bntyxk", u, rt);
        var relH = einsum("bntyxc,ykc->bntyxk", u, rh);
        var relW = einsum("bntyxc,xkc->bntyxk", u, rw);
        var bias = relT.reshape(b, h, qt, qh, qw, kt, 1, 1) + relH.reshape(b, h, qt, qh, qw, 1, kh, 1)
            + relW.reshape(b, h, qt, qh, qw, 1, 1, kw);
        bias = bias.reshape(b, h, qt * qh * qw, kt * kh * kw);
        attn = attn.clone();
        attn.narrow(2, 1, qt * qh * qw).narrow(3, 1, kt * kh * kw).add_(bias);
        var o = matmul(softmax(attn, -1), v);
        if (r.ResidualPooling) o.narrow(2, 1, qt * qh * qw).add_(q.narrow(2, 1, qt * qh * qw));
        return o;
    }
}
