using Dfer.Media;
using Dfer.Ops;
using Dfer.Ops.AdaptiveSplit;
using Dfer.Ops.Add;
using Dfer.Ops.Attention;
using Dfer.Ops.ClassToken;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Gelu;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Lifting;
using Dfer.Ops.Linear;
using Dfer.Ops.Permute;
using Dfer.Ops.RelPosAttention;
using Dfer.Ops.Reshape;
using Dfer.Ops.Slice;
using Dfer.Ops.Softmax;
using Dfer.Ops.TokenMaxPool;
using Dfer.Ops.TokenPool;
using Dfer.Primitives;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Models;

/// <summary>
/// IFDD (Implicit Facial Dynamics Disentanglement, 2024), DFEW configuration: a 3D patch embedding,
/// ten MViTv2 blocks (pooling attention with decomposed relative positions and residual pooling),
/// a two-stage pyramid fusion, then the wavelet-lifting module — ISSM's adaptive split of the 8 time
/// steps, the lifting Updater and Predictor, detail refinement and a learned token compression —
/// and a linear head. Semantics follow docs/models/ifdd.md section by section.
/// </summary>
public sealed class Ifdd : IModel
{
    private const int Frames = 16, Size = 224, HeadDim = 96, LadmHeads = 8, LadmDim = 768;
    private const int T = 8, Groups = 4, Spatial = 49;
    private const double BackboneEps = 1e-6, LadmEps = 1e-5;
    private const string B = "backbone.backbone.", W = "backbone.WaveLifts.";

    /// <summary>One multiscale block of IFDD's MFViT_XS backbone (docs/models/ifdd.md §3.3).</summary>
    private sealed record BlockSpec(int Heads, int Cin, int Cout, (int T, int H, int W) Grid, int StrideQ, int StrideKv)
    {
        public (int T, int H, int W) QGrid => (Grid.T, Pooled(Grid.H, StrideQ), Pooled(Grid.W, StrideQ));
        public (int T, int H, int W) KGrid => (Grid.T, Pooled(Grid.H, StrideKv), Pooled(Grid.W, StrideKv));
        public int SpatialTableRows => 2 * Math.Max(QGrid.H, KGrid.H) - 1;
        private static int Pooled(int n, int s) => (n - 1) / s + 1;
    }

    private static readonly BlockSpec[] Blocks =
    {
        new(1, 96, 96, (8, 56, 56), 1, 8),
        new(2, 96, 192, (8, 56, 56), 2, 4),
        new(2, 192, 192, (8, 28, 28), 1, 4),
        new(4, 192, 384, (8, 28, 28), 2, 2),
        new(4, 384, 384, (8, 14, 14), 1, 2),
        new(4, 384, 384, (8, 14, 14), 1, 2),
        new(4, 384, 384, (8, 14, 14), 1, 2),
        new(4, 384, 384, (8, 14, 14), 1, 2),
        new(8, 384, 768, (8, 14, 14), 2, 1),
        new(8, 768, 768, (8, 7, 7), 1, 1),
    };

    public string Name => "ifdd";
    public int[] ClipShape => new[] { Frames, 3, Size, Size };

    /// <summary>
    /// IFDD's DFEW test loader: every complete window of 16 consecutive frames is a clip (logits are
    /// averaged over them), frames bicubic-resized to 224×224 when they are not already, /255, no
    /// mean/std normalisation; clips are laid out [T, C, H, W] like every Dfer model's input.
    /// </summary>
    public ClipProtocol Protocol { get; } =
        new(Frames, Size, ResizeFilter.Bicubic, ClipLayout.TimeChannel, FrameSampling.Windows);
    public IReadOnlyList<string> Classes { get; }

    /// <param name="classes">The order of the checkpoint's outputs (the dataset it was trained on).</param>
    public Ifdd(ClassOrder classes = ClassOrder.Dfew) => Classes = EmotionClasses.Of(classes);

    public IReadOnlyList<(string Name, long[] Shape)> StateDictKeys { get; } = Keys();

