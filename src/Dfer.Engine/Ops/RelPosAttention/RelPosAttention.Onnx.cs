using Dfer.Onnx;

namespace Dfer.Ops.RelPosAttention;

/// <summary>
/// relposattn in ONNX on q' [B, H, Nq, d], k' and v' [B, H, Nk, d], in PyTorch's decomposed form:
/// <list type="number">
/// <item>A = MatMul(q', k'ᵀ) · scale.</item>
/// <item>The tables gathered at export by <see cref="RelPosAttentionOp.RelIndex"/> into constants
/// R_t [qt, d, kt] (<c>R_t[t, :, t'] = relT[I(t, t')]</c>), R_h [qh, d, kh], R_w [qw, d, kw].</item>
/// <item>The non-class queries u = q'[1..] (unscaled) viewed as [B, H, qt, qh·qw, d], [B, H, qt, qh, qw, d] and
/// [B, H, qt, qh, qw, 1, d]: MatMul by R_t, R_h, R_w (broadcast over the leading axes) gives the three
/// per-axis terms, reshaped to [B, H, qt, qh, qw, kt, 1, 1], [.., 1, kh, 1], [.., 1, 1, kw] and added by
/// broadcasting to the bias [B, H, Nq − 1, Nk − 1].</item>
/// <item>The bias padded with a zero row and column (class query, class key) and added to A; Softmax over the
/// keys, MatMul by v'.</item>
/// <item>Residual pooling: + q' · m with m [Nq, 1] zero for the class token, one elsewhere.</item>
/// </list>
/// </summary>
internal sealed class RelPosAttentionOnnx(RelPosAttentionOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string q = inputs[0], k = inputs[1], v = inputs[2];
        int d = op.HeadDim, nq = op.Nq, nk = op.Nk;
        var (qt, qh, qw) = op.QGrid;
        var (kt, kh, kw) = op.KGrid;
        string Table(string name, float[] rel, int a, int c) => graph.Floats(name, Gathered(rel, a, c, d), a, d, c);

        string kT = graph.Node("Transpose", "k_t", new[] { k }, OnnxAttribute.Ints("perm", 0, 1, 3, 2));
        string logits = graph.Node("Mul", "logits",
            new[] { graph.Node("MatMul", "qk", new[] { q, kT }), graph.Scalar("scale", (float)op.Scale) });

        string u = OnnxBlocks.Slice(graph, "u", q, 2, 1, nq);
        string View(string local, params long[] shape) =>
            graph.Node("Reshape", local, new[] { u, graph.Int64s(local + "_shape", [0, 0, .. shape]) });
        string Term(string local, string view, string table, params long[] shape)
        {
            string product = graph.Node("MatMul", local, new[] { view, table });
            return graph.Node("Reshape", local + "_8d",
                new[] { product, graph.Int64s(local + "_8d_shape", [0, 0, qt, qh, qw, .. shape]) });
        }
        string relT = Term("rel_t", View("u_t", qt, (long)qh * qw, d), Table("table_t", op.RelT, qt, kt), kt, 1, 1);
        string relH = Term("rel_h", View("u_h", qt, qh, qw, d), Table("table_h", op.RelH, qh, kh), 1, kh, 1);
        string relW = Term("rel_w", View("u_w", qt, qh, qw, 1, d), Table("table_w", op.RelW, qw, kw), 1, 1, kw);
        string bias8 = graph.Node("Add", "bias_8d",
            new[] { graph.Node("Add", "bias_th", new[] { relT, relH }), relW });
        string bias = graph.Node("Reshape", "bias",
            new[] { bias8, graph.Int64s("bias_shape", 0, 0, nq - 1, nk - 1) });
        string padded = graph.Node("Pad", "bias_padded",
            new[] { bias, graph.Int64s("pads", 0, 0, 1, 1, 0, 0, 0, 0) }, OnnxAttribute.String("mode", "constant"));
        string scores = graph.Node("Add", "scores", new[] { logits, padded });
        string weights = graph.Node("Softmax", "weights", new[] { scores }, OnnxAttribute.Int("axis", -1));
        if (!op.ResidualPooling)
        {
            graph.Node("MatMul", new[] { weights, v }, new[] { output });
            return;
        }
        string attended = graph.Node("MatMul", "attended", new[] { weights, v });
        var mask = new float[nq];
        Array.Fill(mask, 1f);
        mask[0] = 0f;
        string residual = graph.Node("Mul", "residual", new[] { q, graph.Floats("residual_mask", mask, nq, 1) });
        graph.Node("Add", new[] { attended, residual }, new[] { output });
    }

    /// <summary>R [a, d, c] with <c>R[i, :, j] = rel[RelIndex(i, j, a, c), :]</c>.</summary>
    private static float[] Gathered(float[] rel, int a, int c, int d)
    {
        var r = new float[(long)a * d * c];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < c; j++)
            {
                long row = (long)RelPosAttentionOp.RelIndex(i, j, a, c) * d;
                for (int e = 0; e < d; e++) r[((long)i * d + e) * c + j] = rel[row + e];
            }
        return r;
    }
}
