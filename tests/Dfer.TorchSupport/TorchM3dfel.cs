using Dfer.Reference;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// Reference implementation of M3DFEL (Tencent/TFace, CVPR 2023) in TorchSharp, computing what the
/// original PyTorch module computes in eval mode: unfolded BatchNorm, PyTorch's LSTM equations,
/// 8-head self-attention, DMIN, sigmoid gate, pwconv and fc. It serves as the oracle for the
/// engine's own kernels, so it favours being literal over being fast.
/// </summary>
public sealed class TorchM3dfel : IDisposable
{
    /// <summary>Frames per clip.</summary>
    public const int Frames = 16;
    /// <summary>Colour channels per frame.</summary>
    public const int Channels = 3;
    /// <summary>Frame height and width.</summary>
    public const int Size = 112;
    /// <summary>Number of expression classes (logits per clip).</summary>
    public const int Classes = 7;

    private const int Instances = 4;
    private const int FramesPerInstance = Frames / Instances;
    private const int Hidden = 512;
    private const int Heads = 8;
    private const int HeadDim = 128;
    private const double BatchNormEps = 1e-5;
    private const double DminEps = 1e-5;

    private readonly ScalarType _dtype;
    private readonly List<Tensor> _owned = [];
    private readonly ConvBn _stem;
    private readonly BasicBlock[] _blocks;
    private readonly TorchLstmDirection[][] _lstm;
    private readonly Tensor _toQkv;
    private readonly Tensor _normWeight;
    private readonly Tensor _normBias;
    private readonly Tensor _meanWeight;
    private readonly Tensor _varWeight;
    private readonly Tensor _pwconvWeight;
    private readonly Tensor _pwconvBias;
    private readonly Tensor _fcWeight;
    private readonly Tensor _fcBias;
    private bool _disposed;

