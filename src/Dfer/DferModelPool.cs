using System.Threading.Channels;

namespace Dfer;

/// <summary>
/// Several instances of one model, for scoring in parallel (a server, a corpus): each call takes a free instance,
/// waiting for one when all are busy, and gives it back when done. Every member is safe to call from any thread.
/// </summary>
/// <remarks>
/// Each instance holds its own compiled model (memory × <see cref="Instances"/>) and, on the cpu backend, its own
/// threads: give <see cref="DferOptions.Threads"/> = cores ÷ instances so they do not compete (docs/library.md).
/// </remarks>
public sealed class DferModelPool : IDisposable
{
    private readonly DferModel[] _models;
    private readonly Channel<DferModel> _free;
    private int _disposed;

    /// <summary>Loads <paramref name="instances"/> instances of <paramref name="model"/> (see
    /// <see cref="DferModel.Load(string, string?, DferOptions?)"/>); a failure disposes those already loaded.</summary>
    /// <exception cref="DferException">As for <see cref="DferModel.Load(string, string?, DferOptions?)"/>, or fewer
    /// than one instance.</exception>
    public DferModelPool(string model, string? checkpoint, int instances, DferOptions? options = null)
    {
        if (instances < 1)
            throw new DferException($"a pool needs at least one instance, got {instances}");
        var models = new List<DferModel>(instances);
        try
        {
            for (int i = 0; i < instances; i++) models.Add(DferModel.Load(model, checkpoint, options));
        }
        catch
        {
            foreach (var m in models) m.Dispose();
            throw;
        }
        _models = models.ToArray();
        _free = Channel.CreateUnbounded<DferModel>();
        foreach (var m in _models) _free.Writer.TryWrite(m);
    }

    /// <summary>How many calls run at once.</summary>
    public int Instances => _models.Length;

    /// <summary>The model's class labels (see <see cref="DferModel.Classes"/>).</summary>
    public IReadOnlyList<string> Classes => _models[0].Classes;

    /// <summary>Runs <paramref name="call"/> on a free instance on a thread-pool thread, waiting (cancellably) for one
    /// when all are busy.</summary>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    public async Task<T> RunAsync<T>(Func<DferModel, CancellationToken, T> call,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        DferModel model;
        try
        {
            model = await _free.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(DferModelPool));
        }
        try
        {
            return await Task.Run(() => call(model, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _free.Writer.TryWrite(model);
        }
    }

    /// <summary><see cref="DferModel.ScoreVideo"/> on a free instance.</summary>
    public Task<VideoResult> ScoreVideoAsync(string path, CancellationToken cancellationToken = default) =>
        RunAsync((m, c) => m.ScoreVideo(path, c), cancellationToken);

    /// <summary><see cref="DferModel.ScoreFrames"/> on a free instance.</summary>
    public Task<VideoResult> ScoreFramesAsync(IReadOnlyList<VideoFrame> frames, double? framesPerSecond = null,
        CancellationToken cancellationToken = default) =>
        RunAsync((m, c) => m.ScoreFrames(frames, framesPerSecond, c), cancellationToken);

    /// <summary><see cref="DferModel.ScoreClips"/> on a free instance; the clips are read while the call runs.
    /// </summary>
    public Task<IReadOnlyList<ClipScores>> ScoreClipsAsync(ReadOnlyMemory<float> clips, int[] shape,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return RunAsync((m, c) => m.ScoreClips(clips.Span, shape, c), cancellationToken);
    }

    /// <summary>Disposes every instance (each after the call it is running, if any).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _free.Writer.TryComplete();
        foreach (var m in _models) m.Dispose();
    }
}
