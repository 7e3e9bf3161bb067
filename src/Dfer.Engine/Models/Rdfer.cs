using Dfer.Media;
using Dfer.Ops;
using Dfer.Ops.AddAct;
using Dfer.Ops.Attention;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Conv2d;
using Dfer.Ops.FrameGather;
using Dfer.Ops.Gate;
using Dfer.Ops.KeySample;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Reshape;
using Dfer.Ops.Softmax;
using Dfer.Ops.TemporalShift;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Models;

/// <summary>
/// RDFER (2025): a synopsis stream (SNet: TSM-ResNet-50 on 16 uniformly chosen frames of a 64-frame clip, BiLSTM,
/// attention gate, pwconv) predicts where the expression is; the key-expression sampler turns that into 16 detail
/// frames, which a detail stream (DNet, the same architecture with its own weights) reads, gated by SNet's attention,
/// to give the logits. Semantics follow docs/models/rdfer.md; BatchNorm is folded into the convolutions here. Besides
/// "logits" and "probabilities" the graph outputs "key_frames" ([B, 16], the detail frames' indices into the 64-frame
/// clip, −1 for a black frame) and "snet_logits" (SNet's auxiliary prediction).
/// </summary>
public sealed class Rdfer : IModel
{
    /// <summary>Frames per clip (T).</summary>
    public const int ClipFrames = 64;
    /// <summary>Frames each stream reads: 16 synopsis frames, 16 detail frames (4 keys × 4).</summary>
    public const int StreamFrames = 16;
    private const int Keys = 4, PerKey = 4, ShiftGroup = 4, ShiftFoldDiv = 8, Hidden = 512, Heads = 8,
        Feature = 512, Classes7 = 7;
    private const double LayerNormEps = 1e-5;
    private static readonly int[] Blocks = [3, 4, 6, 3];
    private static readonly int[] Widths = [64, 128, 256, 512];

    /// <summary>RDFER's frames are 112×112.</summary>
    public const int NativeSize = 112;

    /// <summary>The synopsis frames at offset 0: <c>int(linspace(0, 63, 16))</c> (docs/models/rdfer.md, step 1). The
    /// original adds a random offset of 0–2 to each but the last, in eval too; Dfer does not.</summary>
    public static IReadOnlyList<int> SynopsisFrames { get; } = Enumerable.Range(0, StreamFrames)
        .Select(i => (int)(i * (ClipFrames - 1) / (double)(StreamFrames - 1))).ToArray();

    private readonly int Size;

    /// <summary>
    /// RDFER at its native frame size, or at another <paramref name="size"/> (at least 32): the same weights and graph
    /// on smaller frames (global pooling makes it well defined), which cross-backend checks use to keep slow backends
    /// quick. Scores are only meaningful at the native size.
    /// </summary>
    /// <param name="size">The frames' side in pixels.</param>
    /// <param name="classes">The order of the checkpoint's outputs (the dataset it was trained on).</param>
    public Rdfer(int size = NativeSize, ClassOrder classes = ClassOrder.Dfew)
    {
        Classes = EmotionClasses.Of(classes);
        if (size < 32)
            throw new ArgumentOutOfRangeException(nameof(size), size, "RDFER needs frames of at least 32x32");
        Size = size;
        Protocol = new(ClipFrames, Size, ResizeFilter.Bilinear, ClipLayout.TimeChannel, FrameSampling.Spread);
    }

    public string Name => "rdfer";
    public int[] ClipShape => [ClipFrames, 3, Size, Size];

    /// <summary>
    /// The original test loader: frame i of 64 is <c>floor(N·i/64)</c>, Pillow bilinear resize to 112×112 (as
    /// M3DFEL's), /255, no mean/std, laid out [T, C, H, W].
    /// </summary>
    public ClipProtocol Protocol { get; }
    public IReadOnlyList<string> Classes { get; }

    public IReadOnlyList<(string Name, long[] Shape)> StateDictKeys { get; } = KeyList();

