using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace Dfer.Cli.Scoring;

/// <summary>
/// What <see cref="OrderedPrefetch{TIn, TOut}"/> made of one item: its value, or the exception its
/// work threw (rethrown, with the worker's stack trace, by <see cref="Value"/>).
/// </summary>
internal readonly struct Prefetched<T>
{
    private readonly T _value;
    private readonly ExceptionDispatchInfo? _error;

    public Prefetched(int index, T value)
    {
        Index = index;
        _value = value;
    }

    public Prefetched(int index, ExceptionDispatchInfo error)
    {
        Index = index;
        _value = default!;
        _error = error;
    }

    /// <summary>The item's position in the input list.</summary>
    public int Index { get; }

    /// <summary>The exception the item's work threw, if it threw.</summary>
    public Exception? Error => _error?.SourceException;

    /// <summary>The work's result; rethrows the exception the work threw, as if it had run here.</summary>
    public T Value
    {
        get
        {
            _error?.Throw();
            return _value;
        }
    }
}

/// <summary>
/// Runs a function over a list of items on background threads, ahead of a consumer that takes the
/// results strictly in list order: while the consumer is busy with result i (a forward pass), the
/// workers already compute i+1, i+2, ... (decode videos), but never more than a bounded amount ahead.
/// </summary>
/// <remarks>
/// <para><b>Order.</b> A worker claims the next item and, in the same turn, writes the item's pending
/// result (a task) to a <see cref="Channel{T}"/>; claims take turns, so the channel holds the results in
/// item order. <see cref="Consume"/> reads the channel and waits for each task in turn: results never
/// overtake each other, however the work's duration varies.</para>
/// <para><b>Bound.</b> Every result held ahead of the consumer has a weight (<c>weight</c>, at least
/// 1; e.g. the clips of a decoded video), and an item being worked on counts 1. A worker claims the
/// next item only while the weight held ahead (finished and not yet taken by the consumer, plus items
/// in progress) is below <c>budget</c>; the consumer taking a result frees its weight. So at most
/// <c>budget</c> items are ever ahead of the consumer, and their weight exceeds the budget only by the
/// items whose weight turned out larger than 1 while they were in progress (at most one per worker).</para>
/// <para><b>Errors.</b> An exception thrown by the work is kept for its item: that item's
/// <see cref="Prefetched{T}.Value"/> rethrows it when the consumer gets there, and every other item
/// is still delivered.</para>
/// <para><b>Stopping.</b> <see cref="Dispose"/> (or cancelling the token given to the constructor)
/// stops the workers: idle ones exit at once, busy ones after the item in hand (the work gets a token
/// that is cancelled then, to stop sooner if it can); nothing waits for them, and
/// <see cref="Completion"/> completes once they are gone. Results not taken are dropped.</para>
/// <para>With 0 workers nothing runs in the background: <see cref="Consume"/> runs the work itself,
/// item by item, when it gets to each.</para>
/// </remarks>
internal sealed class OrderedPrefetch<TIn, TOut> : IDisposable
{
    private readonly IReadOnlyList<TIn> _items;
    private readonly Func<TIn, CancellationToken, TOut> _work;
    private readonly Func<TOut, int> _weight;
    private readonly long _budget;
    private readonly CancellationToken _cancellation;
    private readonly CancellationTokenSource _stop;
    private readonly CancellationToken _stopToken;