    /// <summary>State-dict keys that load (the original module has them) but the forward pass never reads.</summary>
    public static readonly IReadOnlySet<string> UnusedKeys = new HashSet<string>
    {
        W + "spatial_pos", W + "temporal_pos", W + "class_pos",
        W + "adapt_split.time_project.0.weight", W + "adapt_split.time_project.0.bias",
        W + "adapt_split.time_project.2.weight", W + "adapt_split.time_project.2.bias",
    };

    private static List<(string, long[])> Keys()
    {
        var k = new List<(string, long[])>();
        void Add(string name, params long[] shape) => k.Add((name, shape));
        void LinearKeys(string p, long outF, long inF) { Add(p + ".weight", outF, inF); Add(p + ".bias", outF); }
        void Norm(string p, long c) { Add(p + ".weight", c); Add(p + ".bias", c); }

        Add("embed.conv_proj.weight", 96, 3, 3, 7, 7);
        Add("embed.conv_proj.bias", 96);
        Add(B + "pos_encoding.class_token", 96);
        for (int i = 0; i < Blocks.Length; i++)
        {
            var s = Blocks[i];
            string p = $"{B}blocks.{i}.";
            Norm(p + "norm1", s.Cin);
            Norm(p + "norm2", s.Cout);
            Add(p + "attn.rel_pos_h", s.SpatialTableRows, HeadDim);
            Add(p + "attn.rel_pos_w", s.SpatialTableRows, HeadDim);
            Add(p + "attn.rel_pos_t", 2 * T - 1, HeadDim);
            LinearKeys(p + "attn.qkv", 3 * s.Cout, s.Cin);
            LinearKeys(p + "attn.project.0", s.Cout, s.Cout);
            foreach (var z in new[] { "q", "k", "v" })
            {
                Add($"{p}attn.pool_{z}.pool.weight", HeadDim, 1, 3, 3, 3);
                Norm($"{p}attn.pool_{z}.norm_act.0", HeadDim);
            }
            LinearKeys(p + "mlp.0", 4 * s.Cout, s.Cout);
            LinearKeys(p + "mlp.3", s.Cout, 4 * s.Cout);
            if (s.Cin != s.Cout) LinearKeys(p + "project", s.Cout, s.Cin);
        }
        Norm(B + "norm", 768);
        Add("backbone.PANLayer.0.weight", 384, 384, 3, 3);
        Add("backbone.CatConv.weight", 768, 1152, 1, 1);
        Add(W + "spatial_pos", Spatial, LadmDim);
        Add(W + "temporal_pos", T, LadmDim);
        Add(W + "class_pos", LadmDim);
        LinearKeys(W + "q_d", LadmDim, LadmDim);
        LinearKeys(W + "kv_a", 2 * LadmDim, LadmDim);
        LinearKeys(W + "q_a", LadmDim, LadmDim);
        LinearKeys(W + "kv_d", 2 * LadmDim, LadmDim);
        LinearKeys(W + "project_d.0", LadmDim, LadmDim);
        LinearKeys(W + "project_a.0", LadmDim, LadmDim);
        Add(W + "adapt_split.index_even", Groups);
        Add(W + "adapt_split.index_odd", Groups);
        Add(W + "adapt_split.dim_project.0.weight", 7, LadmDim, 1, 1);
        Add(W + "adapt_split.dim_project.0.bias", 7);
        LinearKeys(W + "adapt_split.time_project.0", T, T);
        LinearKeys(W + "adapt_split.time_project.2", 1, T);
        Add(W + "adapt_split.offset_project_approx.0.weight", Groups, T * T);
        Add(W + "adapt_split.offset_project_detail.0.weight", Groups, T * T);
        foreach (var n in new[] { "xa_norm", "xd_norm", "out_norm1", "out_norm2" }) Norm(W + n, LadmDim);
        LinearKeys(W + "qkv", 3 * LadmDim, LadmDim);
        LinearKeys(W + "project.0", LadmDim, LadmDim);
        LinearKeys(W + "mlp.0", 4 * LadmDim, LadmDim);
        LinearKeys(W + "mlp.3", LadmDim, 4 * LadmDim);
        Add(W + "project_compress.weight", 1, Groups * Spatial);
        LinearKeys("head.head.1", 7, LadmDim);
        return k;
    }

