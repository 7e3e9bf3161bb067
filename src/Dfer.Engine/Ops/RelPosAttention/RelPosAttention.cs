namespace Dfer.Ops.RelPosAttention;

/// <summary>
/// MViTv2 pooling attention core (docs/models/ifdd.md §3.3 steps 4–7) on already pooled q', k', v',
/// each [B, H, N, d] with token 0 the class token and the rest t-major, then h, then w over the
/// q grid (qt, qh, qw) or the k grid (kt, kh, kw):
/// <c>A = scale·q'k'ᵀ</c>; for query n ≥ 1 at (t, y, x) and key m ≥ 1 at (t', y', x'),
/// <c>A[n, m] += u·relT[I(t, t')] + u·relH[I(y, y')] + u·relW[I(x, x')]</c> with u = q'[n] (unscaled)
/// and <c>I(i, j) = floor(i·max(c/a, 1) − (j − c + 1)·max(a/c, 1))</c> for q length a, k length c;
/// <c>O = softmax(A) v'</c>; with residual pooling <c>O[n] += q'[n]</c> for n ≥ 1. → [B, H, Nq, d].
/// Tables are [2·max(a, c) − 1, d] per axis.
/// </summary>
public sealed class RelPosAttentionOp : Op
{
    public RelPosAttentionOp(int heads, int headDim, (int T, int H, int W) qGrid, (int T, int H, int W) kGrid,
        float[] relT, float[] relH, float[] relW, double? scale = null, bool residualPooling = true)
    {
        if (heads <= 0 || headDim <= 0)
            throw new ArgumentException($"relposattn needs positive heads and head dim, got {heads}, {headDim}");
        if (qGrid.T <= 0 || qGrid.H <= 0 || qGrid.W <= 0 || kGrid.T <= 0 || kGrid.H <= 0 || kGrid.W <= 0)
            throw new ArgumentException($"relposattn grids must be positive, got q {qGrid}, k {kGrid}");
        CheckTable("relT", relT, TableRows(qGrid.T, kGrid.T), headDim);
        CheckTable("relH", relH, TableRows(qGrid.H, kGrid.H), headDim);
        CheckTable("relW", relW, TableRows(qGrid.W, kGrid.W), headDim);
        Heads = heads; HeadDim = headDim; QGrid = qGrid; KGrid = kGrid;
        RelT = relT; RelH = relH; RelW = relW;
        Scale = scale ?? 1.0 / Math.Sqrt(headDim);
        ResidualPooling = residualPooling;
    }

    public int Heads { get; }
    public int HeadDim { get; }
    public (int T, int H, int W) QGrid { get; }
    public (int T, int H, int W) KGrid { get; }
    /// <summary>[2·max(qt, kt) − 1, d].</summary>
    public float[] RelT { get; }
    /// <summary>[2·max(qh, kh) − 1, d].</summary>
    public float[] RelH { get; }
    /// <summary>[2·max(qw, kw) − 1, d].</summary>
    public float[] RelW { get; }
    public double Scale { get; }
    public bool ResidualPooling { get; }

    /// <summary>Query tokens: 1 + qt·qh·qw.</summary>
    public int Nq => 1 + QGrid.T * QGrid.H * QGrid.W;
    /// <summary>Key tokens: 1 + kt·kh·kw.</summary>
    public int Nk => 1 + KGrid.T * KGrid.H * KGrid.W;

    public static int TableRows(int qLen, int kLen) => 2 * Math.Max(qLen, kLen) - 1;

    /// <summary>
    /// Table row for query position i (of a) and key position j (of c):
    /// <c>floor(i·max(c/a, 1) − (j − c + 1)·max(a/c, 1))</c>, in exact integer arithmetic (one ratio is always
    /// 1).
    /// </summary>
    public static int RelIndex(int i, int j, int a, int c) =>
        c >= a ? i * c / a + (c - 1 - j)        // max(a/c,1) = 1; floor(i·c/a) with i·c ≥ 0
               : i + (c - 1 - j) * a / c;       // max(c/a,1) = 1; (c−1−j)·a ≥ 0

    public override OpKind Kind => RelPosAttentionKind.Instance;
    public override int InputCount => 3;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] q = inputs[0], k = inputs[1], v = inputs[2];
        if (q.Length != 4 || q[1] != Heads || q[2] != Nq || q[3] != HeadDim)
            throw ShapeError(Kind, $"q' expects [B, {Heads}, {Nq}, {HeadDim}]", q);
        if (k.Length != 4 || k[0] != q[0] || k[1] != Heads || k[2] != Nk || k[3] != HeadDim)
            throw ShapeError(Kind, $"k' expects [{q[0]}, {Heads}, {Nk}, {HeadDim}]", k);
        if (v.Length != 4 || !v.SequenceEqual(k))
            throw ShapeError(Kind, $"v' expects [{q[0]}, {Heads}, {Nk}, {HeadDim}]", v);
        return (int[])q.Clone();
    }

    public override long WeightElements => RelT.LongLength + RelH.LongLength + RelW.LongLength;

    /// <summary>
    /// The two matrix products (q'k'ᵀ and P v', 2 FLOPs per multiply-add each) plus the bias as
    /// PyTorch's decomposed form computes it: per non-class query, one d-length dot product with each
    /// key row of each axis (kt + kh + kw of them).
    /// </summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        var q = inputs[0];
        long rows = (long)q[0] * Heads;
        return rows * (2L * 2 * Nq * Nk * HeadDim + 2L * (Nq - 1) * (KGrid.T + KGrid.H + KGrid.W) * HeadDim);
    }

    private static void CheckTable(string name, float[] table, int rows, int d)
    {
        if (table.LongLength != (long)rows * d)
            throw new ArgumentException($"relposattn {name} has {table.Length} values, expected [{rows}, {d}]");
    }
}
