using Dfer.Reference;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// Reference implementation of IFDD (Implicit Facial Dynamics Disentanglement, DFEW configuration) in
/// TorchSharp, written from <c>docs/models/ifdd.md</c>: embedNet_light, the 10-block MViTv2 backbone
/// (pooled attention with decomposed relative positions and residual pooling), the FPN fusion of
/// stages 2 and 3, the LADM (ISSM adaptive split, WaveNorm, Updater then Predictor, detail refinement,
/// token compression) and the linear head. It is an oracle for the engine's own kernels, so every step
/// is spelled out as the original code does it, traps included, rather than made fast.
/// </summary>
public sealed class TorchIfdd : IDisposable
{
    /// <summary>Frames per clip.</summary>
    public const int Frames = 16;
    /// <summary>Colour channels per frame.</summary>
    public const int Channels = 3;
    /// <summary>Frame height and width.</summary>
    public const int Size = 224;
    /// <summary>Number of expression classes (logits per clip).</summary>
    public const int Classes = 7;

    private const int HeadDim = 96;
    private const int T = 8;                 // time steps after the patch embedding, never strided
    private const int EmbedDim = 96;
    private const int LadmDim = 768;
    private const int LadmHeads = 8;
    private const int Quarter = 4;           // ISSM output "frames" per group
    private const int Spatial = 49;          // 7 x 7 tokens per frame at stage 3
    private const double BackboneEps = 1e-6;
    private const double LadmEps = 1e-5;

    /// <summary>Per-block configuration, spec section 3.3.</summary>
    private static readonly (int Heads, int CIn, int COut, int InHw, int StrideQ, int StrideKv)[] BlockConfig =
    [
        (1, 96, 96, 56, 1, 8),
        (2, 96, 192, 56, 2, 4),
        (2, 192, 192, 28, 1, 4),
        (4, 192, 384, 28, 2, 2),
        (4, 384, 384, 14, 1, 2),
        (4, 384, 384, 14, 1, 2),
        (4, 384, 384, 14, 1, 2),
        (4, 384, 384, 14, 1, 2),
        (8, 384, 768, 14, 2, 1),
        (8, 768, 768, 7, 1, 1),
    ];

    /// <summary>Names of the intermediates <see cref="ForwardWithIntermediates"/> returns, with each one's
    /// per-clip shape (the batch dimension is prepended).</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> IntermediateShapes { get; } =
    [
        ("embed", [25088, 96]),
        ("block0", [25089, 96]),
        ("block1", [6273, 192]),
        ("block2", [6273, 192]),
        ("block3", [1569, 384]),
        ("block4", [1569, 384]),
        ("block5", [1569, 384]),
        ("block6", [1569, 384]),
        ("block7", [1569, 384]),
        ("block8", [393, 768]),
        ("block9", [393, 768]),
        ("stage3", [393, 768]),
        ("pan", [392, 384]),
        ("Y", [392, 768]),
        ("idx_a", [4]),
        ("idx_d", [4]),
        ("xd_lift", [196, 768]),
        ("Z", [196, 768]),
        ("feat", [768]),
        ("logits", [7]),
    ];

    private readonly ScalarType _dtype;
    private readonly List<Tensor> _owned = [];
    private readonly Tensor _embedWeight, _embedBias, _classToken;
    private readonly Block[] _blocks;
    private readonly Tensor _normWeight, _normBias;
    private readonly Tensor _panWeight, _catConvWeight;
    private readonly Ladm _ladm;
    private readonly Tensor _headWeight, _headBias;
    private bool _disposed;

