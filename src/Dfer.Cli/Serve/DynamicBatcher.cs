using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Dfer.Runtime;

namespace Dfer.Cli.Serve;

/// <summary>The model's queue is full: the request is refused at once (HTTP 429, gRPC RESOURCE_EXHAUSTED).</summary>
internal sealed class QueueFullException(string model, int capacity)
    : Exception($"{model}: the queue is full ({capacity} requests waiting); retry later");

/// <summary>
/// Coalesces concurrent requests for one model into batches (docs/serving.md, "Dynamic batching"): a batch starts with
/// the oldest waiting request and takes the next ones while it has room for their clips (at most
/// <c>maxBatch</c> clips; a larger request runs alone, unsplit), waiting at most <c>maxDelay</c> after its first
/// request for others to arrive. One forward pass per batch; each request gets the rows of its own clips, which on the
/// CPU backend are the same bits as when it runs alone (BatchInvarianceTests).
/// </summary>
/// <remarks>
/// <para>The queue is bounded: when <c>maxQueue</c> requests wait, <see cref="ScoreAsync"/> throws
/// <see cref="QueueFullException"/> at once. A request whose token is cancelled (its client went away, its deadline
/// passed) while it waits is dropped before its batch is assembled.</para>
/// <para>A backend that runs asynchronously (<see cref="Session.Pipelined"/>, cuda) keeps one batch in flight: the next
/// batch is assembled and submitted before the results of the previous one are collected.</para>
/// </remarks>
internal sealed class DynamicBatcher : IAsyncDisposable
{
    private sealed class Request(float[] clips, int count, ArrayPool<float>? pool, CancellationToken cancel)
    {
        public readonly float[] Clips = clips;
        public readonly ArrayPool<float>? Pool = pool;
        private int _released;

        /// <summary>Gives a pooled clip array back, once: after its clips were copied into a batch, or when the
        /// request is dropped.</summary>
        public void Release()
        {
            if (Pool is not null && Interlocked.Exchange(ref _released, 1) == 0) Pool.Return(Clips);
        }

        public readonly int Count = count;
        public readonly CancellationToken Cancel = cancel;
        public readonly TaskCompletionSource<ClipResult[]> Done =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly long Enqueued = Stopwatch.GetTimestamp();
    }

    private readonly Session _session;
    private readonly string _model;
    private readonly int _maxBatch;
    private readonly TimeSpan _maxDelay;
    private readonly ServerMetrics _metrics;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _worker;
    private readonly Places _waiting;
    private Request? _carried;
    private float[] _buffer = [];

    public DynamicBatcher(Session session, string model, int maxBatch, TimeSpan maxDelay, int maxQueue,
        ServerMetrics metrics)
    {
        _session = session;
        _model = model;
        _maxBatch = maxBatch;
        _maxDelay = maxDelay;
        _waiting = new Places(maxQueue);
        _metrics = metrics;
        _worker = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap();
    }

    /// <summary>Requests waiting now.</summary>
    public int Waiting => _waiting.Taken;

    /// <summary>Scores <paramref name="count"/> clips (already checked: right length, finite) in the next batch with
    /// room for them.</summary>
    /// <param name="pool">The pool the clips were rented from, if they were: the batcher owns the array
    /// from this call on and returns it once its clips are copied into a batch (or the request is dropped or
    /// refused), so a stream of requests reuses arrays instead of filling the large-object heap. The caller must not
    /// touch it again.</param>
    /// <exception cref="QueueFullException">The queue is full.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled while the request waited.</exception>
    public Task<ClipResult[]> ScoreAsync(float[] clips, int count, CancellationToken cancel,
        ArrayPool<float>? pool = null)
    {
        var request = new Request(clips, count, pool, cancel);
        if (!_waiting.TryTake())
        {
            request.Release();
            throw new QueueFullException(_model, _waiting.Limit);
        }
        _metrics.QueueDepth(_model, Waiting);
        if (cancel.CanBeCanceled)
            request.Cancel.Register(static r => ((Request)r!).Done.TrySetCanceled(((Request)r!).Cancel), request);
        if (!_queue.Writer.TryWrite(request))
        {
            _waiting.Give();
            request.Release();
            throw new ObjectDisposedException(nameof(DynamicBatcher), $"{_model}: the server is shutting down");
        }
        return request.Done.Task;
    }

