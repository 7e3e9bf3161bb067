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
    /// <summary>Runs on a row-major input of <paramref name="shape"/> and returns each named graph output as row-major floats.</summary>
    IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape);

    /// <summary>When set, the executable times each node and reports it (synchronously, so costs a little).</summary>
    NodeTimer? Timer { get; set; }
}