    /// <summary>Builds the model from the official code's <c>model.state_dict()</c>.</summary>
    /// <param name="stateDict">All 297 entries keyed exactly as the original names them (no
    /// <c>module.</c> prefix), as row-major float32 data plus shape. The int64 buffers
    /// <c>adapt_split.index_even</c>/<c>index_odd</c> arrive as float values. The never-used entries
    /// (<c>spatial_pos</c>, <c>temporal_pos</c>, <c>class_pos</c>, <c>time_project.*</c>) must be present
    /// and well-shaped but are ignored. Unknown keys are rejected, as PyTorch's strict loading does.</param>
    /// <param name="dtype"><see cref="ScalarType.Float64"/> or <see cref="ScalarType.Float32"/>: the
    /// precision every computation runs in.</param>
    /// <exception cref="ArgumentException">A key is missing or unknown, or a shape or data length
    /// does not match.</exception>
    public TorchIfdd(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, ScalarType dtype)
    {
        StateDictArguments.Check(stateDict, dtype);
        TorchRuntime.EnsureLoaded();
        _dtype = dtype;

        var used = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            Tensor Load(string key, params long[] shape) =>
                StateDictArguments.Load(stateDict, key, shape, dtype, used, _owned);

            _embedWeight = Load("embed.conv_proj.weight", EmbedDim, Channels, 3, 7, 7);
            _embedBias = Load("embed.conv_proj.bias", EmbedDim);
            _classToken = Load("backbone.backbone.pos_encoding.class_token", EmbedDim);

            _blocks = new Block[BlockConfig.Length];
            for (int i = 0; i < BlockConfig.Length; i++)
            {
                var (heads, cIn, cOut, inHw, strideQ, strideKv) = BlockConfig[i];
                string p = $"backbone.backbone.blocks.{i}.";
                int qHw = (inHw - 1) / strideQ + 1, kHw = (inHw - 1) / strideKv + 1;
                long spatialRows = 2 * Math.Max(qHw, kHw) - 1;
                Pool LoadPool(string name) => new(
                    Load($"{p}attn.{name}.pool.weight", HeadDim, 1, 3, 3, 3),
                    Load($"{p}attn.{name}.norm_act.0.weight", HeadDim),
                    Load($"{p}attn.{name}.norm_act.0.bias", HeadDim));
                _blocks[i] = new Block(
                    Heads: heads, CIn: cIn, COut: cOut, InHw: inHw, StrideQ: strideQ, StrideKv: strideKv,
                    Norm1Weight: Load($"{p}norm1.weight", cIn),
                    Norm1Bias: Load($"{p}norm1.bias", cIn),
                    Norm2Weight: Load($"{p}norm2.weight", cOut),
                    Norm2Bias: Load($"{p}norm2.bias", cOut),
                    RelPosH: Load($"{p}attn.rel_pos_h", spatialRows, HeadDim),
                    RelPosW: Load($"{p}attn.rel_pos_w", spatialRows, HeadDim),
                    RelPosT: Load($"{p}attn.rel_pos_t", 2 * T - 1, HeadDim),
                    QkvWeight: Load($"{p}attn.qkv.weight", 3 * cOut, cIn),
                    QkvBias: Load($"{p}attn.qkv.bias", 3 * cOut),
                    ProjWeight: Load($"{p}attn.project.0.weight", cOut, cOut),
                    ProjBias: Load($"{p}attn.project.0.bias", cOut),
                    PoolQ: LoadPool("pool_q"),
                    PoolK: LoadPool("pool_k"),
                    PoolV: LoadPool("pool_v"),
                    Mlp1Weight: Load($"{p}mlp.0.weight", 4 * cOut, cOut),
                    Mlp1Bias: Load($"{p}mlp.0.bias", 4 * cOut),
                    Mlp2Weight: Load($"{p}mlp.3.weight", cOut, 4 * cOut),
                    Mlp2Bias: Load($"{p}mlp.3.bias", cOut),
                    SkipWeight: cIn != cOut ? Load($"{p}project.weight", cOut, cIn) : null,
                    SkipBias: cIn != cOut ? Load($"{p}project.bias", cOut) : null);
            }
            _normWeight = Load("backbone.backbone.norm.weight", LadmDim);
            _normBias = Load("backbone.backbone.norm.bias", LadmDim);
            _panWeight = Load("backbone.PANLayer.0.weight", 384, 384, 3, 3);
            _catConvWeight = Load("backbone.CatConv.weight", LadmDim, 1152, 1, 1);

            const string w = "backbone.WaveLifts.";
            // Present in the state dict, never read by the forward (spec 3.5, 4): loaded to check them.
            Load($"{w}spatial_pos", Spatial, LadmDim);
            Load($"{w}temporal_pos", T, LadmDim);
            Load($"{w}class_pos", LadmDim);
            Load($"{w}adapt_split.time_project.0.weight", T, T);
            Load($"{w}adapt_split.time_project.0.bias", T);
            Load($"{w}adapt_split.time_project.2.weight", 1, T);
            Load($"{w}adapt_split.time_project.2.bias", 1);
            _ladm = new Ladm(
                QdWeight: Load($"{w}q_d.weight", LadmDim, LadmDim),
                QdBias: Load($"{w}q_d.bias", LadmDim),
                KvaWeight: Load($"{w}kv_a.weight", 2 * LadmDim, LadmDim),
                KvaBias: Load($"{w}kv_a.bias", 2 * LadmDim),
                QaWeight: Load($"{w}q_a.weight", LadmDim, LadmDim),
                QaBias: Load($"{w}q_a.bias", LadmDim),
                KvdWeight: Load($"{w}kv_d.weight", 2 * LadmDim, LadmDim),
                KvdBias: Load($"{w}kv_d.bias", 2 * LadmDim),
                ProjDWeight: Load($"{w}project_d.0.weight", LadmDim, LadmDim),
                ProjDBias: Load($"{w}project_d.0.bias", LadmDim),
                ProjAWeight: Load($"{w}project_a.0.weight", LadmDim, LadmDim),
                ProjABias: Load($"{w}project_a.0.bias", LadmDim),
                IndexEven: Load($"{w}adapt_split.index_even", Quarter),
                IndexOdd: Load($"{w}adapt_split.index_odd", Quarter),
                DimProjWeight: Load($"{w}adapt_split.dim_project.0.weight", 7, LadmDim, 1, 1),
                DimProjBias: Load($"{w}adapt_split.dim_project.0.bias", 7),
                OffsetApprox: Load($"{w}adapt_split.offset_project_approx.0.weight", Quarter, T * T),
                OffsetDetail: Load($"{w}adapt_split.offset_project_detail.0.weight", Quarter, T * T),
                XaNormWeight: Load($"{w}xa_norm.weight", LadmDim),
                XaNormBias: Load($"{w}xa_norm.bias", LadmDim),
                XdNormWeight: Load($"{w}xd_norm.weight", LadmDim),
                XdNormBias: Load($"{w}xd_norm.bias", LadmDim),
                OutNorm1Weight: Load($"{w}out_norm1.weight", LadmDim),
                OutNorm1Bias: Load($"{w}out_norm1.bias", LadmDim),
                OutNorm2Weight: Load($"{w}out_norm2.weight", LadmDim),
                OutNorm2Bias: Load($"{w}out_norm2.bias", LadmDim),
                QkvWeight: Load($"{w}qkv.weight", 3 * LadmDim, LadmDim),
                QkvBias: Load($"{w}qkv.bias", 3 * LadmDim),
                ProjWeight: Load($"{w}project.0.weight", LadmDim, LadmDim),
                ProjBias: Load($"{w}project.0.bias", LadmDim),
                Mlp1Weight: Load($"{w}mlp.0.weight", 4 * LadmDim, LadmDim),
                Mlp1Bias: Load($"{w}mlp.0.bias", 4 * LadmDim),
                Mlp2Weight: Load($"{w}mlp.3.weight", LadmDim, 4 * LadmDim),
                Mlp2Bias: Load($"{w}mlp.3.bias", LadmDim),
                CompressWeight: Load($"{w}project_compress.weight", 1, Quarter * Spatial));
            _headWeight = Load("head.head.1.weight", Classes, LadmDim);
            _headBias = Load("head.head.1.bias", Classes);

            StateDictArguments.RefuseUnused(stateDict, used);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The precision the model computes in.</summary>
    public ScalarType DType => _dtype;

    /// <summary>Runs the model on <paramref name="batch"/> clips (one at a time: the model has no
    /// coupling between batch items, and this bounds the memory of the large attention maps).</summary>
    /// <param name="clips">Row-major float32 data of shape [batch, 16, 3, 224, 224] (clip, frame, RGB,
    /// H, W), pixels in [0, 1], no mean/std normalisation.</param>
    /// <param name="batch">Number of clips, at least 1.</param>
    /// <returns>Logits [batch, 7], row-major.</returns>
    public float[] Forward(float[] clips, int batch)
    {
        CheckInput(clips, batch);
        var logits = new float[batch * Classes];
        for (int b = 0; b < batch; b++)
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var result = Run(Clip(clips, b), tap: null);
            ToFloats(result).CopyTo(logits, b * Classes);
        }
        return logits;
    }

