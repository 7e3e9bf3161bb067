using Dfer.Reference;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// Reference implementation of RDFER ("Robust Dynamic Facial Expression Recognition", 2025) in TorchSharp,
/// written from the semantics in <c>docs/models/rdfer.md</c>: a synopsis network (SNet: TSM ResNet-50 on 16
/// uniformly spaced frames, BiLSTM, attention gate, conv pooling) predicts where the expression is, the
/// key-frame sampler picks 16 detail frames of the 64-frame clip from that, and a detail network (DNet, the
/// same architecture with its own weights) classifies them, modulated by SNet's attention vector. It is the
/// oracle that the engine's RDFER is compared against stage by stage, so it is literal rather than fast:
/// BatchNorm stays unfolded (eval mode, running statistics), the LSTM is written out step by step, and every
/// stage is returned.
/// </summary>
public sealed class TorchRdfer : IDisposable
{
    /// <summary>Frames per input clip.</summary>
    public const int Frames = 64;
    /// <summary>Colour channels per frame.</summary>
    public const int Channels = 3;
    /// <summary>Frame height and width.</summary>
    public const int Size = 112;
    /// <summary>Number of expression classes (logits per clip).</summary>
    public const int Classes = 7;

    /// <summary>Frames each network sees per clip: 16 synopsis frames (SNet) and 16 detail frames (DNet).</summary>
    internal const int StreamFrames = 16;
    /// <summary>Key expressions the sampler places per clip; each contributes 4 detail frames.</summary>
    internal const int Keys = 4;
    /// <summary>Consecutive frames that form one temporal-shift group (and one DNet instance).</summary>
    internal const int ShiftGroup = 4;
    /// <summary>64/3 rounded to float32: the widest spacing between a key's detail frames.</summary>
    internal const float MaxKeyStride = 21.333334f;

    private const int BackboneWidth = 2048;
    private const int FeatureWidth = 512;
    private const int Hidden = 512;
    private const int Heads = 8;
    private const int HeadDim = 128;
    private const double BatchNormEps = 1e-5;
    private const double LayerNormEps = 1e-5;

    /// <summary><c>(int)linspace(0, 63, 16)</c>: the synopsis frames before the optional offsets.</summary>
    private static readonly int[] s_uniformIndices = [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63];

    private readonly ScalarType _dtype;
    private readonly List<Tensor> _owned = [];
    private readonly Backbone _snetBackbone;
    private readonly Backbone _dnetBackbone;
    private readonly MilHead _snetHead;
    private readonly MilHead _dnetHead;
    private readonly Tensor _toAttnWeight;
    private readonly Tensor _toAttnBias;
    private readonly Tensor _muWeight;
    private readonly Tensor _muBias;
    private readonly Tensor _deltaWeight;
    private readonly Tensor _deltaBias;
    private bool _disposed;

