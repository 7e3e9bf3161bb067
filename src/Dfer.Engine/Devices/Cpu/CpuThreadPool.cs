using System.Runtime.ExceptionServices;

namespace Dfer.Devices.Cpu;

/// <summary>A unit of parallel work: item <c>index</c> of a batch, run on worker <c>thread</c> (0 = caller).</summary>
public interface IParallelWork
{
    void Execute(int index, int thread);
}

/// <summary>
/// A fixed set of worker threads that, together with the calling thread, drain a counter of work
/// items. Kernels keep their <see cref="IParallelWork"/> objects, so a forward pass allocates nothing;
/// items are claimed dynamically, which keeps both cores busy on a shared, noisy machine.
/// </summary>
public sealed class CpuThreadPool : IDisposable
{
    private readonly Thread?[] _workers;
    private readonly SemaphoreSlim _start = new(0);
    private readonly object _runLock = new();
    private IParallelWork? _work;
    private int _count;
    private int _next;
    private int _busy;
    private volatile bool _stopping;
    private ExceptionDispatchInfo? _error;

    /// <summary>
    /// The most threads a pool takes. Every thread costs the process about four memory mappings (its
    /// stack, the stack's guard page, the runtime's signal stack and its guard); on Linux, at the
    /// default <c>vm.max_map_count</c> of 65530, around 16,000 threads exhaust them and the .NET runtime
    /// dies with SIGSEGV and no message (measured: <c>--threads 20000</c> crashed at 16,305 threads).
    /// More workers than cores only add switching, so a bound far above any core count costs nothing.
    /// </summary>
    public const int MaxThreads = 1024;

    /// <param name="threads">1 to <see cref="MaxThreads"/>, the caller included.</param>
    /// <exception cref="DferException">More than <see cref="MaxThreads"/> threads, or the OS refused to start
    /// one.</exception>
    public CpuThreadPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        if (threads > MaxThreads)
            throw new DferException(
                $"{threads} cpu threads: at most {MaxThreads} (this machine has {Environment.ProcessorCount} cores)");
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int id = i + 1;
            try
            {
                var worker = new Thread(() => WorkerLoop(id)) { IsBackground = true, Name = $"dfer-cpu-{id}" };
                worker.Start();
                _workers[i] = worker;
            }
            catch (Exception ex) when (ex is OutOfMemoryException or ThreadStartException)
            {
                // The ones already running wait on _start: release and join them, then say why.
                StopWorkers();
                throw new DferException(
                    $"{threads} cpu threads: the OS refused to start thread {id + 1} "
                    + $"({ex.Message.ReplaceLineEndings(" ")})", ex);
            }
        }
    }

    public int Threads { get; }

    /// <summary>Told the item count of every <see cref="Run"/> before it starts (tests compare the thread-scaling
    /// model's dispatches with a real pass's).</summary>
    internal Action<int>? Dispatched { get; set; }

    /// <summary>Runs <paramref name="work"/> for indices 0..count-1 and returns when all are done.</summary>
    public void Run(IParallelWork work, int count)
    {
        if (count <= 0) return;
        Dispatched?.Invoke(count);
        if (Threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++) work.Execute(i, 0);
            return;
        }
        lock (_runLock)
        {
            _work = work;
            _count = count;
            _next = 0;
            _error = null;
            int helpers = Math.Min(_workers.Length, count - 1);
            Volatile.Write(ref _busy, helpers);
            _start.Release(helpers);
            Drain(0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _busy) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _work = null;
            _error?.Throw();
        }
    }

    private void Drain(int thread)
    {
        var work = _work!;
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < _count)
        {
            try { work.Execute(i, thread); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                Interlocked.Exchange(ref _next, _count);
            }
        }
    }

    private void WorkerLoop(int id)
    {
        while (true)
        {
            _start.Wait();
            if (_stopping) return;
            Drain(id);
            Interlocked.Decrement(ref _busy);
        }
    }

    public void Dispose()
    {
        StopWorkers();
        _start.Dispose();
    }

    private void StopWorkers()
    {
        _stopping = true;
        int started = _workers.Count(w => w is not null);
        if (started > 0) _start.Release(started);
        foreach (var w in _workers) w?.Join();
    }
}
