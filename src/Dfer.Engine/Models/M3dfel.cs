using Dfer.Media;
using Dfer.Ops;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Lstm;
using Dfer.Ops.Permute;
using Dfer.Ops.Reshape;
using Dfer.Ops.Softmax;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Models;

/// <summary>
/// M3DFEL (CVPR 2023): r3d_18 on four 4-frame instances of a 16-frame clip, a 2-layer BiLSTM,
/// 8-head self-attention, DMIN, sigmoid gating, a 4→1 conv1d and a 7-way classifier.
/// Semantics follow docs/models/m3dfel.md; BatchNorm is folded into the convolutions here.
/// </summary>
public sealed class M3dfel : IModel
{
    private const int Frames = 16, Instances = 4, Hidden = 512, Heads = 8;

    /// <summary>M3DFEL's frames are 112×112 (the size it was trained at).</summary>
    public const int NativeSize = 112;

    private readonly int Size;

    /// <summary>
    /// M3DFEL at its native frame size, or at another <paramref name="size"/>: the same weights and
    /// graph on smaller frames (adaptive pooling makes it well defined), which cross-backend checks
    /// use to keep slow backends quick. Scores are only meaningful at the native size.
    /// </summary>
    /// <param name="size">The frames' side in pixels.</param>
    /// <param name="classes">The order of the checkpoint's outputs (the dataset it was trained on).</param>
    public M3dfel(int size = NativeSize, ClassOrder classes = ClassOrder.Dfew)
    {
        Classes = EmotionClasses.Of(classes);
        if (size < 16)
            throw new ArgumentOutOfRangeException(nameof(size), size,
                "M3DFEL needs frames of at least 16x16 (four stride-2 stages)");
        Size = size;
        Protocol = new(Frames, Size, ResizeFilter.Bilinear, ClipLayout.TimeChannel, FrameSampling.Spread);
    }
    private static readonly int[] Widths = { 64, 128, 256, 512 };

    public string Name => "m3dfel";
    public int[] ClipShape => new[] { Frames, 3, Size, Size };

    /// <summary>
    /// The official DFEW test loader: frame i of 16 is <c>int(N*i/16)</c> (optionally jittered),
    /// PIL bilinear resize to 112×112, /255, laid out [T, C, H, W].
    /// </summary>
    public ClipProtocol Protocol { get; }
    public IReadOnlyList<string> Classes { get; }

    public IReadOnlyList<(string Name, long[] Shape)> StateDictKeys { get; } = Keys();

    private static List<(string, long[])> Keys()
    {
        var k = new List<(string, long[])>();
        void Conv(string p, int cout, int cin, int kt, int kh, int kw)
        {
            k.Add(($"{p}.0.weight", new long[] { cout, cin, kt, kh, kw }));
            foreach (var s in new[] { "weight", "bias", "running_mean", "running_var" })
                k.Add(($"{p}.1.{s}", new long[] { cout }));
            k.Add(($"{p}.1.num_batches_tracked", Array.Empty<long>()));
        }
        Conv("features.0", 64, 3, 3, 7, 7);
        int cin = 64;
        for (int l = 1; l <= 4; l++)
        {
            int w = Widths[l - 1];
            for (int b = 0; b < 2; b++)
            {
                Conv($"features.{l}.{b}.conv1", w, b == 0 ? cin : w, 3, 3, 3);
                Conv($"features.{l}.{b}.conv2", w, w, 3, 3, 3);
                if (l > 1 && b == 0) Conv($"features.{l}.0.downsample", w, cin, 1, 1, 1);
            }
            cin = w;
        }
        for (int l = 0; l < 2; l++)
            foreach (var dir in new[] { "", "_reverse" })
            {
                k.Add(($"lstm.weight_ih_l{l}{dir}", new long[] { 4 * Hidden, l == 0 ? 512 : 2 * Hidden }));
                k.Add(($"lstm.weight_hh_l{l}{dir}", new long[] { 4 * Hidden, Hidden }));
                k.Add(($"lstm.bias_ih_l{l}{dir}", new long[] { 4 * Hidden }));
                k.Add(($"lstm.bias_hh_l{l}{dir}", new long[] { 4 * Hidden }));
            }
        k.Add(("to_qkv.weight", new long[] { 3 * 2 * Hidden, 2 * Hidden }));
        k.Add(("norm.weight", new long[] { 1, 2 * Hidden, 1 }));
        k.Add(("norm.bias", new long[] { 1, 2 * Hidden, 1 }));
        k.Add(("norm.mean_weight", new long[] { 2 }));
        k.Add(("norm.var_weight", new long[] { 2 }));
        k.Add(("pwconv.weight", new long[] { 1, Instances, 3 }));
        k.Add(("pwconv.bias", new long[] { 1 }));
        k.Add(("fc.weight", new long[] { 7, 2 * Hidden }));
        k.Add(("fc.bias", new long[] { 7 }));
        return k;
    }

