using Dfer.Reference;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// Reference implementation of the Temporal Encoder of <c>docs/models/temporal-encoder.md</c> in TorchSharp, the
/// oracle for the engine's graph. It leans on TorchSharp's own modules rather than re-deriving the maths:
/// <list type="bullet">
/// <item>post-norm layers with the default LayerNorm eps (1e-5) run through <c>nn.TransformerEncoderLayer</c>, the
/// libtorch C++ module, which is post-norm only and has a fixed eps; it takes sequence-first input [L, 1, d];</item>
/// <item>pre-norm layers, and post-norm layers with another eps, are composed from <c>nn.MultiheadAttention</c>
/// (libtorch's, sequence-first), <c>nn.LayerNorm</c> and <c>nn.Linear</c> modules, with <c>F.relu</c> or the exact
/// <c>F.gelu</c> between the feed-forward linears;</item>
/// <item>the input projection, the optional <c>encoder.norm</c> and the head are <c>nn.Linear</c> and
/// <c>nn.LayerNorm</c> modules.</item>
/// </list>
/// Every module is loaded by the parameter names it exposes itself, which are the contract's key names under the
/// layer's prefix; the modules run in eval mode with dropout 0. The sinusoidal table is built with torch ops in
/// float64 from the original Transformer's definition. Chunks run one at a time, without padding or mask.
/// </summary>
public sealed class TorchTemporalEncoder : IDisposable
{
    /// <summary>Logits per frame, in Dfer's class order.</summary>
    public const int Classes = 7;

    private const double DefaultLayerNormEps = 1e-5;

    private readonly List<Tensor> _owned = [];
    private readonly List<nn.Module> _modules = [];
    private readonly Linear _inputProj = null!;
    private readonly Tensor? _posEmbed;
    private readonly Func<Tensor, Tensor>[] _layers = null!;
    private readonly LayerNorm? _finalNorm;
    private readonly Linear _head = null!;
    private readonly string _positional;
    private bool _disposed;