    public Graph Build(StateDict sd)
    {
        Runtime.WeightSanity.Validate(sd, "IFDD", StateDictKeys);
        var g = new Graph();
        float[] P(string name) => sd[name].Data;
        LinearOp Lin(string p, bool bias = true)
        {
            var w = sd[p + ".weight"];
            return new LinearOp((int)w.Shape[1], (int)w.Shape[0], w.Data, bias ? P(p + ".bias") : null);
        }
        LayerNormOp Norm(string p, double eps) => new(P(p + ".weight").Length, P(p + ".weight"), P(p + ".bias"), eps);

        // 3.1 patch embedding on channels-last frames: [B,16,3,224,224] → [B,16,224,224,3] → [B,8,56,56,96].
        int x = g.Add("embed.layout",
            new PermuteOp(new[] { -1, Frames, 3, Size, Size }, new[] { 0, 1, 3, 4, 2 },
            new[] { -1, Frames, Size, Size, 3 }), Graph.Input);
        x = g.Add("embed.conv_proj",
            new Conv3dOp(3, 96, (3, 7, 7), (2, 4, 4), (1, 3, 3), P("embed.conv_proj.weight"), P("embed.conv_proj.bias"),
            false, false), x);
        // 3.2 tokens n = (t·56 + h)·56 + w, class token first.
        x = g.Add("embed.tokens", new ReshapeOp(-1, T * 56 * 56, 96), x);
        x = g.Add("pos_encoding.class_token", new ClassTokenOp(P(B + "pos_encoding.class_token")), x);

        int stage2 = -1;
        for (int i = 0; i < Blocks.Length; i++)
        {
            if (i == 8) stage2 = x;   // 3.3: outs[2] is the sequence entering block 8, not normalised.
            x = Block(g, sd, i, Blocks[i], x);
        }
        int stage3 = g.Add("backbone.norm", Norm(B + "norm", BackboneEps), x);

        // 3.4 pyramid: class tokens dropped; stage 2 (14×14) through the dilated strided conv to 7×7,
        // then CatConv over [PAN | stage 3] as two GEMMs on the two halves of its input channels.
        int s2 = g.Add("fpn.stage2", new SliceOp(1, 1, T * 14 * 14), stage2);
        s2 = g.Add("fpn.stage2.frames", new ReshapeOp(-1, 14, 14, 384), s2);
        var pan = sd["backbone.PANLayer.0.weight"];
        int panOut = g.Add("PANLayer.0", new Conv2dOp(384, 384, (3, 3), (2, 2), (2, 2), (2, 2), pan.Data, null), s2);
        panOut = g.Add("PANLayer.tokens", new ReshapeOp(-1, T * Spatial, 384), panOut);
        int s3 = g.Add("fpn.stage3", new SliceOp(1, 1, T * Spatial), stage3);
        var (catPan, catStage3) = SplitColumns(P("backbone.CatConv.weight"), 768, 1152, 384);
        int yPan = g.Add("CatConv.pan", new LinearOp(384, 768, catPan, null), panOut);
        int yS3 = g.Add("CatConv.stage3", new LinearOp(768, 768, catStage3, null), s3);
        int y = g.Add("CatConv", new AddOp(), yPan, yS3);   // Y [B, 392, 768], token t·49 + s

        // 3.5.1 ISSM: per-frame features GELU(dim_project(Y)), similarities, offsets → fractional indices.
        var dim = sd[W + "adapt_split.dim_project.0.weight"];
        int feat = g.Add("adapt_split.dim_project",
            new LinearOp(LadmDim, 7, dim.Data, P(W + "adapt_split.dim_project.0.bias")), y);
        feat = g.Add("adapt_split.gelu", new GeluOp(), feat);
        feat = g.Add("adapt_split.frames", new ReshapeOp(-1, T, Spatial * 7), feat);
        int idxA = g.Add("adapt_split.approx",
            new AdaptiveSplitOp(T, P(W + "adapt_split.offset_project_approx.0.weight"),
            P(W + "adapt_split.index_even"), 1.0 / LadmDim, 2.0, negate: false), feat);
        int idxD = g.Add("adapt_split.detail",
            new AdaptiveSplitOp(T, P(W + "adapt_split.offset_project_detail.0.weight"),
            P(W + "adapt_split.index_odd"), 1.0 / LadmDim, 2.0, negate: true), feat);

        // 3.5.1 step 7 – 3.5.3: split → WaveNorm → update → predict, one op.
        int frames = g.Add("WaveLifts.frames", new ReshapeOp(-1, T, Spatial, LadmDim), y);
        int xd = g.Add("WaveLifts.lifting", new LiftingOp(LadmHeads, HeadDim, T - 1,
            Norm(W + "xa_norm", LadmEps).Weights, Norm(W + "xd_norm", LadmEps).Weights,
            Lin(W + "q_a").Weights, Lin(W + "kv_d").Weights, Lin(W + "project_a.0").Weights,
            Lin(W + "q_d").Weights, Lin(W + "kv_a").Weights, Lin(W + "project_d.0").Weights), frames, idxA, idxD);

        // 3.5.4 detail refinement (MHSA with residual), MLP without residual, token compression.
        int h = g.Add("WaveLifts.out_norm1", Norm(W + "out_norm1", LadmEps), xd);
        h = g.Add("WaveLifts.qkv", Lin(W + "qkv"), h);
        h = g.Add("WaveLifts.attention", new AttentionOp(LadmHeads, HeadDim), h);
        h = g.Add("WaveLifts.project.0", Lin(W + "project.0"), h);
        xd = g.Add("WaveLifts.refine", new AddOp(), xd, h);
        int z = g.Add("WaveLifts.out_norm2", Norm(W + "out_norm2", LadmEps), xd);
        z = g.Add("WaveLifts.mlp.0", Lin(W + "mlp.0"), z);
        z = g.Add("WaveLifts.mlp.1", new GeluOp(), z);
        z = g.Add("WaveLifts.mlp.3", Lin(W + "mlp.3"), z);
        z = g.Add("WaveLifts.compress.layout",
            new PermuteOp(new[] { -1, Groups * Spatial, LadmDim }, new[] { 0, 2, 1 },
            new[] { -1, LadmDim, Groups * Spatial }), z);
        z = g.Add("WaveLifts.project_compress",
            new LinearOp(Groups * Spatial, 1, P(W + "project_compress.weight"), null), z);
        z = g.Add("WaveLifts.feat", new ReshapeOp(-1, LadmDim), z);

        int logits = g.Add("head.head.1", Lin("head.head.1"), z);
        int probs = g.Add("probabilities", new SoftmaxOp(), logits);
        g.Outputs["logits"] = logits;
        g.Outputs["probabilities"] = probs;
        return g;
    }

