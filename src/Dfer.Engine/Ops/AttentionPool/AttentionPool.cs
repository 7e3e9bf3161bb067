namespace Dfer.Ops.AttentionPool;

/// <summary>
/// M3DFEL's head after the BiLSTM as one op: x = ori [B, N, D] → logits [B, classes].
/// <list type="number">
/// <item><c>qkv[b,l,:] = Wqkv · x[b,l,:]</c> (Wqkv [3D, D], no bias), split into q, k, v (each D = heads × dh,
/// head-major).</item>
/// <item><c>y[b,l,h·dh+j] = Σ_m softmax_m(q_l·k_m · scale) v[b,m,h·dh+j]</c> over the N instances, per head h
/// (scale = dh^-0.5 unless given).</item>
/// <item>DMIN over the instances: μ_in[c] = mean_l y[l,c], σ²_in[c] = Σ_l (y[l,c] − μ_in)² / (N−1); μ_ln =
/// mean_c μ_in, σ²_ln = mean_c(σ²_in + μ_in²) − μ_ln²; μ = wm0·μ_in + wm1·μ_ln, σ² = wv0·σ²_in +
/// wv1·σ²_ln with (wm0, wm1) = softmax(meanWeight), (wv0, wv1) = softmax(varWeight); <c>z = (y − μ) / sqrt(σ² +
/// eps) · normWeight[c] + normBias[c]</c>.</item>
/// <item>Gate: <c>g = x · σ(z)</c>.</item>
/// <item>pwconv, the N instances as channels and D as the length (Conv1d N → 1, kernel k, padding p, stride 1):
/// <c>o[t] = convBias + Σ_{i,κ} convWeight[i,κ] · g[i, t − p + κ]</c> (g zero outside [0, D)), t ∈ [0, Lout),
/// Lout = D + 2p − k + 1.</item>
/// <item>fc: <c>logits[c] = fcBias[c] + Σ_t fcWeight[c, t] · o[t]</c> (fcWeight [classes, Lout]).</item>
/// </list>
/// Steps 4–8 of docs/models/m3dfel.md (D 1024, 8 heads, N 4, k 3, p 1, 7 classes).
/// </summary>
public sealed class AttentionPoolOp : Op
{
    public AttentionPoolOp(int dim, int heads, int instances, int classes, AttentionPoolWeights weights,
        double? scale = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int convKernel = weights.ConvKernel, convPad = weights.ConvPad;
        if (dim < 1 || heads < 1 || dim % heads != 0)
            throw new ArgumentException($"attentionpool: dim {dim} must be a positive multiple of heads {heads}");
        if (instances < 2)
            throw new ArgumentException(
                $"attentionpool: DMIN's unbiased variance needs at least 2 instances, got {instances}");
        if (convKernel < 1 || convPad < 0)
            throw new ArgumentException($"attentionpool: conv kernel {convKernel}, padding {convPad}");
        int lout = dim + 2 * convPad - convKernel + 1;
        if (lout < 1)
            throw new ArgumentException(
                $"attentionpool: conv kernel {convKernel} with padding {convPad} leaves no output of length {dim}");
        if (classes < 1) throw new ArgumentException($"attentionpool: {classes} classes");
        Check(weights.Qkv, 3L * dim * dim, $"qkv weight [{3 * dim}, {dim}]");
        Check(weights.MeanWeight, 2, "dmin mean_weight [2]");
        Check(weights.VarWeight, 2, "dmin var_weight [2]");
        Check(weights.NormWeight, dim, $"dmin weight [{dim}]");
        Check(weights.NormBias, dim, $"dmin bias [{dim}]");
        Check(weights.ConvWeight, (long)instances * convKernel, $"pwconv weight [1, {instances}, {convKernel}]");
        Check(weights.FcWeight, (long)classes * lout, $"fc weight [{classes}, {lout}]");
        Check(weights.FcBias, classes, $"fc bias [{classes}]");
        Dim = dim; Heads = heads; Instances = instances; Classes = classes; Weights = weights;
        Scale = scale ?? 1.0 / Math.Sqrt(dim / heads);
    }

    private static void Check(float[] a, long n, string what)
    {
        if (a.LongLength != n)
            throw new ArgumentException($"attentionpool: {what} has {a.LongLength} values, expected {n}");
    }