    /// <summary>Builds the model from the original module's <c>state_dict()</c> (693 entries).</summary>
    /// <param name="stateDict">Every parameter and buffer keyed exactly as the original names them
    /// (<c>snet.*</c> and <c>dnet.*</c>, no <c>module.</c> prefix), as row-major float32 data plus shape.
    /// <c>num_batches_tracked</c> entries may be present or not; every other key is required (including
    /// <c>dnet.embed</c>, which inference never reads), and unknown keys are rejected, as PyTorch's strict
    /// loading does.</param>
    /// <param name="dtype"><see cref="ScalarType.Float64"/> or <see cref="ScalarType.Float32"/>: the precision
    /// every tensor computation runs in. The key-frame sampler always works in float32, as the original
    /// does.</param>
    /// <exception cref="ArgumentException">A key is missing or unknown, or a shape or data length does not
    /// match.</exception>
    public TorchRdfer(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, ScalarType dtype)
    {
        StateDictArguments.Check(stateDict, dtype);
        TorchRuntime.EnsureLoaded();
        _dtype = dtype;

        var used = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            Tensor Load(string key, params long[] shape) =>
                StateDictArguments.Load(stateDict, key, shape, dtype, used, _owned);

            ConvBn LoadConvBn(string conv, string bn, long outC, long inC, long kernel, long stride, long padding)
                => new(
                    Load($"{conv}.weight", outC, inC, kernel, kernel),
                    Load($"{bn}.running_mean", outC),
                    Load($"{bn}.running_var", outC),
                    Load($"{bn}.weight", outC),
                    Load($"{bn}.bias", outC),
                    stride,
                    padding);

            Backbone LoadBackbone(string net)
            {
                string root = $"{net}.model.base_model";
                var stem = LoadConvBn($"{root}.conv1", $"{root}.bn1", 64, Channels, 7, 2, 3);
                int[] depths = [3, 4, 6, 3];
                int[] widths = [64, 128, 256, 512];
                var stages = new Bottleneck[depths.Length][];
                long inWidth = 64;
                for (int stage = 0; stage < depths.Length; stage++)
                {
                    long width = widths[stage];
                    stages[stage] = new Bottleneck[depths[stage]];
                    for (int block = 0; block < depths[stage]; block++)
                    {
                        string p = $"{root}.layer{stage + 1}.{block}";
                        long stride = stage > 0 && block == 0 ? 2 : 1;
                        stages[stage][block] = new Bottleneck(
                            LoadConvBn($"{p}.conv1.net", $"{p}.bn1", width, inWidth, 1, 1, 0),
                            LoadConvBn($"{p}.conv2", $"{p}.bn2", width, width, 3, stride, 1),
                            LoadConvBn($"{p}.conv3", $"{p}.bn3", 4 * width, width, 1, 1, 0),
                            block == 0
                                ? LoadConvBn($"{p}.downsample.0", $"{p}.downsample.1", 4 * width, inWidth, 1, stride, 0)
                                : null);
                        inWidth = 4 * width;
                    }
                }
                return new Backbone(stem, stages,
                    Load($"{net}.model.new_fc.weight", FeatureWidth, BackboneWidth),
                    Load($"{net}.model.new_fc.bias", FeatureWidth));
            }

            MilHead LoadHead(string net, int instances)
            {
                var lstm = new TorchLstmDirection[2][];
                for (int layer = 0; layer < 2; layer++)
                {
                    long input = layer == 0 ? FeatureWidth : 2 * Hidden;
                    lstm[layer] = new TorchLstmDirection[2];
                    for (int direction = 0; direction < 2; direction++)
                    {
                        string suffix = $"l{layer}{(direction == 1 ? "_reverse" : "")}";
                        lstm[layer][direction] = new TorchLstmDirection(
                            Load($"{net}.lstm.weight_ih_{suffix}", 4 * Hidden, input),
                            Load($"{net}.lstm.weight_hh_{suffix}", 4 * Hidden, Hidden),
                            Load($"{net}.lstm.bias_ih_{suffix}", 4 * Hidden),
                            Load($"{net}.lstm.bias_hh_{suffix}", 4 * Hidden),
                            Reverse: direction == 1);
                    }
                }
                return new MilHead(
                    lstm,
                    Load($"{net}.to_qkv.weight", 3 * Heads * HeadDim, 2 * Hidden),
                    Load($"{net}.layerNorm.weight", 2 * Hidden),
                    Load($"{net}.layerNorm.bias", 2 * Hidden),
                    Load($"{net}.pwconv.weight", 1, instances, 3),
                    Load($"{net}.pwconv.bias", 1),
                    Load($"{net}.fc.weight", Classes, 2 * Hidden),
                    Load($"{net}.fc.bias", Classes));
            }

            _snetBackbone = LoadBackbone("snet");
            _snetHead = LoadHead("snet", StreamFrames);
            _toAttnWeight = Load("snet.toAttn.weight", 2 * Hidden, 2 * Hidden);
            _toAttnBias = Load("snet.toAttn.bias", 2 * Hidden);
            _muWeight = Load("snet.s2d_fc1.weight", Keys, 2 * Hidden);
            _muBias = Load("snet.s2d_fc1.bias", Keys);
            _deltaWeight = Load("snet.s2d_fc2.weight", Keys, 2 * Hidden);
            _deltaBias = Load("snet.s2d_fc2.bias", Keys);

            _dnetBackbone = LoadBackbone("dnet");
            _dnetHead = LoadHead("dnet", Keys);
            // Only used by the original when SNet supplies no attention vector, which never happens at
            // inference; loaded so that strict key checking covers it.
            Load("dnet.embed", 2 * Hidden);

            StateDictArguments.RefuseUnused(stateDict, used, ignoreBatchCounters: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The precision the tensor computations run in.</summary>
    public ScalarType DType => _dtype;

    /// <summary>Runs the whole model on <paramref name="batch"/> clips and returns every stage.</summary>
    /// <param name="clips">Row-major float32 data of shape [batch, 64, 3, 112, 112]: RGB frames scaled to
    /// [0, 1], without mean/std normalisation.</param>
    /// <param name="batch">Number of clips, at least 1. Unlike the original (whose <c>.squeeze()</c> drops the
    /// batch axis), a batch of one works and gives the same result as that clip inside a larger batch.</param>
    /// <param name="synopsisOffsets">Null for the deterministic default (every offset 0). Otherwise 16 values
    /// added to the uniform synopsis indices 0, 4, 8, ..., 58, 63, as the original's random offsets in
    /// {0, 1, 2} are; the last must be 0 and every resulting index must lie in [0, 63].</param>
    /// <returns>All stages, each row-major as a float64 array; see <see cref="RdferStages"/>.</returns>
    public RdferStages Forward(float[] clips, int batch, int[]? synopsisOffsets = null)
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
        int[] synopsis = SynopsisIndices(synopsisOffsets);

        using var scope = NewDisposeScope();
        using var inference = inference_mode();

        var input = tensor(clips, [batch, Frames, Channels, Size, Size], ScalarType.Float32).to_type(_dtype);

        // 1–2. Synopsis frames through SNet's backbone; the flattened batch holds clip b's frames at rows
        // 16b..16b+15, so consecutive groups of 4 rows are the shift groups.
        using var synopsisIndex = tensor(synopsis.Select(i => (long)i).ToArray(), ScalarType.Int64);
        var synopsisFrames = input.index_select(1, synopsisIndex)
            .reshape(batch * StreamFrames, Channels, Size, Size);
        var snetLayers = new Tensor[4];
        var snetPerFrame = _snetBackbone.Run(synopsisFrames, out var snetStem, snetLayers);
        var snetFeatures = snetPerFrame.reshape(batch, StreamFrames, FeatureWidth);

        // 3. SNet head.
        var snetLstm = _snetHead.Lstm(snetFeatures, _dtype);
        var snetGate = _snetHead.Gate(snetLstm);
        var snetBag = _snetHead.Pool(snetGate);
        var mu = tanh(F.linear(snetBag, _muWeight, _muBias));
        var delta = -abs(F.linear(snetBag, _deltaWeight, _deltaBias));
        var attn = sigmoid(F.linear(snetBag, _toAttnWeight, _toAttnBias));
        var snetLogits = _snetHead.Classify(snetBag);

        // 4. Key frames, in float32 from float32 mu and delta, then a gather (row batch·64 is a black frame).
        var muValues = ToDoubles(mu);
        var deltaValues = ToDoubles(delta);
        int[] keyFrames = KeyFrameIndices(
            [.. muValues.Select(v => (float)v)], [.. deltaValues.Select(v => (float)v)], batch);
        var rows = new long[keyFrames.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            int b = i / StreamFrames;
            rows[i] = keyFrames[i] < 0 ? (long)batch * Frames : (long)b * Frames + keyFrames[i];
        }
        var framePool = cat([
            input.reshape(batch * Frames, Channels, Size, Size),
            zeros([1, Channels, Size, Size], _dtype)], 0);
        using var rowIndex = tensor(rows, ScalarType.Int64);
        var detailFrames = framePool.index_select(0, rowIndex);

        // 5. DNet backbone: rows 16b + 4j + g are key j's frames g = 0..3 (one shift group per key), averaged
        // per key after new_fc.
        var dnetLayers = new Tensor[4];
        var dnetPerFrame = _dnetBackbone.Run(detailFrames, out _, dnetLayers);
        var dnetFeatures = dnetPerFrame.reshape(batch, Keys, ShiftGroup, FeatureWidth).mean([2]);

        // 6. DNet head, its LSTM output modulated by SNet's attention vector.
        var dnetLstm = _dnetHead.Lstm(dnetFeatures, _dtype);
        var dnetOri = dnetLstm * attn.unsqueeze(1);
        var dnetGate = _dnetHead.Gate(dnetOri);
        var dnetBag = _dnetHead.Pool(dnetGate);
        var logits = _dnetHead.Classify(dnetBag);

        return new RdferStages(
            SnetStem: ToDoubles(snetStem),
            SnetLayers: [.. snetLayers.Select(ToDoubles)],
            SnetFeatures: ToDoubles(snetFeatures),
            SnetLstm: ToDoubles(snetLstm),
            SnetGate: ToDoubles(snetGate),
            SnetBag: ToDoubles(snetBag),
            Mu: muValues,
            Delta: deltaValues,
            Attn: ToDoubles(attn),
            SnetLogits: ToDoubles(snetLogits),
            KeyFrames: keyFrames,
            DnetLayers: [.. dnetLayers.Select(ToDoubles)],
            DnetFeatures: ToDoubles(dnetFeatures),
            DnetLstm: ToDoubles(dnetLstm),
            DnetGate: ToDoubles(dnetGate),
            DnetBag: ToDoubles(dnetBag),
            Logits: ToDoubles(logits));
    }

    /// <summary>
    /// The key-frame sampler: where each clip's 16 detail frames come from in its 64-frame clip. For key j of
    /// clip b, in float32 and in this order (each step rounded, nothing fused): centre
    /// <c>c = mu·63/2 + 31.5</c>, spacing <c>s = 21.333334·exp(delta)</c> (64/3 in float32), and for
    /// g = 0..3 position <c>p = c + (g − 1.5)·s</c>; detail frame 4j + g is frame <c>ceil(p)</c> when that lies
    /// in [0, 63], otherwise −1 (a black frame).
    /// </summary>
    /// <param name="mu">Key centres in [−1, 1], [batch, 4] row-major.</param>
    /// <param name="delta">Log spacings (≤ 0 from the model), [batch, 4] row-major.</param>
    /// <param name="batch">Number of clips.</param>
    /// <returns>[batch, 16] frame indices, key-major, −1 for a black frame.</returns>
    public static int[] KeyFrameIndices(float[] mu, float[] delta, int batch)
    {
        ArgumentNullException.ThrowIfNull(mu);
        ArgumentNullException.ThrowIfNull(delta);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (mu.Length != batch * Keys || delta.Length != batch * Keys)
            throw new ArgumentException(
                $"mu and delta need {batch} × {Keys} values, got {mu.Length} and {delta.Length}.");

        var indices = new int[batch * StreamFrames];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < Keys; j++)
            {
                // One rounding per statement: the explicit casts keep every intermediate in float32.
                float scaled = (float)(mu[b * Keys + j] * 63f);
                float halved = (float)(scaled / 2f);
                float centre = (float)(halved + 31.5f);
                float growth = MathF.Exp(delta[b * Keys + j]);
                float spacing = (float)(MaxKeyStride * growth);
                for (int g = 0; g < ShiftGroup; g++)
                {
                    float offset = (float)(g - 1.5f);
                    float step = (float)(offset * spacing);
                    float position = (float)(centre + step);
                    float frame = MathF.Ceiling(position);
                    indices[b * StreamFrames + j * ShiftGroup + g] =
                        frame >= 0f && frame <= Frames - 1 ? (int)frame : -1;
                }
            }
        }
        return indices;
    }

    /// <summary>The 16 synopsis frame indices: <c>(int)linspace(0, 63, 16)</c> plus the offsets, if any.</summary>
    internal static int[] SynopsisIndices(int[]? offsets)
    {
        if (offsets is null)
            return [.. s_uniformIndices];
        if (offsets.Length != StreamFrames)
            throw new ArgumentException($"Expected {StreamFrames} synopsis offsets, got {offsets.Length}.",
                nameof(offsets));
        if (offsets[^1] != 0)
            throw new ArgumentException("The last synopsis offset must be 0 (frame 63 is always the last).",
                nameof(offsets));
        var indices = new int[StreamFrames];
        for (int i = 0; i < StreamFrames; i++)
        {
            indices[i] = s_uniformIndices[i] + offsets[i];
            if (indices[i] is < 0 or >= Frames)
                throw new ArgumentException(
                    $"Synopsis offset {offsets[i]} moves frame {s_uniformIndices[i]} outside [0, {Frames - 1}].",
                    nameof(offsets));
        }
        return indices;
    }

    /// <summary>
    /// TSM's temporal shift on [N, C, H, W] where N is a multiple of 4 and each run of 4 consecutive rows is one
    /// group of frames: with fold = C/8, channels [0, fold) of frame t take frame t+1's values (zeros for a
    /// group's last frame), channels [fold, 2·fold) take frame t−1's (zeros for its first), the rest stay.
    /// </summary>
    internal static Tensor TemporalShift(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        long groups = n / ShiftGroup;
        long fold = c / 8;
        var frames = x.reshape(groups, ShiftGroup, c, h, w);
        var zero = zeros([groups, 1, fold, h, w], x.dtype);
        // narrow(dim, start, length): frames 1..3 / 0..2 of each group, then the channel slice.
        var fromNext = cat([frames.narrow(1, 1, ShiftGroup - 1).narrow(2, 0, fold), zero], 1);
        var fromPrevious = cat([zero, frames.narrow(1, 0, ShiftGroup - 1).narrow(2, fold, fold)], 1);
        var unchanged = frames.narrow(2, 2 * fold, c - 2 * fold);
        return cat([fromNext, fromPrevious, unchanged], 2).reshape(n, c, h, w);
    }

    /// <summary>One bottleneck block of SNet's (<paramref name="dnet"/> false) or DNet's backbone, for tests
    /// that recompute a block by hand. <paramref name="stage"/> is 0..3 (layer1..layer4).</summary>
    internal Tensor ApplyBlock(bool dnet, int stage, int block, Tensor x)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (dnet ? _dnetBackbone : _snetBackbone).Stages[stage][block].Apply(x);
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

    private static double[] ToDoubles(Tensor t) =>
        t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    /// <summary>Convolution without bias followed by eval-mode BatchNorm written out from the running
    /// statistics (not folded into the weights).</summary>
    private sealed record ConvBn(Tensor Weight, Tensor RunningMean, Tensor RunningVar, Tensor Gamma, Tensor Beta,
        long Stride, long Padding)
    {
        public Tensor Apply(Tensor x)
        {
            var y = F.conv2d(x, Weight, null, strides: [Stride, Stride], padding: [Padding, Padding]);
            Tensor PerChannel(Tensor t) => t.reshape(1, -1, 1, 1);
            return (y - PerChannel(RunningMean)) / sqrt(PerChannel(RunningVar) + BatchNormEps) * PerChannel(Gamma)
                + PerChannel(Beta);
        }
    }

    /// <summary>torchvision's ResNet-50 v1.5 bottleneck (stride on the 3×3 convolution) with TSM's residual
    /// shift: only conv1 sees the shifted input; the shortcut (identity or downsample) takes it unshifted.</summary>
    private sealed record Bottleneck(ConvBn Conv1, ConvBn Conv2, ConvBn Conv3, ConvBn? Downsample)
    {
        public Tensor Apply(Tensor x)
        {
            var y = F.relu(Conv1.Apply(TemporalShift(x)));
            y = F.relu(Conv2.Apply(y));
            y = Conv3.Apply(y);
            var shortcut = Downsample is null ? x : Downsample.Apply(x);
            return F.relu(y + shortcut);
        }
    }

    /// <summary>Stem, four stages, global average pool and new_fc (base_model.fc is an eval-mode dropout).</summary>
    private sealed record Backbone(ConvBn Stem, Bottleneck[][] Stages, Tensor NewFcWeight, Tensor NewFcBias)
    {
        /// <returns>Per-frame features [N, 512]; <paramref name="stem"/> and <paramref name="layers"/> receive the
        /// stem's and each stage's output.</returns>
        public Tensor Run(Tensor frames, out Tensor stem, Tensor[] layers)
        {
            // Each block's temporaries are freed as soon as its output exists (only the outputs move out).
            using (var stemScope = NewDisposeScope())
                stem = F.max_pool2d(F.relu(Stem.Apply(frames)), [3, 3], [2, 2], [1, 1]).MoveToOuterDisposeScope();
            var x = stem;
            for (int stage = 0; stage < Stages.Length; stage++)
            {
                foreach (var block in Stages[stage])
                {
                    using var blockScope = NewDisposeScope();
                    x = block.Apply(x).MoveToOuterDisposeScope();
                }
                layers[stage] = x;
            }
            var pooled = x.mean([2, 3]);
            return F.linear(pooled, NewFcWeight, NewFcBias);
        }
    }

    /// <summary>The multiple-instance head both networks share: BiLSTM, attention gate, pwconv, fc.</summary>
    private sealed record MilHead(TorchLstmDirection[][] LstmLayers, Tensor ToQkv, Tensor NormWeight, Tensor NormBias,
        Tensor PwconvWeight, Tensor PwconvBias, Tensor FcWeight, Tensor FcBias)
    {
        /// <returns>The two-layer bidirectional LSTM's outputs, [batch, T, 1024], forward half first.</returns>
        public Tensor Lstm(Tensor sequence, ScalarType dtype)
        {
            foreach (var layer in LstmLayers)
                sequence = cat([layer[0].Run(sequence, dtype), layer[1].Run(sequence, dtype)], 2);
            return sequence;
        }

        /// <returns><c>ori · σ(LayerNorm(MHSA(ori)))</c>: 8 heads of 128 features, no output projection.</returns>
        public Tensor Gate(Tensor ori)
        {
            long batch = ori.shape[0], tokens = ori.shape[1];
            var qkv = F.linear(ori, ToQkv).chunk(3, 2);
            Tensor SplitHeads(Tensor t) => t.reshape(batch, tokens, Heads, HeadDim).permute(0, 2, 1, 3);
            var q = SplitHeads(qkv[0]);
            var k = SplitHeads(qkv[1]);
            var v = SplitHeads(qkv[2]);
            var weights = softmax(matmul(q, k.transpose(-1, -2)) / Math.Sqrt(HeadDim), -1);
            var attended = matmul(weights, v).permute(0, 2, 1, 3).reshape(batch, tokens, Heads * HeadDim);
            var mean = attended.mean([-1], keepdim: true);
            var centred = attended - mean;
            var variance = (centred * centred).mean([-1], keepdim: true);
            var normalised = centred / sqrt(variance + LayerNormEps) * NormWeight + NormBias;
            return ori * sigmoid(normalised);
        }

        /// <returns>The bag feature [batch, 1024]: Conv1d with the instances as input channels, sliding along
        /// the 1024 features (zero padded by one at each end).</returns>
        public Tensor Pool(Tensor gated) =>
            F.conv1d(gated, PwconvWeight, PwconvBias, padding: 1).reshape(gated.shape[0], 2 * Hidden);

        public Tensor Classify(Tensor bag) => F.linear(bag, FcWeight, FcBias);
    }
}