    /// <summary>State-dict keys that load (the original module has them) but inference never reads: DNet's
    /// <c>embed</c> stands in for SNet's attention only when there is none.</summary>
    public static readonly IReadOnlySet<string> UnusedKeys = new HashSet<string> { "dnet.embed" };

    private static List<(string, long[])> KeyList()
    {
        var k = new List<(string, long[])>();
        void Add(string name, params long[] shape) => k.Add((name, shape));
        void Bn(string p, long c)
        {
            foreach (var s in new[] { "weight", "bias", "running_mean", "running_var" }) Add($"{p}.{s}", c);
            Add($"{p}.num_batches_tracked");
        }
        void Linear(string p, long o, long i) { Add(p + ".weight", o, i); Add(p + ".bias", o); }
        foreach (string net in new[] { "snet", "dnet" })
        {
            if (net == "dnet") Add("dnet.embed", 2 * Hidden);
            string b = $"{net}.model.base_model.";
            Add(b + "conv1.weight", 64, 3, 7, 7);
            Bn(b + "bn1", 64);
            long cin = 64;
            for (int l = 0; l < 4; l++)
            {
                long w = Widths[l];
                for (int i = 0; i < Blocks[l]; i++)
                {
                    string p = $"{b}layer{l + 1}.{i}.";
                    Add(p + "conv1.net.weight", w, i == 0 ? cin : 4 * w, 1, 1);
                    Bn(p + "bn1", w);
                    Add(p + "conv2.weight", w, w, 3, 3);
                    Bn(p + "bn2", w);
                    Add(p + "conv3.weight", 4 * w, w, 1, 1);
                    Bn(p + "bn3", 4 * w);
                    if (i == 0)
                    {
                        Add(p + "downsample.0.weight", 4 * w, cin, 1, 1);
                        Bn(p + "downsample.1", 4 * w);
                    }
                }
                cin = 4 * w;
            }
            Linear($"{net}.model.new_fc", Feature, 2048);
            for (int l = 0; l < 2; l++)
                foreach (var dir in new[] { "", "_reverse" })
                {
                    Add($"{net}.lstm.weight_ih_l{l}{dir}", 4 * Hidden, l == 0 ? Feature : 2 * Hidden);
                    Add($"{net}.lstm.weight_hh_l{l}{dir}", 4 * Hidden, Hidden);
                    Add($"{net}.lstm.bias_ih_l{l}{dir}", 4 * Hidden);
                    Add($"{net}.lstm.bias_hh_l{l}{dir}", 4 * Hidden);
                }
            Add($"{net}.to_qkv.weight", 3 * 2 * Hidden, 2 * Hidden);
            Add($"{net}.layerNorm.weight", 2 * Hidden);
            Add($"{net}.layerNorm.bias", 2 * Hidden);
            Add($"{net}.pwconv.weight", 1, net == "snet" ? StreamFrames : Keys, 3);
            Add($"{net}.pwconv.bias", 1);
            if (net == "snet") Linear("snet.toAttn", 2 * Hidden, 2 * Hidden);
            Linear($"{net}.fc", Classes7, 2 * Hidden);
            if (net == "snet")
            {
                Linear("snet.s2d_fc1", Keys, 2 * Hidden);
                Linear("snet.s2d_fc2", Keys, 2 * Hidden);
            }
        }
        return k;
    }

    public Graph Build(StateDict sd) => Build(sd, stages: false);

