using Dfer.Ops;

namespace Dfer.Backends;

/// <summary>A place to run graphs: turns a model graph into something executable on its device.</summary>
public interface IBackend : IDisposable
{
    /// <summary>Stable backend name as the CLI spells it ("cpu", "reference").</summary>
    string Name { get; }

    /// <summary>The device in words, for reports.</summary>
    string Device { get; }

    /// <summary>Prepares <paramref name="graph"/> (packs weights, resolves kernels) for repeated runs.</summary>
    IExecutable Compile(Graph graph);
}

/// <summary>Per-node observer, e.g. a profiler: called after each node with its wall time.</summary>
public delegate void NodeTimer(Node node, int[][] inputShapes, double milliseconds);

/// <summary>A compiled graph. Not thread-safe: one run at a time.</summary>
public interface IExecutable : IDisposable
{
    /// <summary>Runs on a row-major input of <paramref name="shape"/> and returns each named graph output as row-major
    /// floats.</summary>
    IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape);

    /// <summary>When set, the executable times each node and reports it (synchronously, so costs a little).</summary>
    NodeTimer? Timer { get; set; }

    /// <summary>The FLOPs this executable's kernel for <paramref name="node"/> executes on inputs of
    /// <paramref name="inputShapes"/>; by default the op's nominal count (<see cref="Op.Flops"/>), which a backend
    /// whose kernels do other arithmetic (the CPU's Winograd and skipped padding taps) replaces with its
    /// own.</summary>
    long ExecutedFlops(Node node, int[][] inputShapes) => node.Op.Flops(inputShapes);

    /// <summary>
    /// Starts a run and returns its outputs as a <see cref="PendingRun"/>, so a caller with a stream of batches can
    /// submit the next before waiting for this one: a backend that overlaps work (cuda) then uploads the next input
    /// while this one computes. By default the run completes before this returns. At most two runs are in flight:
    /// submitting a third waits for the oldest first (its outputs stay available to its <see cref="PendingRun.Wait"/>).
    /// </summary>
    PendingRun Submit(ReadOnlySpan<float> input, int[] shape) => PendingRun.Completed(Run(input, shape));

    /// <summary>Whether <see cref="Submit"/> returns before the run is done (so a stream of batches overlaps); false by
    /// default.</summary>
    bool Pipelined => false;

    /// <summary>How the last run executed, in words, where the backend has a choice (the cuda backend: replayed from a
    /// CUDA graph, or eager and why); null otherwise.</summary>
    string? Execution => null;
}

/// <summary>
/// The outputs of a submitted run (<see cref="IExecutable.Submit"/>), available once the device is done:
/// <see cref="Wait"/>
/// blocks until then, and returns the same dictionary every time it is called.
/// </summary>
public sealed class PendingRun
{
    private Func<IReadOnlyDictionary<string, float[]>>? _collect;
    private IReadOnlyDictionary<string, float[]>? _outputs;
    private Exception? _failure;

    /// <param name="collect">Waits for the device and reads the outputs; called once.</param>
    public PendingRun(Func<IReadOnlyDictionary<string, float[]>> collect) => _collect = collect;

    /// <summary>A run whose outputs are already here.</summary>
    public static PendingRun Completed(IReadOnlyDictionary<string, float[]> outputs) => new(() => outputs);

    /// <summary>Whether <see cref="Wait"/> has already collected the outputs (or the failure).</summary>
    public bool IsCollected => _collect is null;

    /// <summary>Waits for the run and returns its outputs; a failure of the run is thrown here, every time it is
    /// asked.</summary>
    public IReadOnlyDictionary<string, float[]> Wait()
    {
        if (_collect is { } collect)
        {
            _collect = null;
            try
            {
                _outputs = collect();
            }
            catch (Exception e)
            {
                _failure = e;
            }
        }
        if (_failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(_failure).Throw();
        return _outputs!;
    }
}