    private async Task Work()
    {
        PendingBatch? inFlight = null;
        while (true)
        {
            // Nothing waiting: collect the batch in flight now rather than hold its answers until a request comes.
            if (inFlight is not null && _carried is null && !_queue.Reader.TryPeek(out _))
            {
                Collect(inFlight);
                inFlight = null;
            }
            List<Request>? batch = await Assemble().ConfigureAwait(false);
            if (batch is null) break;
            PendingBatch? next = Submit(batch);
            // On a synchronous backend Submit has already run the batch; on cuda the previous batch is collected now,
            // after the next one went on its way.
            if (inFlight is not null) Collect(inFlight);
            inFlight = next;
            if (inFlight is not null && !_session.Pipelined)
            {
                Collect(inFlight);
                inFlight = null;
            }
        }
        if (inFlight is not null) Collect(inFlight);
    }

    /// <summary>The next batch: the oldest live request, then others while there is room, waiting at most the delay
    /// after the first; null when the queue is closed and empty.</summary>
    private async Task<List<Request>?> Assemble()
    {
        Request? first = _carried;
        _carried = null;
        while (first is null || Dropped(first))
        {
            if (!await _queue.Reader.WaitToReadAsync().ConfigureAwait(false)) return null;
            if (_queue.Reader.TryRead(out first)) Dequeued();
        }
        var batch = new List<Request> { first };
        int clips = first.Count;
        var deadline = Stopwatch.GetTimestamp() + (long)(_maxDelay.TotalSeconds * Stopwatch.Frequency);
        while (clips < _maxBatch)
        {
            if (_queue.Reader.TryRead(out Request? next))
            {
                Dequeued();
                if (Dropped(next)) continue;
                if (clips + next.Count > _maxBatch)
                {
                    _carried = next;   // first in the next batch: order is kept
                    break;
                }
                batch.Add(next);
                clips += next.Count;
                continue;
            }
            long left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0) break;
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
            try
            {
                if (!await _queue.Reader.WaitToReadAsync(wait.Token).ConfigureAwait(false)) break;
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return batch;
    }

    private void Dequeued()
    {
        _waiting.Give();
        _metrics.QueueDepth(_model, Waiting);
    }

    /// <summary>Whether <paramref name="r"/> was cancelled while it waited (its task is then already cancelled); a
    /// dropped request's clips go back to the pool.</summary>
    private static bool Dropped(Request r)
    {
        if (!r.Done.Task.IsCompleted) return false;
        r.Release();
        return true;
    }

    private sealed record PendingBatch(List<Request> Requests, PendingClips Run, long Started);

    private PendingBatch? Submit(List<Request> batch)
    {
        int clips = batch.Sum(r => r.Count), length = _session.ClipLength;
        if (_buffer.Length < (long)clips * length) _buffer = new float[(long)clips * length];
        int at = 0;
        foreach (Request r in batch)
        {
            r.Clips.AsSpan(0, r.Count * length).CopyTo(_buffer.AsSpan(at));
            r.Release();
            at += r.Count * length;
        }
        _metrics.Batch(_model, clips);
        try
        {
            // Submit copies the clips before it returns; the buffer is free again.
            var run = _session.Submit(_buffer.AsSpan(0, at), clips, "batch");
            return new PendingBatch(batch, run, Stopwatch.GetTimestamp());
        }
        catch (Exception ex)
        {
            foreach (Request r in batch) r.Done.TrySetException(ex);
            return null;
        }
    }

    private void Collect(PendingBatch pending)
    {
        ClipResult[] results;
        try
        {
            results = pending.Run.Wait();
        }
        catch (Exception ex)
        {
            foreach (Request r in pending.Requests) r.Done.TrySetException(ex);
            return;
        }
        _metrics.Inference(_model, Stopwatch.GetElapsedTime(pending.Started).TotalSeconds);
        int at = 0;
        foreach (Request r in pending.Requests)
        {
            r.Done.TrySetResult(results[at..(at + r.Count)]);
            at += r.Count;
        }
    }

    /// <summary>Stops taking requests and finishes every request already queued.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
    }
}
