using System.Diagnostics;
using System.Runtime.ExceptionServices;

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
/// <para><b>Order.</b> Workers claim indices in increasing order from one counter and park each
/// finished result under its index; <see cref="Consume"/> hands out index 0, 1, 2, ... and waits for
/// the next one when a slower worker still has it. Results never overtake each other, however the
/// work's duration varies.</para>
/// <para><b>Bound.</b> Every result held ahead of the consumer has a weight (<c>weight</c>, at least
/// 1; e.g. the clips of a decoded video), and an item being worked on counts 1. A worker claims the
/// next item only while the weight held ahead (finished and unclaimed-by-the-consumer, plus items in
/// progress) is below <c>budget</c>; the consumer taking a result frees its weight. So at most
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
    private readonly CancellationTokenSource _stop;
    private readonly CancellationToken _stopToken;
    private readonly CancellationToken _cancellation;
    private readonly CancellationTokenRegistration _cancelRegistration;
    private readonly Task[] _workers;

    // Guarded by _lock; workers and the consumer wait on it and are woken by Monitor.PulseAll.
    private readonly object _lock = new();
    private readonly Dictionary<int, (Prefetched<TOut> Result, int Weight)> _ready = new();
    private int _nextToClaim;
    private int _inProgress;
    private long _heldWeight;
    private bool _stopped;
    private bool _consuming;
    private long _waitTicks;

    /// <param name="items">What to work on, in the order results are consumed.</param>
    /// <param name="work">Runs on a worker thread, several at once when <paramref name="workers"/> &gt; 1: it must be thread-safe.</param>
    /// <param name="budget">How much may be held ahead of the consumer, in <paramref name="weight"/> units (at least 1).</param>
    /// <param name="workers">Background threads; 0 runs the work on the consumer's thread, in <see cref="Consume"/>.</param>
    /// <param name="weight">The weight of a result (values below 1 count 1); default: 1 per item.</param>
    /// <param name="cancellation">Stops the workers, and makes <see cref="Consume"/> throw <see cref="OperationCanceledException"/>.</param>
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
        _cancelRegistration = cancellation.Register(Stop);
        _workers = new Task[Math.Min(workers, items.Count)];
        for (int i = 0; i < _workers.Length; i++)
            _workers[i] = Task.Factory.StartNew(WorkerLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Completion = Task.WhenAll(_workers);
    }

    /// <summary>Completes when every worker has exited (after the last item, or after <see cref="Dispose"/>).</summary>
    public Task Completion { get; }

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
        lock (_lock)
        {
            if (_consuming) throw new InvalidOperationException("the results of a prefetch can be consumed only once");
            _consuming = true;
        }
        return _workers.Length == 0 ? Inline() : FromWorkers(idle);
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
            (Prefetched<TOut> Result, int Weight) entry;
            if (idle is not null)
            {
                bool ready;
                lock (_lock) ready = _stopped || _ready.ContainsKey(i);
                // Outside the lock: the callback may take long (wait for a device), and the workers go on meanwhile.
                if (!ready) idle();
            }
            lock (_lock)
            {
                if (!_stopped && !_ready.ContainsKey(i))
                {
                    long start = Stopwatch.GetTimestamp();
                    while (!_stopped && !_ready.ContainsKey(i)) Monitor.Wait(_lock);
                    Interlocked.Add(ref _waitTicks, Stopwatch.GetElapsedTime(start).Ticks);
                }
                ThrowIfStopped();
                _ready.Remove(i, out entry);
                _heldWeight -= entry.Weight;
                Monitor.PulseAll(_lock);
            }
            yield return entry.Result;
        }
    }

    private void WorkerLoop()
    {
        while (true)
        {
            int index;
            lock (_lock)
            {
                while (!_stopped && _nextToClaim < _items.Count && _inProgress + _heldWeight >= _budget) Monitor.Wait(_lock);
                if (_stopped || _nextToClaim >= _items.Count) return;
                index = _nextToClaim++;
                _inProgress++;
            }
            var entry = Run(index);
            lock (_lock)
            {
                _inProgress--;
                if (_stopped) return;
                _ready.Add(index, entry);
                _heldWeight += entry.Weight;
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Runs the work of item <paramref name="index"/>; whatever it throws is kept for the item.</summary>
    private (Prefetched<TOut> Result, int Weight) Run(int index)
    {
        try
        {
            TOut value = _work(_items[index], _stopToken);
            return (new Prefetched<TOut>(index, value), Math.Max(1, _weight(value)));
        }
        catch (Exception ex)
        {
            return (new Prefetched<TOut>(index, ExceptionDispatchInfo.Capture(ex)), 1);
        }
    }

    private void ThrowIfStopped()
    {
        lock (_lock)
        {
            if (!_stopped) return;
        }
        _cancellation.ThrowIfCancellationRequested();
        throw new ObjectDisposedException("OrderedPrefetch");
    }

    private void Stop()
    {
        lock (_lock)
        {
            if (_stopped) return;
            _stopped = true;
            _ready.Clear();
            _heldWeight = 0;
            Monitor.PulseAll(_lock);
        }
        _stop.Cancel();
    }

    /// <summary>Stops the workers without waiting for them (see <see cref="Completion"/>) and drops results not taken.</summary>
    public void Dispose()
    {
        // Outside the lock: disposing a registration waits for its callback (Stop), which takes the lock.
        _cancelRegistration.Dispose();
        Stop();
        // The token source outlives Dispose until no worker can still be looking at its token.
        Completion.ContinueWith(_ => _stop.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