    /// <summary>D: features per instance (the BiLSTM's 2·hidden).</summary>
    public int Dim { get; }
    public int Heads { get; }
    public int HeadDim => Dim / Heads;
    /// <summary>N: instances per sample, also pwconv's input channels.</summary>
    public int Instances { get; }
    /// <summary>The learned tensors and pwconv/DMIN settings.</summary>
    public AttentionPoolWeights Weights { get; }
    /// <summary>[3D, D]: q, k, v projections stacked (PyTorch's to_qkv.weight).</summary>
    public float[] QkvWeight => Weights.Qkv;
    public double Scale { get; }
    public float[] MeanWeight => Weights.MeanWeight;
    public float[] VarWeight => Weights.VarWeight;
    public float[] NormWeight => Weights.NormWeight;
    public float[] NormBias => Weights.NormBias;
    public double Eps => Weights.Eps;
    public int ConvKernel => Weights.ConvKernel;
    public int ConvPad => Weights.ConvPad;
    /// <summary>[N, k] (PyTorch's pwconv.weight [1, N, k]).</summary>
    public float[] ConvWeight => Weights.ConvWeight;
    public float ConvBias => Weights.ConvBias;
    /// <summary>pwconv's output length, fc's input features: D + 2p − k + 1.</summary>
    public int PooledLength => Dim + 2 * ConvPad - ConvKernel + 1;
    public int Classes { get; }
    /// <summary>[classes, Lout].</summary>
    public float[] FcWeight => Weights.FcWeight;
    public float[] FcBias => Weights.FcBias;

    public override OpKind Kind => AttentionPoolKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[1] != Instances || x[2] != Dim)
            throw ShapeError(Kind, $"expects [B, {Instances}, {Dim}]", x);
        return new[] { x[0], Classes };
    }

    public override long WeightElements =>
        QkvWeight.LongLength + MeanWeight.Length + VarWeight.Length + NormWeight.Length + NormBias.Length
        + ConvWeight.Length + 1 + FcWeight.LongLength + FcBias.Length;

    /// <summary>
    /// Matrix products at 2 per multiply-add (qkv projection, q·kᵀ and p·v, pwconv, fc) plus the
    /// elementwise work counted as the separate ops count it (DMIN 8 and the gate 4 per element).
    /// </summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        long b = inputs[0][0], n = Instances, d = Dim;
        long qkv = 2 * b * n * d * 3 * d;
        long attention = 2L * 2 * b * n * n * d;
        long elementwise = (8 + 4) * b * n * d;
        long conv = 2 * b * PooledLength * n * ConvKernel;
        long fc = 2 * b * Classes * PooledLength;
        return qkv + attention + elementwise + conv + fc;
    }
}

/// <summary>
/// The learned tensors and the DMIN/pwconv settings of M3DFEL's head, by their checkpoint names
/// (to_qkv, norm.*, pwconv.*, fc.*); <see cref="AttentionPoolOp"/> checks their sizes.
/// </summary>
public sealed record AttentionPoolWeights
{
    /// <summary>to_qkv.weight [3·D, D], no bias.</summary>
    public required float[] Qkv { get; init; }
    /// <summary>norm.mean_weight [2]: logits of the instance/layer mix of the mean.</summary>
    public required float[] MeanWeight { get; init; }
    /// <summary>norm.var_weight [2]: logits of the instance/layer mix of the variance.</summary>
    public required float[] VarWeight { get; init; }
    /// <summary>norm.weight [D].</summary>
    public required float[] NormWeight { get; init; }
    /// <summary>norm.bias [D].</summary>
    public required float[] NormBias { get; init; }
    /// <summary>DMIN's epsilon.</summary>
    public required double Eps { get; init; }
    /// <summary>pwconv's kernel size along the feature axis.</summary>
    public required int ConvKernel { get; init; }
    /// <summary>pwconv's zero padding on each side of the feature axis.</summary>
    public required int ConvPad { get; init; }
    /// <summary>pwconv.weight [1, N, k].</summary>
    public required float[] ConvWeight { get; init; }
    /// <summary>pwconv.bias (one output channel).</summary>
    public required float ConvBias { get; init; }
    /// <summary>fc.weight [classes, L'].</summary>
    public required float[] FcWeight { get; init; }
    /// <summary>fc.bias [classes].</summary>
    public required float[] FcBias { get; init; }
}
