using System.Diagnostics;
using Dfer.Ops;
using Dfer.Ops.AdaptiveSplit;
using Dfer.Ops.Add;
using Dfer.Ops.Attention;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.ClassToken;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.DepthwiseConv3d;
using Dfer.Ops.Dmin;
using Dfer.Ops.FrameSample;
using Dfer.Ops.Gate;
using Dfer.Ops.Gelu;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Lifting;
using Dfer.Ops.MaxPool3d;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.Permute;
using Dfer.Ops.RelPosAttention;
using Dfer.Ops.Slice;
using Dfer.Ops.Softmax;
using Dfer.Ops.TokenMaxPool;
using Dfer.Ops.TokenPool;
using Dfer.Ops.AddAct;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Nms;
using Dfer.Ops.SepConv2d;

namespace Dfer.Backends.Reference;

/// <summary>
/// Runs graphs with each op's Reference implementation, every value in float64. It is the
/// oracle: slow (minutes for a full M3DFEL clip), obviously correct, checked against TorchSharp.
/// </summary>
public sealed class ReferenceBackend : IBackend
{
    public string Name => "reference";
    public string Device => "host, float64 plain loops";

    /// <summary>One op in float64: the Reference implementation of its kind.</summary>
    public static double[] RunOp(Op op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) => op.Kind switch
    {
        OpKind.Permute => PermuteReference.Run((PermuteOp)op, x[0], shapes[0]),
        OpKind.Reshape => (double[])x[0].Clone(),
        OpKind.Conv3d => Conv3dReference.Run((Conv3dOp)op, x[0], shapes[0], x.Count > 1 ? x[1] : null),
        OpKind.AvgPool3d => AvgPool3dReference.Run(x[0], shapes[0]),
        OpKind.Linear => LinearReference.Run((LinearOp)op, x[0]),
        OpKind.Lstm => LstmReference.Run((LstmOp)op, x[0], shapes[0]),
        OpKind.Attention => AttentionReference.Run((AttentionOp)op, x[0], shapes[0]),
        OpKind.Dmin => DminReference.Run((DminOp)op, x[0], shapes[0]),
        OpKind.Gate => GateReference.Run(x[0], x[1]),
        OpKind.Conv1d => Conv1dReference.Run((Conv1dOp)op, x[0], shapes[0]),
        OpKind.Softmax => SoftmaxReference.Run(x[0], shapes[0]),
        OpKind.LayerNorm => LayerNormReference.Run((LayerNormOp)op, x[0], shapes[0]),
        OpKind.Gelu => GeluReference.Run(x[0]),
        OpKind.MaxPool3d => MaxPool3dReference.Run((MaxPool3dOp)op, x[0], shapes[0]),
        OpKind.DepthwiseConv3d => DepthwiseConv3dReference.Run((DepthwiseConv3dOp)op, x[0], shapes[0]),
        OpKind.Conv2d => Conv2dReference.Run((Conv2dOp)op, x[0], shapes[0]),
        OpKind.FrameSample => FrameSampleReference.Run((FrameSampleOp)op, x[0], shapes[0], x[1], shapes[1]),
        OpKind.RelPosAttention => RelPosAttentionReference.Run((RelPosAttentionOp)op, x[0], x[1], x[2], shapes[0]),
        OpKind.Lifting => LiftingReference.Run((LiftingOp)op, x[0], shapes[0], x[1], x[2], shapes[1]),
        OpKind.Add => AddReference.Run(x[0], x[1]),
        OpKind.Slice => SliceReference.Run((SliceOp)op, x[0], shapes[0]),
        OpKind.ClassToken => ClassTokenReference.Run((ClassTokenOp)op, x[0], shapes[0]),
        OpKind.AdaptiveSplit => AdaptiveSplitReference.Run((AdaptiveSplitOp)op, x[0], shapes[0]),
        OpKind.TokenPool => TokenPoolReference.Run((TokenPoolOp)op, x[0], shapes[0]),
        OpKind.TokenMaxPool => TokenMaxPoolReference.Run((TokenMaxPoolOp)op, x[0], shapes[0]),
        OpKind.SepConv2d => SepConv2dReference.Run((SepConv2dOp)op, x[0], shapes[0]),
        OpKind.MaxPool2d => MaxPool2dReference.Run((MaxPool2dOp)op, x[0], shapes[0]),
        OpKind.AddAct => AddActReference.Run((AddActOp)op, x),
        OpKind.BoxDecode => BoxDecodeReference.Run((BoxDecodeOp)op, x[0], shapes[0]),
        OpKind.Nms => NmsReference.Run((NmsOp)op, x[0], shapes[0]),
        OpKind.AttentionPool => AttentionPoolReference.Run((AttentionPoolOp)op, x[0], shapes[0]),
    };

    /// <summary>The whole graph in float64; returns each named output.</summary>
    public static IReadOnlyDictionary<string, double[]> RunGraph(Graph graph, double[] input, int[] shape, NodeTimer? timer = null)
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
            return RunGraph(graph, x, shape, Timer).ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (float)v).ToArray());
        }

        public void Dispose() { }
    }
}