    /// <summary>
    /// The graph; with <paramref name="stages"/> it also outputs each stage the oracle compares (channels-last):
    /// "{s,d}net.stem", "{s,d}net.layer1..4", "{s,d}net.features", "{s,d}net.lstm", "{s,d}net.gate", "{s,d}net.bag",
    /// "mu", "delta", "attn".
    /// </summary>
    public Graph Build(StateDict sd, bool stages)
    {
        Runtime.WeightSanity.Validate(sd, "RDFER", StateDictKeys);
        var g = new Graph();
        void Stage(string name, int value)
        {
            if (stages) g.Outputs[name] = value;
        }

        // 1. synopsis frames, channels-last: [B·16, S, S, 3].
        int synopsis = g.Add("synopsis", new FrameGatherOp(SynopsisFrames.ToArray()), Graph.Input);
        // 2-3. SNet.
        int sFeatures = Backbone(g, sd, "snet", synopsis, Stage);
        sFeatures = g.Add("snet.instances", new ReshapeOp(-1, StreamFrames, Feature), sFeatures);
        Stage("snet.features", sFeatures);
        int sOri = g.Add("snet.lstm", Lstm(sd, "snet"), sFeatures);
        Stage("snet.lstm", sOri);
        int sGate = AttentionGate(g, sd, "snet", sOri);
        Stage("snet.gate", sGate);
        int bag = Pwconv(g, sd, "snet", StreamFrames, sGate);
        Stage("snet.bag", bag);
        int mu = g.Add("snet.s2d_fc1", Linear(sd, "snet.s2d_fc1"), bag);
        mu = g.Add("snet.mu", new AddActOp(1, Activation.Tanh), mu);
        int delta = g.Add("snet.s2d_fc2", Linear(sd, "snet.s2d_fc2"), bag);
        delta = g.Add("snet.delta", new AddActOp(1, Activation.NegAbs), delta);
        int attn = g.Add("snet.toAttn", Linear(sd, "snet.toAttn"), bag);
        attn = g.Add("snet.attn", new AddActOp(1, Activation.Sigmoid), attn);
        int snetLogits = g.Add("snet.fc", Linear(sd, "snet.fc"), bag);
        Stage("mu", mu);
        Stage("delta", delta);
        Stage("attn", attn);
        // 4. key-expression re-sampling: 16 indices into the 64 frames, then the detail frames.
        int keys = g.Add("sampler", new KeySampleOp(ClipFrames, PerKey), mu, delta);
        int detail = g.Add("detail", new FrameGatherOp(), Graph.Input, keys);
        // 5. DNet backbone; new_fc per frame, then the mean of each key's 4 frames.
        int dFeatures = Backbone(g, sd, "dnet", detail, Stage);
        dFeatures = g.Add("dnet.keys", new ReshapeOp(-1, PerKey, 1, 1, Feature), dFeatures);
        dFeatures = g.Add("dnet.mean", new AvgPool3dOp(), dFeatures);
        dFeatures = g.Add("dnet.instances", new ReshapeOp(-1, Keys, Feature), dFeatures);
        Stage("dnet.features", dFeatures);
        // 6. DNet head, its instances weighted by SNet's attention.
        int dLstm = g.Add("dnet.lstm", Lstm(sd, "dnet"), dFeatures);
        Stage("dnet.lstm", dLstm);
        int dOri = g.Add("dnet.attend", new GateOp(Activation.None), dLstm, attn);
        int dGate = AttentionGate(g, sd, "dnet", dOri);
        Stage("dnet.gate", dGate);
        int dBag = Pwconv(g, sd, "dnet", Keys, dGate);
        Stage("dnet.bag", dBag);
        int logits = g.Add("dnet.fc", Linear(sd, "dnet.fc"), dBag);
        int probs = g.Add("probabilities", new SoftmaxOp(), logits);
        g.Outputs["logits"] = logits;
        g.Outputs["probabilities"] = probs;
        g.Outputs["key_frames"] = keys;
        g.Outputs["snet_logits"] = snetLogits;
        return g;
    }