/// <summary>Every stage of one <see cref="TorchRdfer.Forward"/> call, each row-major in float64 (B = batch,
/// semantics in <c>docs/models/rdfer.md</c>).</summary>
/// <param name="SnetStem">SNet stem (conv, BN, ReLU, max pool) on the synopsis frames, [B·16, 64, 28, 28].</param>
/// <param name="SnetLayers">SNet layer1..layer4 outputs: [B·16, 256, 28, 28], [B·16, 512, 14, 14],
/// [B·16, 1024, 7, 7], [B·16, 2048, 4, 4].</param>
/// <param name="SnetFeatures">SNet new_fc output per synopsis frame, [B, 16, 512].</param>
/// <param name="SnetLstm">SNet BiLSTM output (<c>ori</c>), [B, 16, 1024].</param>
/// <param name="SnetGate">SNet gated instances <c>ori·σ(LayerNorm(MHSA(ori)))</c>, [B, 16, 1024].</param>
/// <param name="SnetBag">SNet pwconv output, the bag feature f, [B, 1024].</param>
/// <param name="Mu">Key centres <c>tanh(s2d_fc1(f))</c>, [B, 4].</param>
/// <param name="Delta">Log spacings <c>−|s2d_fc2(f)|</c>, [B, 4].</param>
/// <param name="Attn">SNet's attention vector for DNet, <c>σ(toAttn(f))</c>, [B, 1024].</param>
/// <param name="SnetLogits">SNet's auxiliary prediction <c>fc(f)</c>, [B, 7].</param>
/// <param name="KeyFrames">Source frame of each detail frame in the 64-frame clip, −1 for black, [B, 16]
/// key-major: <see cref="TorchRdfer.KeyFrameIndices"/> of <paramref name="Mu"/> and <paramref name="Delta"/>
/// rounded to float32.</param>
/// <param name="DnetLayers">DNet layer1..layer4 outputs on the detail frames, shapes as in
/// <paramref name="SnetLayers"/>.</param>
/// <param name="DnetFeatures">DNet new_fc output averaged over each key's 4 frames, [B, 4, 512].</param>
/// <param name="DnetLstm">DNet BiLSTM output before the attention vector multiplies it, [B, 4, 1024].</param>
/// <param name="DnetGate">DNet gated instances, from <c>ori = DnetLstm·Attn</c>, [B, 4, 1024].</param>
/// <param name="DnetBag">DNet pwconv output, [B, 1024].</param>
/// <param name="Logits">The model's prediction <c>dnet.fc(DnetBag)</c>, [B, 7].</param>
public sealed record RdferStages(
    double[] SnetStem,
    double[][] SnetLayers,
    double[] SnetFeatures,
    double[] SnetLstm,
    double[] SnetGate,
    double[] SnetBag,
    double[] Mu,
    double[] Delta,
    double[] Attn,
    double[] SnetLogits,
    int[] KeyFrames,
    double[][] DnetLayers,
    double[] DnetFeatures,
    double[] DnetLstm,
    double[] DnetGate,
    double[] DnetBag,
    double[] Logits);