    /// <summary>Builds the model from the official code's <c>model.state_dict()</c>.</summary>
    /// <param name="stateDict">All parameter and buffer tensors keyed exactly as the original module
    /// names them (no <c>module.</c> prefix), as row-major float32 data plus shape.
    /// <c>num_batches_tracked</c> entries may be present or not; every other key is required and
    /// unknown keys are rejected, as PyTorch's strict loading does.</param>
    /// <param name="dtype"><see cref="ScalarType.Float64"/> or <see cref="ScalarType.Float32"/>: the
    /// precision every computation runs in.</param>
    /// <exception cref="ArgumentException">A key is missing or unknown, or a shape or data length
    /// does not match.</exception>
    public TorchM3dfel(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, ScalarType dtype)
    {
        StateDictArguments.Check(stateDict, dtype);
        TorchRuntime.EnsureLoaded();
        _dtype = dtype;

        var used = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            Tensor Load(string key, params long[] shape) =>
                StateDictArguments.Load(stateDict, key, shape, dtype, used, _owned);

            ConvBn LoadConvBn(string conv, string bn, long outC, long inC, long[] kernel, long[] stride, long[] padding)
                => new(
                Load($"{conv}.weight", [outC, inC, .. kernel]),
                Load($"{bn}.running_mean", outC),
                Load($"{bn}.running_var", outC),
                Load($"{bn}.weight", outC),
                Load($"{bn}.bias", outC),
                stride,
                padding);

            long[] k3 = [3, 3, 3], k1 = [1, 1, 1], s1 = [1, 1, 1], s2 = [2, 2, 2], p1 = [1, 1, 1], p0 = [0, 0, 0];
            _stem = LoadConvBn("features.0.0", "features.0.1", 64, Channels, [3, 7, 7], [1, 2, 2], [1, 3, 3]);

            int[] widths = [64, 128, 256, 512];
            var blocks = new List<BasicBlock>();
            long inWidth = 64;
            for (int layer = 0; layer < widths.Length; layer++)
            {
                long width = widths[layer];
                for (int block = 0; block < 2; block++)
                {
                    string prefix = $"features.{layer + 1}.{block}";
                    bool strided = layer > 0 && block == 0;
                    long[] stride = strided ? s2 : s1;
                    blocks.Add(new BasicBlock(
                        LoadConvBn($"{prefix}.conv1.0", $"{prefix}.conv1.1", width, inWidth, k3, stride, p1),
                        LoadConvBn($"{prefix}.conv2.0", $"{prefix}.conv2.1", width, width, k3, s1, p1),
                        strided ? LoadConvBn($"{prefix}.downsample.0", $"{prefix}.downsample.1", width, inWidth, k1, s2,
                        p0) : null));
                    inWidth = width;
                }
            }
            _blocks = [.. blocks];

            _lstm = new TorchLstmDirection[2][];
            for (int layer = 0; layer < 2; layer++)
            {
                long input = layer == 0 ? Hidden : 2 * Hidden;
                _lstm[layer] = new TorchLstmDirection[2];
                for (int direction = 0; direction < 2; direction++)
                {
                    string suffix = $"l{layer}{(direction == 1 ? "_reverse" : "")}";
                    _lstm[layer][direction] = new TorchLstmDirection(
                        Load($"lstm.weight_ih_{suffix}", 4 * Hidden, input),
                        Load($"lstm.weight_hh_{suffix}", 4 * Hidden, Hidden),
                        Load($"lstm.bias_ih_{suffix}", 4 * Hidden),
                        Load($"lstm.bias_hh_{suffix}", 4 * Hidden),
                        Reverse: direction == 1);
                }
            }

            _toQkv = Load("to_qkv.weight", 3 * Heads * HeadDim, 2 * Hidden);
            _normWeight = Load("norm.weight", 1, 2 * Hidden, 1);
            _normBias = Load("norm.bias", 1, 2 * Hidden, 1);
            _meanWeight = Load("norm.mean_weight", 2);
            _varWeight = Load("norm.var_weight", 2);
            _pwconvWeight = Load("pwconv.weight", 1, Instances, 3);
            _pwconvBias = Load("pwconv.bias", 1);
            _fcWeight = Load("fc.weight", Classes, 2 * Hidden);
            _fcBias = Load("fc.bias", Classes);

            StateDictArguments.RefuseUnused(stateDict, used, ignoreBatchCounters: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The precision the model computes in.</summary>
    public ScalarType DType => _dtype;

    /// <summary>Runs the model on <paramref name="batch"/> clips.</summary>
    /// <param name="clips">Row-major float32 data of shape [batch, 16, 3, 112, 112]: frames of RGB
    /// pixels scaled to [0, 1].</param>
    /// <param name="batch">Number of clips, at least 1.</param>
    /// <returns>Logits of shape [batch, 7], row-major. Unlike the original's <c>.squeeze()</c>, a
    /// batch of one still yields [1, 7].</returns>
    public double[] Forward(float[] clips, int batch)
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

        using var scope = NewDisposeScope();
        using var inference = inference_mode();

        var input = tensor(clips, [batch, Frames, Channels, Size, Size], ScalarType.Float32).to_type(_dtype);
        var ori = Lstm(Backbone(input, batch));
        var y = Attention(ori);
        var z = Dmin(y);
        var gated = ori * sigmoid(z);
        var pooled = F.conv1d(gated, _pwconvWeight, _pwconvBias, padding: 1).reshape(batch, 2 * Hidden);
        var logits = F.linear(pooled, _fcWeight, _fcBias);
        return logits.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
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

    /// <returns>Per-instance features, [batch, 4, 512].</returns>
    private Tensor Backbone(Tensor input, int batch)
    {
        // Instance j holds frames 4j..4j+3; r3d_18 wants [N, C, T, H, W].
        var x = input
            .reshape(batch * Instances, FramesPerInstance, Channels, Size, Size)
            .permute(0, 2, 1, 3, 4);
        x = F.relu(_stem.Apply(x));
        foreach (var block in _blocks)
            x = block.Apply(x);
        return F.adaptive_avg_pool3d(x, 1).reshape(batch, Instances, Hidden);
    }

    // The stages below are internal so that tests can hold them against independent references.

    /// <returns>The bidirectional two-layer LSTM's output sequence, [batch, 4, 1024], forward half first.</returns>
    internal Tensor Lstm(Tensor sequence)
    {
        foreach (var layer in _lstm)
            sequence = cat([layer[0].Run(sequence, _dtype), layer[1].Run(sequence, _dtype)], 2);
        return sequence;
    }

    /// <returns>8-head self-attention over the 4 instances, [batch, 4, 1024], without output projection.</returns>
    internal Tensor Attention(Tensor x)
    {
        long batch = x.shape[0];
        var qkv = F.linear(x, _toQkv).chunk(3, 2);
        Tensor SplitHeads(Tensor t) => t.reshape(batch, Instances, Heads, HeadDim).permute(0, 2, 1, 3);
        var q = SplitHeads(qkv[0]);
        var k = SplitHeads(qkv[1]);
        var v = SplitHeads(qkv[2]);
        var attention = softmax(matmul(q, k.transpose(-1, -2)) * Math.Pow(HeadDim, -0.5), -1);
        return matmul(attention, v).permute(0, 2, 1, 3).reshape(batch, Instances, Heads * HeadDim);
    }

    /// <summary>Dynamic multi-instance normalisation over the 4 instances (dimension 1 here; the
    /// original transposes to [B, C, N] and reduces over N, which is the same thing).</summary>
    internal Tensor Dmin(Tensor y)
    {
        var meanIn = y.mean([1], keepdim: true);
        var varIn = y.var(1, unbiased: true, keepdim: true);
        var meanLn = meanIn.mean([2], keepdim: true);
        var varLn = (varIn + meanIn * meanIn).mean([2], keepdim: true) - meanLn * meanLn;

        var wm = softmax(_meanWeight, 0);
        var wv = softmax(_varWeight, 0);
        var mean = wm[0] * meanIn + wm[1] * meanLn;
        var variance = wv[0] * varIn + wv[1] * varLn;

        var weight = _normWeight.reshape(1, 1, 2 * Hidden);
        var bias = _normBias.reshape(1, 1, 2 * Hidden);
        return (y - mean) / sqrt(variance + DminEps) * weight + bias;
    }

    private sealed record ConvBn(Tensor Weight, Tensor RunningMean, Tensor RunningVar, Tensor Gamma, Tensor Beta,
        long[] Stride, long[] Padding)
    {
        public Tensor Apply(Tensor x) => F.batch_norm(
            F.conv3d(x, Weight, null, Stride, Padding),
            RunningMean, RunningVar, Gamma, Beta, training: false, eps: BatchNormEps);
    }

    private sealed record BasicBlock(ConvBn Conv1, ConvBn Conv2, ConvBn? Downsample)
    {
        public Tensor Apply(Tensor x)
        {
            var main = Conv2.Apply(F.relu(Conv1.Apply(x)));
            var shortcut = Downsample?.Apply(x) ?? x;
            return F.relu(main + shortcut);
        }
    }
}