    /// <summary>One multiscale block (docs/models/ifdd.md §3.3 steps 1–12) on tokens [B, N_in, C_in] with a class
    /// token first.</summary>
    private static int Block(Graph g, StateDict sd, int i, BlockSpec s, int x)
    {
        string p = $"{B}blocks.{i}.", name = $"blocks.{i}.";
        float[] P(string key) => sd[p + key].Data;
        LinearOp Lin(string key, bool bias = true)
        {
            var w = sd[p + key + ".weight"];
            return new LinearOp((int)w.Shape[1], (int)w.Shape[0], w.Data, bias ? P(key + ".bias") : null);
        }
        LayerNormWeights NormWeights(string key, int c) => new(c, P(key + ".weight"), P(key + ".bias"), BackboneEps);
        LayerNormOp Norm(string key, int c)
        {
            var n = NormWeights(key, c);
            return new LayerNormOp(c, n.Weight, n.Bias, n.Eps);
        }

        int xn = g.Add(name + "norm1", Norm("norm1", s.Cin), x);
        int qkv = g.Add(name + "attn.qkv", Lin("attn.qkv"), xn);
        int Pool(string z, int part, int stride)
            => g.Add($"{name}attn.pool_{z}", new TokenPoolOp(3, part, s.Heads, s.Grid,
            new DepthwiseConv3dWeights(HeadDim, (3, 3, 3), (1, stride, stride), (1, 1, 1),
                P($"attn.pool_{z}.pool.weight"), null),
            NormWeights($"attn.pool_{z}.norm_act.0", HeadDim)), qkv);
        int q = Pool("q", 0, s.StrideQ), k = Pool("k", 1, s.StrideKv), v = Pool("v", 2, s.StrideKv);
        int nq = 1 + s.QGrid.T * s.QGrid.H * s.QGrid.W;
        int o = g.Add(name + "attn", new RelPosAttentionOp(s.Heads, HeadDim, s.QGrid, s.KGrid,
            P("attn.rel_pos_t"), P("attn.rel_pos_h"), P("attn.rel_pos_w")), q, k, v);
        o = g.Add(name + "attn.merge",
            new PermuteOp(new[] { -1, s.Heads, nq, HeadDim }, new[] { 0, 2, 1, 3 }, new[] { -1, nq, s.Cout }), o);
        int a = g.Add(name + "attn.project.0", Lin("attn.project.0"), o);

        int skip = s.Cin != s.Cout ? g.Add(name + "project", Lin("project"), xn) : x;
        if (s.StrideQ != 1)
            skip = g.Add(name + "pool_skip",
                new TokenMaxPoolOp(s.Grid, (1, 3, 3), (1, s.StrideQ, s.StrideQ), (0, 1, 1)), skip);
        x = g.Add(name + "attn.residual", new AddOp(), skip, a);

        int m = g.Add(name + "norm2", Norm("norm2", s.Cout), x);
        m = g.Add(name + "mlp.0", Lin("mlp.0"), m);
        m = g.Add(name + "mlp.1", new GeluOp(), m);
        m = g.Add(name + "mlp.3", Lin("mlp.3"), m);
        return g.Add(name + "mlp.residual", new AddOp(), x, m);
    }