    /// <summary>
    /// Pending results in item order: written by the worker that claims an item, read by <see cref="Consume"/>
    /// (and emptied by <see cref="Dispose"/>). Unbounded: the budget bounds what claimers write to it.
    /// </summary>
    private readonly Channel<Task<Entry>> _pending = Channel.CreateUnbounded<Task<Entry>>(
        new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    /// <summary>One claimer at a time, so that claims (and their entries in <see cref="_pending"/>) are in item
    /// order.</summary>
    private readonly SemaphoreSlim _claimTurn = new(1, 1);

    /// <summary>Signalled by the consumer when it frees weight, for a claimer waiting for room under the
    /// budget.</summary>
    private readonly SemaphoreSlim _room = new(0);

    private long _held;
    private int _nextToClaim;
    private int _consuming;
    private long _waitTicks;

    private readonly record struct Entry(Prefetched<TOut> Result, int Weight);

    /// <param name="items">What to work on, in the order results are consumed.</param>
    /// <param name="work">Runs on a worker thread, several at once when <paramref name="workers"/> &gt; 1: it must be
    /// thread-safe.</param>
    /// <param name="budget">How much may be held ahead of the consumer, in <paramref name="weight"/> units (at least
    /// 1).</param>
    /// <param name="workers">Background threads; 0 runs the work on the consumer's thread, in
    /// <see cref="Consume"/>.</param>
    /// <param name="weight">The weight of a result (values below 1 count 1); default: 1 per item.</param>
    /// <param name="cancellation">Stops the workers, and makes <see cref="Consume"/> throw
    /// <see cref="OperationCanceledException"/>.</param>
    public OrderedPrefetch(IReadOnlyList<TIn> items, Func<TIn, CancellationToken, TOut> work, int budget, int workers,
        Func<TOut, int>? weight = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(work);
        ArgumentOutOfRangeException.ThrowIfLessThan(budget, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        _items = items;
        _work = work;
        _weight = weight ?? (_ => 1);
        _budget = budget;
        _cancellation = cancellation;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        _stopToken = _stop.Token;
        var threads = new Task[Math.Min(workers, items.Count)];
        for (int i = 0; i < threads.Length; i++)
            threads[i] = Task.Factory.StartNew(WorkerLoop, CancellationToken.None, TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        Workers = threads.Length;
        Completion = Task.WhenAll(threads);
    }

    /// <summary>Completes when every worker has exited (after the last item, or after <see cref="Dispose"/>).</summary>
    public Task Completion { get; }

    private int Workers { get; }

    /// <summary>
    /// How long <see cref="Consume"/> has waited for results that were not ready yet (with 0 workers:
    /// the time spent running the work).
    /// </summary>
    public TimeSpan Waited => TimeSpan.FromTicks(Interlocked.Read(ref _waitTicks));

    /// <summary>The results, in the order of the items; may be enumerated once.</summary>
    /// <param name="idle">
    /// Called on the consumer's thread, before it waits, whenever the next result is not ready yet (never with 0
    /// workers, where nothing runs ahead): a chance to finish other work that would otherwise wait for the next result.
    /// </param>
    /// <exception cref="ObjectDisposedException">Disposed while consuming.</exception>
    /// <exception cref="OperationCanceledException">The constructor's token was cancelled.</exception>
    public IEnumerable<Prefetched<TOut>> Consume(Action? idle = null)
    {
        if (Interlocked.Exchange(ref _consuming, 1) != 0)
            throw new InvalidOperationException("the results of a prefetch can be consumed only once");
        return Workers == 0 ? Inline() : FromWorkers(idle);
    }

    private IEnumerable<Prefetched<TOut>> Inline()
    {
        for (int i = 0; i < _items.Count; i++)
        {
            ThrowIfStopped();
            long start = Stopwatch.GetTimestamp();
            Prefetched<TOut> result = Run(i).Result;
            Interlocked.Add(ref _waitTicks, Stopwatch.GetElapsedTime(start).Ticks);
            yield return result;
        }
    }

    private IEnumerable<Prefetched<TOut>> FromWorkers(Action? idle)
    {
        for (int i = 0; i < _items.Count; i++)
        {
            Entry entry = Next(idle);
            // The consumer has it: its weight no longer counts against the budget.
            Interlocked.Add(ref _held, -entry.Weight);
            if (_room.CurrentCount == 0) _room.Release();
            yield return entry.Result;
        }
    }

    /// <summary>The next result in item order, waited for (after <paramref name="idle"/>) when it is not
    /// ready.</summary>
    private Entry Next(Action? idle)
    {
        ThrowIfStopped();
        bool ready = _pending.Reader.TryPeek(out Task<Entry>? next) && next.IsCompleted;
        if (!ready)
        {
            // The workers go on meanwhile; the callback may take long (wait for a device).
            idle?.Invoke();
            long start = Stopwatch.GetTimestamp();
            try
            {
                while (!_pending.Reader.TryPeek(out next))
                {
                    if (_pending.Reader.WaitToReadAsync(_stopToken).AsTask().GetAwaiter().GetResult()) continue;
                    // The channel completes early only when stopped; otherwise every item is queued before it
                    // completes.
                    ThrowIfStopped();
                    throw new InvalidOperationException("the prefetch finished without queuing every item");
                }
                next.Wait(_stopToken);
            }
            catch (OperationCanceledException) when (_stopToken.IsCancellationRequested)
            {
                ThrowIfStopped();
            }
            finally
            {
                Interlocked.Add(ref _waitTicks, Stopwatch.GetElapsedTime(start).Ticks);
            }
        }
        ThrowIfStopped();
        _pending.Reader.TryRead(out _);
        return next!.Result;
    }

    private void WorkerLoop()
    {
        try
        {
            while (Claim() is (int index, TaskCompletionSource<Entry> pending))
            {
                Entry entry = Run(index);
                // Counted before the consumer can take it, which frees the whole weight.
                Interlocked.Add(ref _held, entry.Weight - 1);
                pending.SetResult(entry);
            }
        }
        catch (OperationCanceledException) when (_stopToken.IsCancellationRequested)
        {
            // Stopped while waiting for a turn or for room: nothing was claimed.
        }
    }

    /// <summary>
    /// Claims the next item once there is room under the budget, and queues its pending result for
    /// the consumer; null when every item is claimed or the prefetch is stopped.
    /// </summary>
    private (int Index, TaskCompletionSource<Entry> Pending)? Claim()
    {
        _claimTurn.Wait(_stopToken);
        try
        {
            while (!_stopToken.IsCancellationRequested && _nextToClaim < _items.Count
                && Interlocked.Read(ref _held) >= _budget)
                _room.Wait(_stopToken);
            if (_stopToken.IsCancellationRequested || _nextToClaim >= _items.Count) return null;
            Interlocked.Increment(ref _held);
            var pending = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending.Writer.TryWrite(pending.Task);
            if (++_nextToClaim == _items.Count) _pending.Writer.TryComplete();
            return (_nextToClaim - 1, pending);
        }
        finally
        {
            _claimTurn.Release();
        }
    }

    /// <summary>Runs the work of item <paramref name="index"/>; whatever it throws is kept for the item.</summary>
    private Entry Run(int index)
    {
        try
        {
            TOut value = _work(_items[index], _stopToken);
            return new Entry(new Prefetched<TOut>(index, value), Math.Max(1, _weight(value)));
        }
        catch (Exception ex)
        {
            return new Entry(new Prefetched<TOut>(index, ExceptionDispatchInfo.Capture(ex)), 1);
        }
    }

    private void ThrowIfStopped()
    {
        if (!_stopToken.IsCancellationRequested) return;
        _cancellation.ThrowIfCancellationRequested();
        throw new ObjectDisposedException("OrderedPrefetch");
    }

    /// <summary>Stops the workers without waiting for them (see <see cref="Completion"/>) and drops results not
    /// taken.</summary>
    public void Dispose()
    {
        if (!_stopToken.IsCancellationRequested) _stop.Cancel();
        _pending.Writer.TryComplete();
        while (_pending.Reader.TryRead(out _)) { }
        // The token source outlives Dispose until no worker can still be looking at its token. (The semaphores
        // hold nothing to release: their wait handles are never asked for.)
        Completion.ContinueWith(_ => _stop.Dispose(), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
