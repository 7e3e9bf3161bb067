using System.Diagnostics;
using Dfer.Ops;

namespace Dfer.Backends.Reference;

/// <summary>
/// Runs graphs with each op's Reference implementation, every value in float64. It is the
/// oracle: slow (minutes for a full M3DFEL clip), obviously correct, checked against TorchSharp.
/// </summary>
public sealed class ReferenceBackend : IBackend
{
    public string Name => "reference";
    public string Device => "host, float64 plain loops";

    /// <summary>One op in float64: the Reference implementation its kind declares.</summary>
    public static double[] RunOp(Op op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes)
        => op.Kind.Reference(op, x, shapes);

    /// <summary>The whole graph in float64; returns each named output.</summary>
    public static IReadOnlyDictionary<string, double[]> RunGraph(Graph graph, double[] input, int[] shape,
        NodeTimer? timer = null)
    {
        var shapes = graph.InferShapes(shape);
        var values = new double[graph.ValueCount][];
        values[Graph.Input] = input;
        foreach (var n in graph.Nodes)
        {
            long t0 = Stopwatch.GetTimestamp();
            var ins = n.Inputs.Select(v => shapes[v]).ToArray();
            values[n.Output] = RunOp(n.Op, n.Inputs.Select(v => values[v]).ToArray(), ins);
            timer?.Invoke(n, ins, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return graph.Outputs.ToDictionary(kv => kv.Key, kv => values[kv.Value]);
    }

    public IExecutable Compile(Graph graph) => new Executable(graph);

    public void Dispose() { }

    private sealed class Executable(Graph graph) : IExecutable
    {
        public NodeTimer? Timer { get; set; }

        public IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape)
        {
            var x = new double[input.Length];
            for (int i = 0; i < x.Length; i++) x[i] = input[i];
            return RunGraph(graph, x, shape, Timer)
                .ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (float)v).ToArray());
        }

        public void Dispose() { }
    }
}