    /// <summary>Splits a row-major [rows, cols] matrix into its first <paramref name="left"/> columns and the
    /// rest.</summary>
    private static (float[] Left, float[] Right) SplitColumns(float[] m, int rows, int cols, int left)
    {
        int right = cols - left;
        var a = new float[rows * left];
        var b = new float[rows * right];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(m, r * cols, a, r * left, left);
            Array.Copy(m, r * cols + left, b, r * right, right);
        }
        return (a, b);
    }

    /// <summary>
    /// PyTorch-default uniform weights (±1/√fan_in), LayerNorm gains near 1, relative-position tables
    /// and the class token large enough to matter, and ISSM offset weights that move the sampling
    /// positions by about a frame: every part of the forward pass visibly shapes the logits.
    /// </summary>
    public StateDict GenerateWeights(ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var sd = new StateDict($"generated weights (seed {seed})");
        foreach (var (name, shape) in StateDictKeys)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            float[] data;
            DType dtype = DType.F32;
            if (name.EndsWith("index_even") || name.EndsWith("index_odd"))
            {
                int first = name.EndsWith("index_even") ? 0 : 1;
                data = Enumerable.Range(0, (int)n).Select(j => (float)(first + 2 * j)).ToArray();
                dtype = DType.I64;
            }
            else if (name.Contains("norm") && name.EndsWith(".weight")) data = rng.Uniform(n, 0.8f, 1.2f);
            else if (name.Contains("norm") && name.EndsWith(".bias")) data = rng.Uniform(n, -0.1f, 0.1f);
            else if (name.Contains("rel_pos")) data = rng.Uniform(n, -0.2f, 0.2f);
            else if (name.EndsWith("class_token")) data = rng.Uniform(n, -0.5f, 0.5f);
            else if (name.Contains("offset_project")) data = rng.Uniform(n, -1f, 1f);
            else if (name == "head.head.1.bias") data = rng.Uniform(n, -0.01f, 0.01f);
            else
            {
                // Fan-in of the weight this key belongs to (a bias takes its weight's).
                var w = name.EndsWith(".bias") ? StateDictKeys.First(e => e.Name == name[..^5] + ".weight").Shape
                    : shape;
                long fanIn = w.Length > 1 ? w.Skip(1).Aggregate(1L, (a, b) => a * b) : w[0];
                float bound = (float)(1.0 / Math.Sqrt(fanIn));
                data = rng.Uniform(n, -bound, bound);
            }
            sd.Add(name, dtype, shape, data);
        }
        return sd;
    }
}