    public Graph Build(StateDict sd)
    {
        Runtime.WeightSanity.Validate(sd, "M3DFEL", StateDictKeys);
        var g = new Graph();
        // [B,16,3,H,W] → instances [B·4, 4 frames, H, W, 3], channels-last for the convolutions.
        int x = g.Add("instances",
            new PermuteOp(new[] { -1, Instances, Frames / Instances, 3, Size, Size }, new[] { 0, 1, 2, 4, 5, 3 },
            new[] { -1, Frames / Instances, Size, Size, 3 }), Graph.Input);
        x = g.Add("features.0", FoldedConv(sd, "features.0", (1, 2, 2), (1, 3, 3), relu: true, residual: false), x);
        for (int l = 1; l <= 4; l++)
            for (int b = 0; b < 2; b++)
            {
                string p = $"features.{l}.{b}";
                int s = l > 1 && b == 0 ? 2 : 1;
                int c1 = g.Add($"{p}.conv1",
                    FoldedConv(sd, $"{p}.conv1", (s, s, s), (1, 1, 1), relu: true, residual: false), x);
                int identity = s == 2
                    ? g.Add($"{p}.downsample",
                    FoldedConv(sd, $"{p}.downsample", (2, 2, 2), (0, 0, 0), relu: false, residual: false), x) : x;
                x = g.Add($"{p}.conv2", FoldedConv(sd, $"{p}.conv2", (1, 1, 1), (1, 1, 1), relu: true, residual: true),
                    c1, identity);
            }
        x = g.Add("features.5", new AvgPool3dOp(), x);
        x = g.Add("instances.view", new ReshapeOp(-1, Instances, 512), x);
        int ori = g.Add("lstm", new LstmOp(512, Hidden, true, Enumerable.Range(0, 2).Select(l =>
            new[] { "", "_reverse" }.Select(d => new LstmCell(
                sd[$"lstm.weight_ih_l{l}{d}"].Data, sd[$"lstm.weight_hh_l{l}{d}"].Data,
                sd[$"lstm.bias_ih_l{l}{d}"].Data, sd[$"lstm.bias_hh_l{l}{d}"].Data)).ToArray()).ToArray()), x);
        // Steps 4-8 of docs/models/m3dfel.md (to_qkv, attention, DMIN, gate, pwconv, fc) as one fused op.
        int logits = g.Add("head",
            new AttentionPoolOp(2 * Hidden, Heads, Instances, EmotionClasses.Seven.Count, new AttentionPoolWeights
            {
                Qkv = sd["to_qkv.weight"].Data,
                MeanWeight = sd["norm.mean_weight"].Data,
                VarWeight = sd["norm.var_weight"].Data,
                NormWeight = sd["norm.weight"].Data,
                NormBias = sd["norm.bias"].Data,
                Eps = 1e-5,
                ConvKernel = 3,
                ConvPad = 1,
                ConvWeight = sd["pwconv.weight"].Data,
                ConvBias = sd["pwconv.bias"].Data[0],
                FcWeight = sd["fc.weight"].Data,
                FcBias = sd["fc.bias"].Data,
            }), ori);
        int probs = g.Add("probabilities", new SoftmaxOp(), logits);
        g.Outputs["logits"] = logits;
        g.Outputs["probabilities"] = probs;
        return g;
    }

    /// <summary>
    /// conv (no bias) → eval BatchNorm folded: <c>W' = W·γ/√(σ²+ε)</c>, <c>b' = β −
    /// μ·γ/√(σ²+ε)</c>, computed in double.
    /// </summary>
    private static Conv3dOp FoldedConv(StateDict sd, string prefix, (int, int, int) stride, (int, int, int) pad,
        bool relu, bool residual)
    {
        var w = sd[$"{prefix}.0.weight"];
        int cout = (int)w.Shape[0], cin = (int)w.Shape[1];
        var kernel = ((int)w.Shape[2], (int)w.Shape[3], (int)w.Shape[4]);
        var (folded, bias) = BatchNormFold.Fold(sd, $"{prefix}.0.weight", $"{prefix}.1");
        return new Conv3dOp(cin, cout, kernel, stride, pad, folded, bias, relu, residual);
    }

    /// <summary>
    /// Kaiming-scaled convolutions, BatchNorm statistics near identity, PyTorch-default uniform
    /// LSTM/linear weights: activations keep their scale through the network, so the logits are
    /// as sensitive to numerical error as a trained model's.
    /// </summary>
    public StateDict GenerateWeights(ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var sd = new StateDict($"generated weights (seed {seed})");
        foreach (var (name, shape) in StateDictKeys)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            float[] data;
            if (name.EndsWith("num_batches_tracked")) data = new float[] { 0 };
            else if (name.EndsWith(".0.weight") && shape.Length == 5)
            {
                double fanIn = shape[1] * shape[2] * shape[3] * shape[4];
                float bound = (float)Math.Sqrt(6.0 / fanIn);
                data = rng.Uniform(n, -bound, bound);
            }
            else if (name.EndsWith(".1.weight")) data = rng.Uniform(n, 0.5f, 1.2f);
            else if (name.EndsWith(".1.bias") || name.EndsWith("running_mean")) data = rng.Uniform(n, -0.1f, 0.1f);
            else if (name.EndsWith("running_var")) data = rng.Uniform(n, 0.5f, 1.5f);
            else if (name.StartsWith("norm.weight")) data = rng.Uniform(n, 0.8f, 1.2f);
            else if (name.StartsWith("norm.")) data = rng.Uniform(n, -0.2f, 0.2f);
            else if (name is "pwconv.weight" or "fc.weight")
            {
                // He-uniform and near-zero biases: with PyTorch's defaults pwconv's bias dwarfs the
                // gated features and the logits would hardly depend on the clip.
                float bound = (float)Math.Sqrt(6.0 / (n / shape[0]));
                data = rng.Uniform(n, -bound, bound);
            }
            else if (name is "pwconv.bias" or "fc.bias") data = rng.Uniform(n, -0.01f, 0.01f);
            else
            {
                double fanIn = name.StartsWith("lstm") ? Hidden : shape.Length > 1
                    ? shape[1] * (shape.Length > 2 ? shape[2] : 1) : 1;
                float bound = (float)(1.0 / Math.Sqrt(fanIn));
                data = rng.Uniform(n, -bound, bound);
            }
            sd.Add(name, name.EndsWith("num_batches_tracked") ? DType.I64 : DType.F32, shape, data);
        }
        return sd;
    }
}