    /// <summary>TSM-ResNet-50 on channels-last frames [N, S, S, 3] → new_fc features [N, 512] (step 2).</summary>
    private int Backbone(Graph g, StateDict sd, string net, int x, Action<string, int> stage)
    {
        string b = $"{net}.model.base_model.";
        x = g.Add($"{net}.conv1", FoldedConv(sd, b + "conv1.weight", b + "bn1", 2, 3, Activation.Relu, false), x);
        x = g.Add($"{net}.maxpool", new MaxPool2dOp((3, 3), (2, 2), Pad2d.Uniform(1)), x);
        stage($"{net}.stem", x);
        int side = MaxPoolSide(Size);
        for (int l = 0; l < 4; l++)
        {
            for (int i = 0; i < Blocks[l]; i++)
            {
                string p = $"{b}layer{l + 1}.{i}.", n = $"{net}.layer{l + 1}.{i}";
                int s = l > 0 && i == 0 ? 2 : 1;
                int shifted = g.Add($"{n}.shift", new TemporalShiftOp(ShiftGroup, ShiftFoldDiv), x);
                int y = g.Add($"{n}.conv1",
                    FoldedConv(sd, p + "conv1.net.weight", p + "bn1", 1, 0, Activation.Relu, false), shifted);
                y = g.Add($"{n}.conv2", FoldedConv(sd, p + "conv2.weight", p + "bn2", s, 1, Activation.Relu, false), y);
                int identity = i == 0
                    ? g.Add($"{n}.downsample",
                        FoldedConv(sd, p + "downsample.0.weight", p + "downsample.1", s, 0, Activation.None, false), x)
                    : x;
                x = g.Add($"{n}.conv3", FoldedConv(sd, p + "conv3.weight", p + "bn3", 1, 0, Activation.Relu, true),
                    y, identity);
            }
            if (l > 0) side = (side - 1) / 2 + 1;
            stage($"{net}.layer{l + 1}", x);
        }
        x = g.Add($"{net}.avgpool.view", new ReshapeOp(-1, 1, side, side, 2048), x);
        x = g.Add($"{net}.avgpool", new AvgPool3dOp(), x);
        return g.Add($"{net}.new_fc", Linear(sd, $"{net}.model.new_fc"), x);
    }

    /// <summary>The side after the stem's stride-2 7×7 conv and the stride-2 max pool.</summary>
    private static int MaxPoolSide(int size)
    {
        int conv = (size + 2 * 3 - 7) / 2 + 1;
        return (conv + 2 - 3) / 2 + 1;
    }

    /// <summary>The attention gate of step 3 on ori [B, N, 1024]: g = ori · σ(LayerNorm(MHSA(ori))).</summary>
    private static int AttentionGate(Graph g, StateDict sd, string net, int ori)
    {
        int d = 2 * Hidden;
        var qkv = g.Add($"{net}.to_qkv", new LinearOp(d, 3 * d, sd[$"{net}.to_qkv.weight"].Data, null), ori);
        int att = g.Add($"{net}.attention", new AttentionOp(Heads, d / Heads), qkv);
        int norm = g.Add($"{net}.layerNorm", new LayerNormOp(d, sd[$"{net}.layerNorm.weight"].Data,
            sd[$"{net}.layerNorm.bias"].Data, LayerNormEps), att);
        return g.Add($"{net}.gated", new GateOp(Activation.Sigmoid), ori, norm);
    }

    /// <summary>pwconv: Conv1d with the N instances as channels along the 1024 features → the bag feature [B, 1024].
    /// </summary>
    private static int Pwconv(Graph g, StateDict sd, string net, int instances, int gated)
    {
        int y = g.Add($"{net}.pwconv", new Conv1dOp(instances, 1, 3, 1, sd[$"{net}.pwconv.weight"].Data,
            sd[$"{net}.pwconv.bias"].Data), gated);
        return g.Add($"{net}.bag", new ReshapeOp(-1, 2 * Hidden), y);
    }

    private static LinearOp Linear(StateDict sd, string p)
    {
        var w = sd[p + ".weight"];
        return new LinearOp((int)w.Shape[1], (int)w.Shape[0], w.Data, sd[p + ".bias"].Data);
    }

    private static LstmOp Lstm(StateDict sd, string net) =>
        new(Feature, Hidden, true, Enumerable.Range(0, 2).Select(l =>
            new[] { "", "_reverse" }.Select(d => new LstmCell(
                sd[$"{net}.lstm.weight_ih_l{l}{d}"].Data, sd[$"{net}.lstm.weight_hh_l{l}{d}"].Data,
                sd[$"{net}.lstm.bias_ih_l{l}{d}"].Data, sd[$"{net}.lstm.bias_hh_l{l}{d}"].Data)).ToArray()).ToArray());

