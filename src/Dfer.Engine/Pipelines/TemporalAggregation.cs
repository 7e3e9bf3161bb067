using Dfer.Backends;
using Dfer.Models;

namespace Dfer.Pipelines;

/// <summary>
/// Runs a <see cref="TemporalEncoder"/> over the face frames of one video (docs/models/temporal-encoder.md,
/// "Semantics"): their feature vectors in frame order are cut into consecutive chunks of W, each chunk goes through
/// the encoder on its own, and every frame gets the softmax of its row. Full chunks are batched, up to
/// <c>batch</c> at a time, as [B, W, F]; the short last chunk runs alone as [1, L, F].
/// </summary>
public sealed class TemporalAggregation : IDisposable
{
    private readonly IExecutable _graph;
    private readonly int _batch;

    public TemporalAggregation(IBackend backend, TemporalEncoder encoder, int batch)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(encoder);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), "the batch must be at least 1 chunk");
        Encoder = encoder;
        _batch = batch;
        _graph = backend.Compile(encoder.Build());
    }

    public TemporalEncoder Encoder { get; }

    /// <summary>Each face frame's probabilities (7, Dfer's order) from the feature vectors of the face frames, in
    /// frame order.</summary>
    /// <param name="input">The video, named in errors.</param>
    /// <param name="features">One vector of <see cref="TemporalEncoder.Features"/> values per face frame.</param>
    /// <exception cref="DferException">A feature vector is not finite, or the encoder produced non-finite
    /// probabilities.</exception>
    public float[][] Run(string input, IReadOnlyList<float[]> features)
    {
        ArgumentNullException.ThrowIfNull(features);
        int n = features.Count, f = Encoder.Features, w = Encoder.Config.Window, classes = Encoder.Classes;
        for (int i = 0; i < n; i++)
        {
            if (features[i].Length != f)
                throw new ArgumentException($"feature vector {i} has {features[i].Length} values, expected {f}",
                    nameof(features));
            if (!features[i].All(float.IsFinite))
                throw DferException.ForFile(input,
                    $"the features of face frame {i} are not finite; the Temporal Encoder cannot score them");
        }
        var result = new float[n][];
        var chunks = TemporalEncoder.Chunks(n, w).ToList();
        int full = chunks.Count(c => c.Length == w);
        for (int c = 0; c < chunks.Count;)
        {
            // Full chunks in batches; the short last chunk alone.
            int length = chunks[c].Length;
            int b = length == w ? Math.Min(_batch, full - c) : 1;
            int start = chunks[c].Start;
            var x = new float[(long)b * length * f];
            for (int i = 0; i < b * length; i++) features[start + i].CopyTo(x, (long)i * f);
            float[] p = _graph.Run(x, [b, length, f])["probabilities"];
            for (int i = 0; i < b * length; i++)
            {
                float[] row = p.AsSpan(i * classes, classes).ToArray();
                if (!row.All(float.IsFinite))
                    throw DferException.ForFile(input,
                        $"the Temporal Encoder {Encoder.Source} produced non-finite probabilities for face frame "
                        + $"{start + i}");
                result[start + i] = row;
            }
            c += b;
        }
        return result;
    }

    /// <summary>The plain mean of the rows (the clip's probabilities under a Temporal Encoder); zeros when there are
    /// none.</summary>
    public static float[] Mean(IReadOnlyList<float[]> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int k = rows.Count > 0 ? rows[0].Length : EmotionClasses.Seven.Count;
        var sum = new double[k];
        foreach (float[] r in rows)
            for (int j = 0; j < k; j++) sum[j] += r[j];
        return sum.Select(v => rows.Count > 0 ? (float)(v / rows.Count) : 0f).ToArray();
    }

    public void Dispose() => _graph.Dispose();
}
