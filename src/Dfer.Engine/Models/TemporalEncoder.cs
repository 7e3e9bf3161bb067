using System.Globalization;
using Dfer.Ops;
using Dfer.Ops.Add;
using Dfer.Ops.AddAct;
using Dfer.Ops.Attention;
using Dfer.Ops.Gelu;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Linear;
using Dfer.Ops.PosEmbed;
using Dfer.Ops.Softmax;
using Dfer.Weights;

namespace Dfer.Models;

/// <summary>
/// A Temporal Encoder trained elsewhere (docs/models/temporal-encoder.md): input projection, positional term, a
/// PyTorch <c>nn.TransformerEncoder</c> (post- or pre-norm, ReLU or GELU) and a 7-class head, run per chunk of W
/// face frames. Loading checks the JSON config and the state dict against each other and reports every problem, one
/// line each; <see cref="Build"/> turns the weights into a graph of the engine's ops.
/// </summary>
public sealed class TemporalEncoder
{
    private readonly StateDict _weights;

    private TemporalEncoder(StateDict weights, TemporalEncoderConfig config, int dModel, int features,
        int[] feedForward, bool finalNorm)
    {
        _weights = weights;
        Config = config;
        DModel = dModel;
        Features = features;
        FeedForward = feedForward;
        FinalNorm = finalNorm;
    }

    public TemporalEncoderConfig Config { get; }
    /// <summary>Where the weights came from.</summary>
    public string Source => _weights.Source;
    /// <summary>d_model.</summary>
    public int DModel { get; }
    /// <summary>F, the size of the input vectors.</summary>
    public int Features { get; }
    /// <summary>dim_feedforward of each encoder layer.</summary>
    public IReadOnlyList<int> FeedForward { get; }
    public int Layers => FeedForward.Count;
    /// <summary>Whether the encoder ends with its own LayerNorm (<c>encoder.norm</c>).</summary>
    public bool FinalNorm { get; }
    public int Classes => EmotionClasses.Seven.Count;