    /// <summary>
    /// A bias-free conv followed by eval BatchNorm, folded (<see cref="BatchNormFold"/>).
    /// </summary>
    private static Conv2dOp FoldedConv(StateDict sd, string weight, string bn, int stride, int pad, Activation act,
        bool residual)
    {
        var w = sd[weight];
        int cout = (int)w.Shape[0], cin = (int)w.Shape[1], k = (int)w.Shape[2];
        var (folded, bias) = BatchNormFold.Fold(sd, weight, bn);
        return new Conv2dOp(cin, cout, (k, k), (stride, stride), (pad, pad), (1, 1), folded, bias, act, residual);
    }

    /// <summary>
    /// He-uniform convolutions with BatchNorm statistics near identity (the last BN of each bottleneck scaled down,
    /// so the 16 residual additions keep activations in range), PyTorch-default uniform LSTM and linear weights,
    /// He-uniform pwconv, heads and classifiers: the logits, the key centres and strides depend clearly on the clip,
    /// and the key frames spread over the clip.
    /// </summary>
    public StateDict GenerateWeights(ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var sd = new StateDict($"generated weights (seed {seed})");
        foreach (var (name, shape) in StateDictKeys)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            float[] data;
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            bool bn = name.Contains(".bn") || name.Contains("downsample.1");
            if (leaf == "num_batches_tracked") data = [0];
            else if (shape.Length == 4) data = HeUniform(rng, n, shape[1] * shape[2] * shape[3]);
            else if (bn && leaf == "weight")
                data = name.Contains(".bn3") || name.Contains("downsample.1")
                    ? rng.Uniform(n, 0.2f, 0.5f) : rng.Uniform(n, 0.6f, 1.2f);
            else if (bn && leaf is "bias" or "running_mean") data = rng.Uniform(n, -0.1f, 0.1f);
            else if (bn && leaf == "running_var") data = rng.Uniform(n, 0.5f, 1.5f);
            else if (name.EndsWith("layerNorm.weight")) data = rng.Uniform(n, 0.8f, 1.2f);
            else if (name.EndsWith("layerNorm.bias")) data = rng.Uniform(n, -0.2f, 0.2f);
            else if (name.Contains("s2d_fc"))
                data = leaf == "bias" ? rng.Uniform(n, -0.3f, 0.3f) : HeUniform(rng, n, n / shape[0], HeadGain);
            else if (name is "snet.fc.weight" or "dnet.fc.weight") data = HeUniform(rng, n, n / shape[0], HeadGain);
            else if (name is "snet.pwconv.weight" or "dnet.pwconv.weight" or "snet.model.new_fc.weight"
                or "dnet.model.new_fc.weight")
                data = HeUniform(rng, n, n / shape[0]);
            else if (name is "snet.pwconv.bias" or "dnet.pwconv.bias" or "snet.fc.bias" or "dnet.fc.bias")
                data = rng.Uniform(n, -0.01f, 0.01f);
            else
            {
                // PyTorch's default bound 1/√fan-in; the LSTMs' doubled, so that their small inputs still move the
                // gates.
                double fanIn = name.Contains(".lstm.") ? Hidden : shape.Length > 1 ? shape[1] : 2 * Hidden;
                float bound = (float)((name.Contains(".lstm.") ? 2.0 : 1.0) / Math.Sqrt(fanIn));
                data = rng.Uniform(n, -bound, bound);
            }
            sd.Add(name, leaf == "num_batches_tracked" ? DType.I64 : DType.F32, shape, data);
        }
        return sd;
    }

    /// <summary>The heads' and classifiers' gain over He's bound: the bag features are small (gated LSTM outputs), and
    /// without it the key centres would hardly leave the clip's middle and the logits hardly depend on the clip.
    /// </summary>
    private const double HeadGain = 8;

    private static float[] HeUniform(DeterministicRandom rng, long n, long fanIn, double gain = 1)
    {
        float bound = (float)(gain * Math.Sqrt(6.0 / fanIn));
        return rng.Uniform(n, -bound, bound);
    }
}