    /// <summary>The same pass as <see cref="Forward"/>, also returning the named intermediates of
    /// <see cref="IntermediateShapes"/>, each row-major with the batch dimension first.</summary>
    public IReadOnlyDictionary<string, float[]> ForwardWithIntermediates(float[] clips, int batch)
    {
        CheckInput(clips, batch);
        var perClip = IntermediateShapes.ToDictionary(
            e => e.Name, e => e.Shape.Aggregate(1L, (a, b) => a * b), StringComparer.Ordinal);
        var result = IntermediateShapes.ToDictionary(
            e => e.Name, e => new float[batch * perClip[e.Name]], StringComparer.Ordinal);
        for (int b = 0; b < batch; b++)
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            void Tap(string name, Tensor value)
            {
                var data = ToFloats(value);
                if (data.LongLength != perClip[name])
                    throw new InvalidOperationException(
                        $"Intermediate '{name}' has {data.LongLength} values, expected {perClip[name]}.");
                data.CopyTo(result[name], b * perClip[name]);
                seen.Add(name);
            }
            Tap("logits", Run(Clip(clips, b), Tap));
            if (seen.Count != perClip.Count)
                throw new InvalidOperationException("Some intermediates were never produced.");
        }
        return result;
    }

    /// <summary>Frees the native tensors holding the weights.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var parameter in _owned)
            parameter.Dispose();
        _owned.Clear();
    }

    private void CheckInput(float[] clips, int batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        long perClip = (long)Frames * Channels * Size * Size;
        if (clips.LongLength != batch * perClip)
            throw new ArgumentException(
                $"Expected {batch} × {perClip} values for shape [{batch},{Frames},{Channels},{Size},{Size}], "
                + $"got {clips.LongLength}.",
                nameof(clips));
    }

    /// <returns>Clip <paramref name="b"/> as the original's input, (1, 3, 16, 224, 224) in the model's dtype.</returns>
    private Tensor Clip(float[] clips, int b)
    {
        long perClip = (long)Frames * Channels * Size * Size;
        var slice = clips.AsSpan((int)(b * perClip), (int)perClip).ToArray();
        return tensor(slice, [1, Frames, Channels, Size, Size], ScalarType.Float32)
            .to_type(_dtype)
            .permute(0, 2, 1, 3, 4)
            .contiguous();
    }

    private static float[] ToFloats(Tensor t) => t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();

    /// <summary>The whole forward pass on x (B, 3, 16, 224, 224).</summary>
    /// <returns>Logits (B, 7).</returns>
    private Tensor Run(Tensor x, Action<string, Tensor>? tap)
    {
        long batch = x.shape[0];

        // 3.1 Patch embedding and 3.2 tokenisation + class token.
        var embedded = F.conv3d(x, _embedWeight, _embedBias, strides: [2, 4, 4], padding: [1, 3, 3]);
        var tokens = embedded.flatten(2).transpose(1, 2);                       // (B, 25088, 96)
        tap?.Invoke("embed", tokens);
        var seq = cat([_classToken.reshape(1, 1, EmbedDim).expand(batch, 1, EmbedDim), tokens], 1);

        // 3.3 Multiscale blocks; the stage-2 tap is block 7's output, not normalised.
        Tensor stage2 = null!;
        for (int i = 0; i < _blocks.Length; i++)
        {
            seq = BlockForward(seq, _blocks[i]);
            tap?.Invoke($"block{i}", seq);
            if (i == 7)
                stage2 = seq;
        }
        var stage3 = F.layer_norm(seq, [LadmDim], _normWeight, _normBias, BackboneEps);
        tap?.Invoke("stage3", stage3);

        // 3.4 Pyramid aggregation, class tokens dropped, frames folded into the batch.
        var map2 = stage2.narrow(1, 1, T * 14 * 14)
            .reshape(batch, T, 14, 14, 384).permute(0, 1, 4, 2, 3).reshape(batch * T, 384, 14, 14);
        // (B*8, 384, 7, 7)
        var pan = F.conv2d(map2, _panWeight, null, strides: [2, 2], padding: [2, 2], dilation: [2, 2]);
        tap?.Invoke("pan", MapToTokens(pan, batch));
        var map3 = stage3.narrow(1, 1, T * Spatial)
            .reshape(batch, T, 7, 7, LadmDim).permute(0, 1, 4, 2, 3).reshape(batch * T, LadmDim, 7, 7);
        var fused = F.conv2d(cat([pan, map3], 1), _catConvWeight);              // (B*8, 768, 7, 7)
        var y = MapToTokens(fused, batch);                                      // (B, 392, 768)
        tap?.Invoke("Y", y);

        // 3.5 LADM.
        var feat = LadmForward(y, tap);
        tap?.Invoke("feat", feat);

        // 3.6 Head (dropout is the identity in eval).
        return F.linear(feat, _headWeight, _headBias);
    }

    /// <summary>(B*8, C, 7, 7) frames back to tokens (B, 8*49, C), token n = t*49 + h*7 + w.</summary>
    private static Tensor MapToTokens(Tensor map, long batch)
    {
        long c = map.shape[1];
        return map.reshape(batch, T, c, 7, 7).permute(0, 1, 3, 4, 2).reshape(batch, T * Spatial, c);
    }

    private sealed record Pool(Tensor Weight, Tensor NormWeight, Tensor NormBias);

    private sealed record Block(
        int Heads, int CIn, int COut, int InHw, int StrideQ, int StrideKv,
        Tensor Norm1Weight, Tensor Norm1Bias, Tensor Norm2Weight, Tensor Norm2Bias,
        Tensor RelPosH, Tensor RelPosW, Tensor RelPosT,
        Tensor QkvWeight, Tensor QkvBias, Tensor ProjWeight, Tensor ProjBias,
        Pool PoolQ, Pool PoolK, Pool PoolV,
        Tensor Mlp1Weight, Tensor Mlp1Bias, Tensor Mlp2Weight, Tensor Mlp2Bias,
        Tensor? SkipWeight, Tensor? SkipBias);

    /// <summary>One MViTv2 multiscale block (spec 3.3, steps 1-12) on x (B, N_in, C_in).</summary>
    private static Tensor BlockForward(Tensor x, Block blk)
    {
        long batch = x.shape[0];
        long nIn = x.shape[1];
        int hwIn = blk.InHw;
        int hwQ = (hwIn - 1) / blk.StrideQ + 1, hwK = (hwIn - 1) / blk.StrideKv + 1;

        // 1-2. norm1, qkv, split into heads: channel layout [q | k | v], each [head 0 | head 1 | ...].
        var xn = F.layer_norm(x, [blk.CIn], blk.Norm1Weight, blk.Norm1Bias, BackboneEps);
        var qkv = F.linear(xn, blk.QkvWeight, blk.QkvBias)
            .reshape(batch, nIn, 3, blk.Heads, HeadDim)
            .permute(2, 0, 3, 1, 4);                                            // (3, B, heads, N_in, 96)
        var q = qkv[0];
        var k = qkv[1];
        var v = qkv[2];

        // 3. Pooling.
        q = PoolForward(q, hwIn, blk.StrideQ, blk.PoolQ);
        k = PoolForward(k, hwIn, blk.StrideKv, blk.PoolK);
        v = PoolForward(v, hwIn, blk.StrideKv, blk.PoolV);

        // 4-5. Logits with the decomposed relative-position bias from the unscaled pooled q.
        var logits = matmul(q * (1.0 / Math.Sqrt(HeadDim)), k.transpose(-2, -1));
        logits = AddRelPos(logits, q, (T, hwQ, hwQ), (T, hwK, hwK), blk.RelPosT, blk.RelPosH, blk.RelPosW);

        // 6-7. Attention, residual pooling (not on the class-token row).
        var o = matmul(softmax(logits, -1), v);
        o = cat([o.narrow(2, 0, 1), o.narrow(2, 1, o.shape[2] - 1) + q.narrow(2, 1, q.shape[2] - 1)], 2);

        // 8. Merge heads (channel = head*96 + d), output projection.
        long nQ = o.shape[2];
        var a = F.linear(o.transpose(1, 2).reshape(batch, nQ, blk.COut), blk.ProjWeight, blk.ProjBias);

        // 9. Skip path: projection of the normalised input when the width changes, then max-pool.
        var s = blk.SkipWeight is null ? x : F.linear(xn, blk.SkipWeight, blk.SkipBias);
        if (blk.StrideQ != 1)
        {
            long c = s.shape[2];
            var volume = s.narrow(1, 1, nIn - 1)
                .transpose(1, 2).reshape(batch, c, T, hwIn, hwIn);
            var pooled = F.max_pool3d(volume, [1, 3, 3], strides: [1, 2, 2], padding: [0, 1, 1]);
            s = cat([s.narrow(1, 0, 1), pooled.flatten(2).transpose(1, 2)], 1);
        }

        // 10-11.
        var h = s + a;
        var hidden = F.gelu(F.linear(F.layer_norm(h, [blk.COut], blk.Norm2Weight, blk.Norm2Bias, BackboneEps),
            blk.Mlp1Weight, blk.Mlp1Bias));
        return h + F.linear(hidden, blk.Mlp2Weight, blk.Mlp2Bias);
    }

    /// <summary>The <c>Pool</c> module on z (B, heads, N, 96): depthwise 3x3x3 conv on the non-class
    /// tokens (heads folded into the batch), class token re-attached, LayerNorm on all tokens.</summary>
    private static Tensor PoolForward(Tensor z, int hw, int stride, Pool pool)
    {
        long batch = z.shape[0], heads = z.shape[1], n = z.shape[2];
        var cls = z.narrow(2, 0, 1);
        var volume = z.narrow(2, 1, n - 1)
            .reshape(batch * heads, T, hw, hw, HeadDim)
            .permute(0, 4, 1, 2, 3);                                            // (B*heads, 96, T, H, W)
        var pooled = F.conv3d(volume, pool.Weight, null, strides: [1, stride, stride], padding: [1, 1, 1],
            groups: HeadDim);
        var rest = pooled.flatten(2).transpose(1, 2);                           // (B*heads, N'-1, 96)
        var tokens = cat([cls, rest.reshape(batch, heads, rest.shape[1], HeadDim)], 2);
        return F.layer_norm(tokens, [HeadDim], pool.NormWeight, pool.NormBias, BackboneEps);
    }

    /// <summary>MViTv2's relative-position index along one axis, query length <paramref name="qLen"/>
    /// against key length <paramref name="kLen"/>:
    /// <c>I(i, j) = floor(i * max(k/q, 1) - (j - k + 1) * max(q/k, 1))</c>, as a [qLen, kLen] table.</summary>
    internal static long[,] RelPosIndex(int qLen, int kLen)
    {
        double qRatio = Math.Max((double)kLen / qLen, 1.0);
        double kRatio = Math.Max((double)qLen / kLen, 1.0);
        var index = new long[qLen, kLen];
        for (int i = 0; i < qLen; i++)
            for (int j = 0; j < kLen; j++)
                index[i, j] = (long)Math.Floor(i * qRatio - (j - kLen + 1) * kRatio);
        return index;
    }

    /// <summary>Table rows gathered by <see cref="RelPosIndex"/>: (qLen, kLen, 96).</summary>
    private static Tensor GatherRelPos(Tensor table, int qLen, int kLen)
    {
        var index = RelPosIndex(qLen, kLen);
        if (index.Cast<long>().Any(r => r < 0 || r >= table.shape[0]))
            throw new InvalidOperationException($"Relative-position index outside the {table.shape[0]}-row table.");
        var flat = tensor(index.Cast<long>().ToArray(), [qLen * kLen], ScalarType.Int64);
        return table.index_select(0, flat).reshape(qLen, kLen, HeadDim);
    }

    /// <summary>Adds the decomposed relative-position bias to attn[:, :, 1:, 1:] (class-token row and
    /// column get none). <paramref name="q"/> is the pooled, normed, unscaled query (B, heads, N_q, 96).</summary>
    internal static Tensor AddRelPos(Tensor attn, Tensor q, (int T, int H, int W) qThw, (int T, int H, int W) kThw,
        Tensor relT, Tensor relH, Tensor relW)
    {
        long batch = q.shape[0], heads = q.shape[1];
        var rt = GatherRelPos(relT, qThw.T, kThw.T);
        var rh = GatherRelPos(relH, qThw.H, kThw.H);
        var rw = GatherRelPos(relW, qThw.W, kThw.W);
        var u = q.narrow(2, 1, q.shape[2] - 1).reshape(batch, heads, qThw.T, qThw.H, qThw.W, HeadDim);
        var biasT = einsum("bntyxc,tkc->bntyxk", u, rt);                      // (..., k_t)
        var biasH = einsum("bntyxc,ykc->bntyxk", u, rh);                      // (..., k_h)
        var biasW = einsum("bntyxc,xkc->bntyxk", u, rw);                      // (..., k_w)
        var bias = biasT.reshape(batch, heads, qThw.T, qThw.H, qThw.W, kThw.T, 1, 1)
                 + biasH.reshape(batch, heads, qThw.T, qThw.H, qThw.W, 1, kThw.H, 1)
                 + biasW.reshape(batch, heads, qThw.T, qThw.H, qThw.W, 1, 1, kThw.W);
        long nq = (long)qThw.T * qThw.H * qThw.W, nk = (long)kThw.T * kThw.H * kThw.W;
        // Zero row and column in front: the class token's logits are left as they are.
        var padded = F.pad(bias.reshape(batch, heads, nq, nk), [1, 0, 1, 0]);
        return attn + padded;
    }

    private sealed record Ladm(
        Tensor QdWeight, Tensor QdBias, Tensor KvaWeight, Tensor KvaBias,
        Tensor QaWeight, Tensor QaBias, Tensor KvdWeight, Tensor KvdBias,
        Tensor ProjDWeight, Tensor ProjDBias, Tensor ProjAWeight, Tensor ProjABias,
        Tensor IndexEven, Tensor IndexOdd, Tensor DimProjWeight, Tensor DimProjBias,
        Tensor OffsetApprox, Tensor OffsetDetail,
        Tensor XaNormWeight, Tensor XaNormBias, Tensor XdNormWeight, Tensor XdNormBias,
        Tensor OutNorm1Weight, Tensor OutNorm1Bias, Tensor OutNorm2Weight, Tensor OutNorm2Bias,
        Tensor QkvWeight, Tensor QkvBias, Tensor ProjWeight, Tensor ProjBias,
        Tensor Mlp1Weight, Tensor Mlp1Bias, Tensor Mlp2Weight, Tensor Mlp2Bias,
        Tensor CompressWeight);

    /// <summary>LADM (spec 3.5) on Y (B, 392, 768). Returns feat (B, 768).</summary>
    private Tensor LadmForward(Tensor y, Action<string, Tensor>? tap)
    {
        var m = _ladm;
        long batch = y.shape[0];
        var yt = y.reshape(batch, T, Spatial, LadmDim);

        // 3.5.1 ISSM. adaptive_avg_pool2d to 7x7 is the identity on a 7x7 map.
        var features = F.gelu(F.linear(yt, m.DimProjWeight.reshape(7, LadmDim), m.DimProjBias));   // (B, 8, 49, 7)
        var f = features.permute(0, 1, 3, 2).reshape(batch, T, 7 * Spatial);                        // order o*49 + s
        var sim = matmul(f, f.transpose(1, 2)) * (1.0 / LadmDim);                                   // (B, 8, 8)
        var approx = softmax(sim, -1);
        var detail = softmax(-sim, -1);
        var offA = 2 * tanh(F.linear(approx.reshape(batch, T * T), m.OffsetApprox));
        var offD = 2 * tanh(F.linear(detail.reshape(batch, T * T), m.OffsetDetail));
        var idxA = m.IndexEven.reshape(1, Quarter) + offA;
        var idxD = m.IndexOdd.reshape(1, Quarter) + offD;
        tap?.Invoke("idx_a", idxA);
        tap?.Invoke("idx_d", idxD);
        var xa = SampleFrames(yt, idxA);                                                            // (B, 196, 768)
        var xd = SampleFrames(yt, idxD);

        // 3.5.2 WaveNorm (eps 1e-5).
        xa = F.layer_norm(xa, [LadmDim], m.XaNormWeight, m.XaNormBias, LadmEps);
        xd = F.layer_norm(xd, [LadmDim], m.XdNormWeight, m.XdNormBias, LadmEps);

        // 3.5.3 Updater, then Predictor on the updated approximation.
        var xaLift = xa + F.linear(CrossAttention(xa, xd, m.QaWeight, m.QaBias, m.KvdWeight, m.KvdBias),
            m.ProjAWeight, m.ProjABias);
        var xdLift = xd - F.linear(CrossAttention(xd, xaLift, m.QdWeight, m.QdBias, m.KvaWeight, m.KvaBias),
            m.ProjDWeight, m.ProjDBias);
        tap?.Invoke("xd_lift", xdLift);

        // 3.5.4 Detail refinement (plain MHSA with residual), MLP without residual, compression.
        var h = F.layer_norm(xdLift, [LadmDim], m.OutNorm1Weight, m.OutNorm1Bias, LadmEps);
        var qkv = F.linear(h, m.QkvWeight, m.QkvBias).reshape(batch, -1, 3, LadmHeads, HeadDim).permute(2, 0, 3, 1, 4);
        var attended = MultiHead(qkv[0], qkv[1], qkv[2]);
        var refined = xdLift + F.linear(attended, m.ProjWeight, m.ProjBias);
        var z = F.linear(F.gelu(F.linear(F.layer_norm(refined, [LadmDim], m.OutNorm2Weight, m.OutNorm2Bias, LadmEps),
            m.Mlp1Weight, m.Mlp1Bias)), m.Mlp2Weight, m.Mlp2Bias);
        tap?.Invoke("Z", z);
        return matmul(m.CompressWeight, z).reshape(batch, LadmDim);             // sum_n wc[n] Z[b, n, :]
    }

    /// <summary>ISSM sampling exactly as the original: <c>normalize_grid</c> (g = 2 idx / 7 - 1, the
    /// align_corners=True formula for 8 frames) then <c>F.grid_sample</c> (bilinear, border,
    /// align_corners=False) on the frames viewed as a (B, S*C, 8, 1) image with grid (x = 0, y = g).
    /// The effective position is p = clamp(8/7 idx - 0.5, 0, 7).</summary>
    /// <param name="frames">(B, 8, S, C).</param>
    /// <param name="idx">(B, K) fractional frame indices.</param>
    /// <returns>(B, K*S, C), token k*S + s.</returns>
    internal static Tensor SampleFrames(Tensor frames, Tensor idx)
    {
        long batch = frames.shape[0], n = frames.shape[1], s = frames.shape[2], c = frames.shape[3];
        long kCount = idx.shape[1];
        var image = frames.permute(0, 2, 3, 1).reshape(batch, s * c, n, 1);
        var g = 2 * idx / (n - 1) - 1;                                                              // (B, K)
        var grid = stack([zeros_like(g), g], -1).reshape(batch, kCount, 1, 2);                     // (x, y)
        var sampled = F.grid_sample(image, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border,
            align_corners: false);
        return sampled.reshape(batch, s, c, kCount).permute(0, 3, 1, 2).reshape(batch, kCount * s, c);
    }

    /// <summary>LADM cross-attention with value residual: softmax(Q K^T / sqrt 96) V + V, heads merged.</summary>
    private static Tensor CrossAttention(Tensor qIn, Tensor kvIn, Tensor wq, Tensor bq, Tensor wkv, Tensor bkv)
    {
        long batch = qIn.shape[0];
        Tensor Heads(Tensor t) => t.reshape(batch, t.shape[1], LadmHeads, HeadDim).transpose(1, 2);
        var q = Heads(F.linear(qIn, wq, bq));
        var kv = F.linear(kvIn, wkv, bkv);
        var k = kv.narrow(2, 0, LadmDim);
        var v = kv.narrow(2, LadmDim, LadmDim);
        return MultiHead(q, Heads(k), Heads(v)) + v;
    }

    /// <summary>softmax((q / sqrt 96) k^T) v per head, heads merged to (B, N, heads*96).</summary>
    private static Tensor MultiHead(Tensor q, Tensor k, Tensor v)
    {
        var o = matmul(softmax(matmul(q * (1.0 / Math.Sqrt(HeadDim)), k.transpose(-2, -1)), -1), v);
        return o.transpose(1, 2).reshape(q.shape[0], q.shape[2], q.shape[1] * HeadDim);
    }
}