    /// <summary>A one-line description: layers, sizes and settings.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Layers} layer{(Layers == 1 ? "" : "s")}, d_model {DModel}, {Config.Heads} head"
        + $"{(Config.Heads == 1 ? "" : "s")}, feed-forward {string.Join("/", FeedForward.Distinct())}, "
        + $"{(Config.NormFirst ? "pre" : "post")}-norm, {Config.Activation}, window {Config.Window}, "
        + $"{Config.Positional.ToString().ToLowerInvariant()} positions, on {Config.Features}");

    /// <summary>Loads weights (a PyTorch checkpoint or .safetensors) and the JSON config next to them.</summary>
    /// <exception cref="DferException">One line per problem with the files (<see cref="DferException.Lines"/>).
    /// </exception>
    public static TemporalEncoder Load(string weights)
    {
        if (string.Equals(Path.GetExtension(weights), ".json", StringComparison.OrdinalIgnoreCase))
            throw DferException.ForFile(weights,
                "is the config; give the weights file (.pth or .safetensors) that it sits next to");
        var problems = new List<string>();
        string configPath = TemporalEncoderConfig.PathFor(weights);
        TemporalEncoderConfig? config = TemporalEncoderConfig.Read(configPath, problems);
        StateDict? sd = null;
        try
        {
            sd = StateDict.Load(weights);
        }
        catch (DferException e)
        {
            problems.Add(e.Message);
        }
        if (sd is null || config is null) throw DferException.Several(problems);
        return Create(sd, config);
    }

    /// <summary>Checks a state dict against a config (names, shapes, finite values) and keeps both.</summary>
    /// <exception cref="DferException">One line per problem, each naming <see cref="StateDict.Source"/>.</exception>
    public static TemporalEncoder Create(StateDict sd, TemporalEncoderConfig config)
    {
        ArgumentNullException.ThrowIfNull(sd);
        ArgumentNullException.ThrowIfNull(config);
        var problems = new List<string>();
        void Problem(string text) => problems.Add($"{sd.Source}: {text}");
        int featureSize = TemporalEncoderConfig.FeatureSizes[config.Features];

        int d = DModelOf(sd);
        if (d <= 0)
        {
            Problem("cannot tell d_model: 'input_proj.weight' (expected [d_model, features]) is missing or not a "
                + "matrix; these do not look like Temporal Encoder weights (docs/models/temporal-encoder.md)");
            throw DferException.Several(problems);
        }
        if (d % config.Heads != 0)
            Problem($"d_model {d} is not divisible by \"heads\": {config.Heads} (from the config)");

        var layerIndices = new SortedSet<int>();
        foreach (string name in sd.Names)
            if (name.StartsWith("encoder.layers.", StringComparison.Ordinal))
            {
                string rest = name["encoder.layers.".Length..];
                int dot = rest.IndexOf('.');
                if (dot > 0 && dot <= 4 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture,
                    out int i))
                    layerIndices.Add(i);
            }
        int layers = 0;
        while (layerIndices.Contains(layers)) layers++;
        if (layers == 0) Problem("no encoder layers: expected keys 'encoder.layers.0.…' (nn.TransformerEncoder "
            + "stored as 'encoder')");

        var expected = new List<(string Name, long[] Shape)>
        {
            ("input_proj.weight", [d, featureSize]),
            ("input_proj.bias", [d]),
        };
        if (config.Positional == TemporalPositional.Learned) expected.Add(("pos_embed", [1, config.Window, d]));
        var ff = new int[layers];
        var unknownFeedForward = new List<string>();
        for (int i = 0; i < layers; i++)
        {
            string p = $"encoder.layers.{i}.";
            expected.AddRange(new (string, long[])[]
            {
                (p + "self_attn.in_proj_weight", [3 * d, d]),
                (p + "self_attn.in_proj_bias", [3 * d]),
                (p + "self_attn.out_proj.weight", [d, d]),
                (p + "self_attn.out_proj.bias", [d]),
                (p + "norm1.weight", [d]),
                (p + "norm1.bias", [d]),
                (p + "norm2.weight", [d]),
                (p + "norm2.bias", [d]),
            });
            // dim_feedforward is what linear1.weight says; without a usable linear1.weight the block's other keys
            // cannot be checked and are not reported a second time.
            if (sd.TryGet(p + "linear1.weight", out StateTensor l1) && l1.Shape.Length == 2 && l1.Shape[1] == d
                && l1.Shape[0] is >= 1 and <= 1 << 20)
            {
                ff[i] = (int)l1.Shape[0];
                expected.AddRange(new (string, long[])[]
                {
                    (p + "linear1.weight", [ff[i], d]),
                    (p + "linear1.bias", [ff[i]]),
                    (p + "linear2.weight", [d, ff[i]]),
                    (p + "linear2.bias", [d]),
                });
            }
            else
            {
                unknownFeedForward.Add(p + "linear");
                Problem(l1 is null ? $"missing key '{p}linear1.weight'"
                    : $"'{p}linear1.weight' is {l1.ShapeText}, expected [dim_feedforward, {d}]");
            }
        }
        bool finalNorm = sd.TryGet("encoder.norm.weight", out _) || sd.TryGet("encoder.norm.bias", out _);
        if (finalNorm)
            expected.AddRange(new (string, long[])[] { ("encoder.norm.weight", [d]), ("encoder.norm.bias", [d]) });
        expected.Add(("head.weight", [EmotionClasses.Seven.Count, d]));
        expected.Add(("head.bias", [EmotionClasses.Seven.Count]));

        var want = expected.ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            if (!sd.TryGet(name, out StateTensor t)) Problem($"missing key '{name}'{Hint(name, config, featureSize)}");
            else if (!t.Shape.SequenceEqual(shape))
                Problem($"'{name}' is {t.ShapeText}, expected [{string.Join(", ", shape)}]"
                    + Hint(name, config, featureSize, t.Shape));
        }
        foreach (string name in sd.Names.Where(n => !want.ContainsKey(n)).Order(StringComparer.Ordinal))
        {
            if (unknownFeedForward.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))) continue;
            Problem($"unexpected key {SafeText.Quote(name)}{Hint(name, config, featureSize)}");
        }
        foreach (var (name, _) in expected)
            if (sd.TryGet(name, out StateTensor t) && t.Data.FirstOrDefault(v => !float.IsFinite(v)) is var bad
                && !float.IsFinite(bad))
                Problem($"tensor '{name}' contains {(float.IsNaN(bad) ? "NaN" : "Inf")} (did training diverge?)");
        if (problems.Count > 0) throw DferException.Several(problems);
        return new TemporalEncoder(sd, config, d, featureSize, ff, finalNorm);
    }

    private static int DModelOf(StateDict sd)
    {
        foreach (string key in new[] { "input_proj.weight", "head.weight" })
            if (sd.TryGet(key, out StateTensor t) && t.Shape.Length == 2 && t.Shape[key == "head.weight" ? 1 : 0] is
                >= 1 and <= 1 << 20 and var v)
                return (int)v;
        return 0;
    }

    /// <summary>What a mismatch most likely means, for the keys whose meaning the config decides.</summary>
    private static string Hint(string name, TemporalEncoderConfig c, int featureSize, long[]? shape = null) =>
        name switch
        {
            "input_proj.weight" when shape is { Length: 2 } && shape[1] != featureSize =>
                $": it takes {shape[1]} features, but \"features\": \"{c.Features}\" gives {featureSize}",
            "pos_embed" when c.Positional != TemporalPositional.Learned =>
                $": the config says \"positional\": \"{c.Positional.ToString().ToLowerInvariant()}\"; a learned table "
                + "needs \"positional\": \"learned\"",
            "pos_embed" when shape is { Length: 3 } && shape[1] != c.Window =>
                $": its {shape[1]} positions differ from \"window\": {c.Window}",
            "pos_embed" => ": \"positional\": \"learned\" needs the table",
            _ => "",
        };

    /// <summary>The rows (of W) of the sinusoidal table: <c>PE[l, 2k] = sin(l / 10000^(2k/d))</c>,
    /// <c>PE[l, 2k+1] = cos(l / 10000^(2k/d))</c>, computed in float64.</summary>
    public static float[] SinusoidalTable(int rows, int d)
    {
        var table = new float[(long)rows * d];
        for (int l = 0; l < rows; l++)
            for (int c = 0; c < d; c++)
            {
                double angle = l / Math.Pow(10000.0, (c - c % 2) / (double)d);
                table[(long)l * d + c] = (float)(c % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle));
            }
        return table;
    }

    /// <summary>
    /// The graph of one batch of chunks: input [B, L, F] with 1 ≤ L ≤ W, outputs "logits" and "probabilities"
    /// [B, L, 7] (Dfer's class order).
    /// </summary>
    public Graph Build()
    {
        var w = _weights;
        int d = DModel, heads = Config.Heads;
        var g = new Graph();
        int h = g.Add("input_proj", Linear(w, "input_proj", Features, d), Graph.Input);
        if (Config.Positional != TemporalPositional.None)
        {
            float[] table = Config.Positional == TemporalPositional.Learned ? w["pos_embed"].Data
                : SinusoidalTable(Config.Window, d);
            h = g.Add("positional", new PosEmbedOp(table, Config.Window, d), h);
        }
        for (int i = 0; i < Layers; i++)
        {
            string p = $"encoder.layers.{i}";
            int SelfAttention(int y)
            {
                int qkv = g.Add($"{p}.self_attn.in_proj", new LinearOp(d, 3 * d,
                    w[$"{p}.self_attn.in_proj_weight"].Data, w[$"{p}.self_attn.in_proj_bias"].Data), y);
                int a = g.Add($"{p}.self_attn", new AttentionOp(heads, d / heads), qkv);
                return g.Add($"{p}.self_attn.out_proj", Linear(w, $"{p}.self_attn.out_proj", d, d), a);
            }
            int FeedForwardBlock(int y)
            {
                int f = g.Add($"{p}.linear1", Linear(w, $"{p}.linear1", d, FeedForward[i]), y);
                f = Config.Activation == "gelu" ? g.Add($"{p}.gelu", new GeluOp(), f)
                    : g.Add($"{p}.relu", new AddActOp(1, Activation.Relu), f);
                return g.Add($"{p}.linear2", Linear(w, $"{p}.linear2", FeedForward[i], d), f);
            }
            if (Config.NormFirst)
            {
                h = g.Add($"{p}.sa_residual", new AddOp(), h,
                    SelfAttention(g.Add($"{p}.norm1", Norm(w, $"{p}.norm1"), h)));
                h = g.Add($"{p}.ff_residual", new AddOp(), h,
                    FeedForwardBlock(g.Add($"{p}.norm2", Norm(w, $"{p}.norm2"), h)));
            }
            else
            {
                h = g.Add($"{p}.norm1", Norm(w, $"{p}.norm1"),
                    g.Add($"{p}.sa_residual", new AddOp(), h, SelfAttention(h)));
                h = g.Add($"{p}.norm2", Norm(w, $"{p}.norm2"),
                    g.Add($"{p}.ff_residual", new AddOp(), h, FeedForwardBlock(h)));
            }
        }
        if (FinalNorm) h = g.Add("encoder.norm", Norm(w, "encoder.norm"), h);
        int logits = g.Add("head", Linear(w, "head", d, Classes), h);
        g.Outputs["logits"] = logits;
        g.Outputs["probabilities"] = g.Add("softmax", new SoftmaxOp(), logits);
        return g;
    }

    private static LinearOp Linear(StateDict w, string p, int inFeatures, int outFeatures) =>
        new(inFeatures, outFeatures, w[$"{p}.weight"].Data, w[$"{p}.bias"].Data);

    private LayerNormOp Norm(StateDict w, string p) =>
        new(DModel, w[$"{p}.weight"].Data, w[$"{p}.bias"].Data, Config.LayerNormEps);

    /// <summary>The chunks of <paramref name="count"/> face frames: consecutive runs of W, the last one shorter when W
    /// does not divide the count.</summary>
    public static IEnumerable<(int Start, int Length)> Chunks(int count, int window)
    {
        for (int s = 0; s < count; s += window) yield return (s, Math.Min(window, count - s));
    }
}
