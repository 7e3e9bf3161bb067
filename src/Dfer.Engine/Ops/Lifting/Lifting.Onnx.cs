using Dfer.Onnx;
using Dfer.Primitives;

namespace Dfer.Ops.Lifting;

/// <summary>
/// lifting in ONNX on frames Y [B, T, S, C] and the fractional indices [B, K] (data, from the issm ops):
/// <list type="number">
/// <item>Sampling (<see cref="FrameInterpolation"/>) in float64 as the CPU kernel does it: the index Cast to
/// double, <c>p = Clip(idx · T / D − 0.5, 0, T − 1)</c>, <c>i0 = Floor(p)</c>, <c>w = p − i0</c> (Cast back to
/// float; a NaN index gives frame 0 with w = NaN), <c>i1 = Min(i0 + 1, T − 1)</c> (where i0 = T − 1, w is 0);
/// GatherND with batch_dims 1 takes frames i0 and i1 of each batch item; <c>(1 − w) · Y[i0] + w · Y[i1]</c>,
/// reshaped to [B, K·S, C].</item>
/// <item>WaveNorm: LayerNormalization with xa_norm and xd_norm.</item>
/// <item>Update <c>Xa' = Xa + project_a(CA(Xa, Xd))</c>, predict <c>Xd' = Xd − project_d(CA(Xd, Xa'))</c>, the
/// projections as MatMul + Add; CA splits [K | V] = kv(·) by Slice, attends per head as the attention op's form
/// does and adds V.</item>
/// </list>
/// </summary>
internal sealed class LiftingOnnx(LiftingOp op) : IOnnxForm
{
    private const int Float = 1, Int64 = 7, Double = 11;

    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string y = inputs[0];
        string xa = OnnxBlocks.LayerNorm(graph, "xa", op.XaNorm, Sample(graph, "approx", y, inputs[1]));
        string xd = OnnxBlocks.LayerNorm(graph, "xd", op.XdNorm, Sample(graph, "detail", y, inputs[2]));
        string update = OnnxBlocks.Linear(graph, "update", op.ProjectA,
            CrossAttention(graph, "update", OnnxBlocks.Linear(graph, "q_a", op.QA, xa),
                OnnxBlocks.Linear(graph, "kv_d", op.KvD, xd)));
        string xa2 = graph.Node("Add", "xa_updated", new[] { xa, update });
        string predict = OnnxBlocks.Linear(graph, "predict", op.ProjectD,
            CrossAttention(graph, "predict", OnnxBlocks.Linear(graph, "q_d", op.QD, xd),
                OnnxBlocks.Linear(graph, "kv_a", op.KvA, xa2)));
        graph.Node("Sub", new[] { xd, predict }, new[] { output });
    }

    /// <summary>Frames of <paramref name="y"/> blended at the fractional indices → [B, K·S, C].</summary>
    private string Sample(OnnxGraphBuilder graph, string local, string y, string index)
    {
        string Op(string type, string name, params string[] ins) => graph.Node(type, $"{local}_{name}", ins);
        string Cast(string name, string value, int to) =>
            graph.Node("Cast", $"{local}_{name}", new[] { value }, OnnxAttribute.Int("to", to));
        string Frame(string name, string i) => graph.Node("GatherND", $"{local}_{name}",
            new[] { y, Op("Reshape", name + "_index", i, graph.Int64s("index_shape", 0, 0, 1)) },
            OnnxAttribute.Int("batch_dims", 1));
        // T is the input's frames axis: read from y's shape (int64), cast to double for the position.
        string tInt = graph.Node("Shape", $"{local}_frames", new[] { y }, OnnxAttribute.Int("start", 1),
            OnnxAttribute.Int("end", 2));
        string tScalar = Op("Squeeze", "frames_scalar", tInt, graph.Int64s("axis0", 0));
        string tDouble = Cast("frames_double", tScalar, Double);
        string last = Cast("last_double", Op("Sub", "last", tScalar, graph.Int64Scalar("one_i", 1)), Double);
        string indexDouble = Cast("index_double", index, Double);
        string scaled = Op("Div", "scaled", Op("Mul", "times_frames", indexDouble, tDouble),
            graph.DoubleScalar("divisor", op.Sample.Divisor));
        string p = Op("Clip", "position", Op("Sub", "centred", scaled, graph.DoubleScalar("half", 0.5)),
            graph.DoubleScalar("zero", 0), last);
        // A NaN index samples frame 0 with a NaN weight, so its tokens are NaN as the kernels make them (and no NaN
        // reaches the Cast to int64).
        string nan = Op("IsNaN", "nan", indexDouble);
        string floor = Op("Where", "floor", nan, graph.DoubleScalar("nan_frame", 0), Op("Floor", "floor_raw", p));
        string w = Cast("weight", Op("Where", "fraction", nan, graph.DoubleScalar("nan_weight", double.NaN),
            Op("Sub", "fraction_raw", p, floor)), Float);
        string w4 = Op("Reshape", "weight_4d", w, graph.Int64s("weight_shape", 0, 0, 1, 1));
        string i0 = Cast("i0", floor, Int64);
        string i1 = Op("Min", "i1", Op("Add", "next", i0, graph.Int64Scalar("one", 1)),
            Op("Sub", "last_i", tScalar, graph.Int64Scalar("one_last", 1)));
        string blended = Op("Add", "blended",
            Op("Mul", "part0", Frame("frame0", i0), Op("Sub", "weight0", graph.Scalar("one_f", 1f), w4)),
            Op("Mul", "part1", Frame("frame1", i1), w4));
        return Op("Reshape", "tokens", blended, graph.Int64s("tokens_shape", 0, -1, op.Channels));
    }

    /// <summary>CA(Qin, KVin) from q [B, N, C] and kv [B, N, 2C]: per head softmax(scale · Q Kᵀ) V, heads merged,
    /// + V.</summary>
    private string CrossAttention(OnnxGraphBuilder graph, string local, string q, string kv)
    {
        int c = op.Channels;
        string k = OnnxBlocks.Slice(graph, local + "_k", kv, 2, 0, c);
        string v = OnnxBlocks.Slice(graph, local + "_v", kv, 2, c, 2L * c);
        string attended = OnnxBlocks.Attend(graph,
            OnnxBlocks.SplitHeads(graph, local + "_q", q, op.Heads, op.HeadDim),
            OnnxBlocks.SplitHeads(graph, local + "_k", k, op.Heads, op.HeadDim),
            OnnxBlocks.SplitHeads(graph, local + "_v", v, op.Heads, op.HeadDim), op.Scale);
        string merged = graph.Value(local + "_merged");
        OnnxBlocks.MergeHeads(graph, attended, c, merged);
        return graph.Node("Add", local + "_attended", new[] { merged, v });
    }
}