    /// <summary>Builds the encoder from a state dict keyed as the contract names it.</summary>
    /// <param name="stateDict">Row-major float32 data plus shape for every key; d, F, each layer's ff and the number
    /// of layers (keys <c>encoder.layers.0.*</c>, <c>encoder.layers.1.*</c>, … consecutive) are read from it.
    /// <c>encoder.norm.*</c> is optional; <c>pos_embed</c> is required with learned positions and refused
    /// otherwise. Every key must be used and none may be missing or mis-shaped.</param>
    /// <param name="heads">Attention heads of every layer, dividing d.</param>
    /// <param name="normFirst">Pre-norm (<c>true</c>) or post-norm (<c>false</c>) layers.</param>
    /// <param name="activation"><c>"relu"</c> or <c>"gelu"</c> (exact).</param>
    /// <param name="window">W, frames per chunk, 1 … 4096.</param>
    /// <param name="positional"><c>"none"</c>, <c>"learned"</c> or <c>"sinusoidal"</c>.</param>
    /// <param name="layerNormEps">Eps of every LayerNorm, &gt; 0.</param>
    /// <param name="dtype"><see cref="ScalarType.Float64"/> or <see cref="ScalarType.Float32"/>: the precision every
    /// computation runs in.</param>
    /// <exception cref="ArgumentException">A key is missing, unknown or mis-shaped, or an option is out of
    /// range.</exception>
    public TorchTemporalEncoder(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, int heads,
        bool normFirst, string activation, int window, string positional, double layerNormEps = DefaultLayerNormEps,
        ScalarType dtype = ScalarType.Float64)
    {
        StateDictArguments.Check(stateDict, dtype);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(window, 4096);
        if (!(layerNormEps > 0) || !double.IsFinite(layerNormEps))
            throw new ArgumentException($"layerNormEps must be a finite number > 0, not {layerNormEps}.",
                nameof(layerNormEps));
        bool gelu = activation switch
        {
            "relu" => false,
            "gelu" => true,
            _ => throw new ArgumentException($"activation must be \"relu\" or \"gelu\", not \"{activation}\".",
                nameof(activation)),
        };
        if (positional is not ("none" or "learned" or "sinusoidal"))
            throw new ArgumentException(
                $"positional must be \"none\", \"learned\" or \"sinusoidal\", not \"{positional}\".",
                nameof(positional));
        TorchRuntime.EnsureLoaded();

        DType = dtype;
        Heads = heads;
        NormFirst = normFirst;
        Activation = activation;
        Window = window;
        _positional = positional;
        LayerNormEps = layerNormEps;

        var used = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            long[] inShape = ShapeOf(stateDict, "input_proj.weight", 2);
            DModel = checked((int)inShape[0]);
            Features = checked((int)inShape[1]);
            if (DModel % heads != 0)
                throw new ArgumentException($"heads ({heads}) does not divide d_model ({DModel}).", nameof(heads));

            _inputProj = LoadModule(nn.Linear(Features, DModel), "input_proj.", stateDict, used);
            if (positional == "learned")
            {
                _posEmbed = StateDictArguments.Load(stateDict, "pos_embed", [1, window, DModel], dtype, used, _owned)
                    .reshape(window, DModel);
                _owned.Add(_posEmbed);
            }

            int layers = 0;
            while (stateDict.Keys.Any(k => k.StartsWith($"encoder.layers.{layers}.", StringComparison.Ordinal)))
                layers++;
            if (layers == 0)
                throw new ArgumentException("State dict has no encoder layer (no 'encoder.layers.0.*' key).",
                    nameof(stateDict));

            var feedForward = new int[layers];
            _layers = new Func<Tensor, Tensor>[layers];
            for (int i = 0; i < layers; i++)
            {
                string prefix = $"encoder.layers.{i}.";
                long ff = ShapeOf(stateDict, prefix + "linear1.weight", 2)[0];
                feedForward[i] = checked((int)ff);
                _layers[i] = normFirst || layerNormEps != DefaultLayerNormEps
                    ? ComposedLayer(stateDict, used, prefix, ff, gelu)
                    : ModuleLayer(stateDict, used, prefix, ff, gelu);
            }
            FeedForward = feedForward;

            if (stateDict.ContainsKey("encoder.norm.weight") || stateDict.ContainsKey("encoder.norm.bias"))
                _finalNorm = LoadModule(nn.LayerNorm(DModel, layerNormEps), "encoder.norm.", stateDict, used);
            _head = LoadModule(nn.Linear(DModel, Classes), "head.", stateDict, used);

            StateDictArguments.RefuseUnused(stateDict, used);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The precision the model computes in.</summary>
    public ScalarType DType { get; }

    /// <summary>F, the size of a frame's feature vector.</summary>
    public int Features { get; }

    /// <summary>d, the model width.</summary>
    public int DModel { get; }

    /// <summary>Each layer's <c>dim_feedforward</c>; its length is the number of layers.</summary>
    public IReadOnlyList<int> FeedForward { get; } = [];

    /// <summary>Attention heads of every layer.</summary>
    public int Heads { get; }

    /// <summary>Pre-norm (<c>true</c>) or post-norm layers.</summary>
    public bool NormFirst { get; }

    /// <summary><c>"relu"</c> or <c>"gelu"</c>.</summary>
    public string Activation { get; }

    /// <summary>W, frames per chunk.</summary>
    public int Window { get; }

    /// <summary>Eps of every LayerNorm.</summary>
    public double LayerNormEps { get; }

    /// <summary>Whether the state dict holds <c>encoder.norm.*</c>.</summary>
    public bool HasFinalNorm => _finalNorm is not null;

    /// <summary>
    /// The original Transformer's positional table, <c>PE[l, 2k] = sin(l / 10000^(2k/d))</c>,
    /// <c>PE[l, 2k+1] = cos(l / 10000^(2k/d))</c>, computed with torch ops in float64.
    /// </summary>
    /// <returns>[length, dModel], row-major; an odd <paramref name="dModel"/> ends with a sine column.</returns>
    public static double[] SinusoidalTable(int length, int dModel)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dModel, 1);
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        return SinusoidalTensor(length, dModel).contiguous().data<double>().ToArray();
    }

    /// <summary>The model on one chunk of <paramref name="length"/> vectors, positions counted from 0.</summary>
    /// <param name="x">Row-major [length, F].</param>
    /// <param name="length">L ≥ 1; at most W with learned positions (the table has W rows). With no or sinusoidal
    /// positions a longer sequence is accepted, so that tests can run a whole video as one chunk.</param>
    /// <returns>Logits, row-major [length, 7].</returns>
    public double[] ChunkLogits(double[] x, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckInput(x, length, nameof(x));
        if (_posEmbed is not null && length > Window)
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"A chunk holds at most W = {Window} vectors with learned positions.");
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        return ToDoubles(Chunk(Input(x, 0, length)));
    }

    /// <summary>
    /// Per-frame probabilities for a video's face frames: consecutive chunks of W vectors (the last holds the rest),
    /// each run on its own, then a softmax per row.
    /// </summary>
    /// <param name="features">Row-major [frames, F], the face frames in order.</param>
    /// <param name="frames">N ≥ 1.</param>
    /// <returns>Row-major [frames, 7]; each row sums to 1.</returns>
    public double[] PerFrameProbabilities(double[] features, int frames)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckInput(features, frames, nameof(features));
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var chunks = new List<Tensor>();
        for (int start = 0; start < frames; start += Window)
        {
            int length = Math.Min(Window, frames - start);
            chunks.Add(softmax(Chunk(Input(features, start, length)), 1));
        }
        return ToDoubles(cat(chunks, 0));
    }

    /// <summary>The clip's probabilities: the plain mean over frames of <see cref="PerFrameProbabilities"/>.</summary>
    /// <returns>[7].</returns>
    public double[] ClipProbabilities(double[] features, int frames)
    {
        var perFrame = PerFrameProbabilities(features, frames);
        var clip = new double[Classes];
        for (int f = 0; f < frames; f++)
            for (int c = 0; c < Classes; c++)
                clip[c] += perFrame[f * Classes + c];
        for (int c = 0; c < Classes; c++)
            clip[c] /= frames;
        return clip;
    }

    /// <summary>Frees the modules and the native tensors holding the weights.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var module in _modules)
            module.Dispose();
        _modules.Clear();
        foreach (var tensor in _owned)
            tensor.Dispose();
        _owned.Clear();
    }

    /// <returns>Logits [L, 7] of the chunk <paramref name="x"/> [L, F].</returns>
    private Tensor Chunk(Tensor x)
    {
        long length = x.shape[0];
        var h = _inputProj.call(x);
        if (_posEmbed is not null)
            h = h + _posEmbed.narrow(0, 0, length);
        else if (_positional == "sinusoidal")
            h = h + SinusoidalTensor(length, DModel).to_type(DType);
        foreach (var layer in _layers)
            h = layer(h);
        if (_finalNorm is not null)
            h = _finalNorm.call(h);
        return _head.call(h);
    }

    private static Tensor SinusoidalTensor(long length, long dModel)
    {
        var position = arange(length, ScalarType.Float64).unsqueeze(1);
        var evenIndex = arange(0, dModel, 2, ScalarType.Float64);
        var angle = position / pow(10000.0, evenIndex / dModel);
        // sin and cos interleaved per frequency, then cut to d columns: an odd d drops the last cosine.
        return stack([sin(angle), cos(angle)], 2).reshape(length, -1).narrow(1, 0, dModel);
    }

    /// <summary>A post-norm layer run by libtorch's <c>nn.TransformerEncoderLayer</c> (eps 1e-5).</summary>
    private Func<Tensor, Tensor> ModuleLayer(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict,
        HashSet<string> used, string prefix, long ff, bool gelu)
    {
        var layer = LoadModule(
            nn.TransformerEncoderLayer(DModel, Heads, ff, dropout: 0.0,
                activation: gelu ? nn.Activations.GELU : nn.Activations.ReLU),
            prefix, stateDict, used);
        return h => layer.call(h.unsqueeze(1)).squeeze(1);
    }

    /// <summary>A layer composed from libtorch's <c>nn.MultiheadAttention</c> and LayerNorm and Linear modules, for
    /// pre-norm or a LayerNorm eps the libtorch encoder layer does not take.</summary>
    private Func<Tensor, Tensor> ComposedLayer(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict,
        HashSet<string> used, string prefix, long ff, bool gelu)
    {
        var attention = LoadModule(nn.MultiheadAttention(DModel, Heads, dropout: 0.0), prefix + "self_attn.",
            stateDict, used);
        var linear1 = LoadModule(nn.Linear(DModel, ff), prefix + "linear1.", stateDict, used);
        var linear2 = LoadModule(nn.Linear(ff, DModel), prefix + "linear2.", stateDict, used);
        var norm1 = LoadModule(nn.LayerNorm(DModel, LayerNormEps), prefix + "norm1.", stateDict, used);
        var norm2 = LoadModule(nn.LayerNorm(DModel, LayerNormEps), prefix + "norm2.", stateDict, used);

        Tensor SelfAttention(Tensor y)
        {
            var sequenceFirst = y.unsqueeze(1);
            var (output, _) = attention.call(sequenceFirst, sequenceFirst, sequenceFirst, null, true, null);
            return output.squeeze(1);
        }
        Tensor FeedForward(Tensor y)
        {
            var hidden = linear1.call(y);
            return linear2.call(gelu ? F.gelu(hidden) : F.relu(hidden));
        }

        if (NormFirst)
            return h =>
            {
                h = h + SelfAttention(norm1.call(h));
                return h + FeedForward(norm2.call(h));
            };
        return h =>
        {
            h = norm1.call(h + SelfAttention(h));
            return norm2.call(h + FeedForward(h));
        };
    }

    /// <summary>
    /// Converts <paramref name="module"/> to the model's dtype, switches it to eval mode and copies into each of its
    /// parameters the state-dict entry named <paramref name="prefix"/> + the parameter's own name, with the
    /// parameter's shape. The module is disposed with the model.
    /// </summary>
    private T LoadModule<T>(T module, string prefix,
        IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, HashSet<string> used) where T : nn.Module
    {
        _modules.Add(module);
        module.to(DType);
        module.eval();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            var value = StateDictArguments.Load(stateDict, prefix + name, parameter.shape, DType, used, _owned);
            parameter.copy_(value);
        }
        return module;
    }

    /// <summary>The shape of <paramref name="key"/>, which must exist with <paramref name="rank"/> positive
    /// dimensions.</summary>
    private static long[] ShapeOf(IReadOnlyDictionary<string, (float[] Data, long[] Shape)> stateDict, string key,
        int rank)
    {
        if (!stateDict.TryGetValue(key, out var entry))
            throw new ArgumentException($"State dict lacks '{key}'.", nameof(stateDict));
        if (entry.Shape is null || entry.Shape.Length != rank || entry.Shape.Any(s => s < 1 || s > int.MaxValue))
            throw new ArgumentException(
                $"'{key}' has shape [{string.Join(',', entry.Shape ?? [])}], expected {rank} positive dimensions.",
                nameof(stateDict));
        return entry.Shape;
    }

    private void CheckInput(double[] x, int length, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if (x.LongLength != (long)length * Features)
            throw new ArgumentException(
                $"Expected {length} × {Features} values for shape [{length},{Features}], got {x.LongLength}.", name);
    }

    private Tensor Input(double[] x, int start, int length) =>
        tensor(x.AsSpan(start * Features, length * Features).ToArray(), [length, Features], ScalarType.Float64)
            .to_type(DType);

    private static double[] ToDoubles(Tensor t) =>
        t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
}
