using Dfer.Onnx;

namespace Dfer.Ops.AttentionPool;

/// <summary>
/// attentionpool in ONNX, step by step as <see cref="AttentionPoolOp"/> documents it, on x [B, N, D]:
/// <list type="number">
/// <item>MatMul by Wqkvᵀ [D, 3D]; Reshape [B, N, 3, heads, dh], Transpose to [3, B, heads, N, dh] and Gather
/// q, k, v.</item>
/// <item>MatMul(q, kᵀ)·scale, Softmax over the last axis, MatMul by v; back to [B, N, D].</item>
/// <item>DMIN with ReduceMean/ReduceSum over the instances (axis 1) and the channels (axis 2), the layer variance
/// as within- plus between-channel terms (as the CPU kernel; no fp32 cancellation); the mixing
/// weights softmax(meanWeight), softmax(varWeight) are constants of the checkpoint, computed here in
/// double.</item>
/// <item>Gate: x · Sigmoid(z).</item>
/// <item>pwconv: Conv with the N instances as channels and D as the length, Reshape to [B, L'].</item>
/// <item>fc: Gemm with fcWeight transposed and fcBias.</item>
/// </list>
/// </summary>
internal sealed class AttentionPoolOnnx(AttentionPoolOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        int d = op.Dim, n = op.Instances, heads = op.Heads, dh = op.HeadDim;
        string x = inputs[0];
        string Op(string type, string local, params string[] ins) => graph.Node(type, local, ins);

        // 1. projection, split per head
        var wt = new float[3L * d * d];
        for (int o = 0; o < 3 * d; o++)
            for (int c = 0; c < d; c++) wt[(long)c * 3 * d + o] = op.QkvWeight[(long)o * d + c];
        string qkv = Op("MatMul", "qkv", x, graph.Floats("to_qkv_t", wt, d, 3 * d));
        string split = Op("Reshape", "qkv_heads", qkv, graph.Int64s("qkv_shape", 0, 0, 3, heads, dh));
        string stacked = graph.Node("Transpose", "qkv_stacked", new[] { split },
            OnnxAttribute.Ints("perm", 2, 0, 3, 1, 4));
        string Part(string name, int i) => graph.Node("Gather", name,
            new[] { stacked, graph.Int64Scalar(name + "_i", i) }, OnnxAttribute.Int("axis", 0));
        string q = Part("q", 0), k = Part("k", 1), v = Part("v", 2);

        // 2. attention per head over the instances
        string kt = graph.Node("Transpose", "k_t", new[] { k }, OnnxAttribute.Ints("perm", 0, 1, 3, 2));
        string scores = Op("Mul", "scores", Op("MatMul", "qk", q, kt), graph.Scalar("scale", (float)op.Scale));
        string attention = graph.Node("Softmax", "attention", new[] { scores }, OnnxAttribute.Int("axis", -1));
        string heads4 = Op("MatMul", "attended", attention, v);
        string bnhd = graph.Node("Transpose", "attended_bnhd", new[] { heads4 },
            OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        string y = Op("Reshape", "y", bnhd, graph.Int64s("y_shape", 0, 0, d));

        // 3. DMIN
        string Reduce(string type, string local, string input, int axis)
        {
            string result = graph.Value(local);
            graph.Reduce(type, input, new long[] { axis }, keepDims: true, result);
            return result;
        }
        string meanIn = Reduce("ReduceMean", "mean_in", y, 1);
        string dev = Op("Sub", "dev", y, meanIn);
        string varIn = Op("Div", "var_in", Reduce("ReduceSum", "dev_sq_sum", Op("Mul", "dev_sq", dev, dev), 1),
            graph.Scalar("n_minus_1", n - 1));
        // The layer variance mean_c(var_in + mean_in²) − mean_ln², written as its within-channel plus
        // between-channel terms, mean_c(var_in) + mean_c((mean_in − mean_ln)²), as the CPU kernel computes it: equal
        // in exact arithmetic, without fp32's cancellation when the channels' means dwarf their spread.
        string meanLn = Reduce("ReduceMean", "mean_ln", meanIn, 2);
        string between = Op("Sub", "mean_dev", meanIn, meanLn);
        string varLn = Op("Add", "var_ln", Reduce("ReduceMean", "var_within", varIn, 2),
            Reduce("ReduceMean", "var_between", Op("Mul", "mean_dev_sq", between, between), 2));
        string Mix(string local, string a, string b, float[] logits)
        {
            double m = Math.Max(logits[0], logits[1]), e0 = Math.Exp(logits[0] - m), e1 = Math.Exp(logits[1] - m);
            return Op("Add", local, Op("Mul", local + "_0", a, graph.Scalar(local + "_w0", (float)(e0 / (e0 + e1)))),
                Op("Mul", local + "_1", b, graph.Scalar(local + "_w1", (float)(e1 / (e0 + e1)))));
        }
        string mean = Mix("mean", meanIn, meanLn, op.MeanWeight);
        string variance = Mix("var", varIn, varLn, op.VarWeight);
        string std = Op("Sqrt", "std", Op("Add", "var_eps", variance, graph.Scalar("eps", (float)op.Eps)));
        string normed = Op("Div", "normed", Op("Sub", "centred", y, mean), std);
        string z = Op("Add", "z", Op("Mul", "scaled", normed, graph.Floats("norm_weight", op.NormWeight, d)),
            graph.Floats("norm_bias", op.NormBias, d));

        // 4. gate
        string gated = Op("Mul", "gated", x, Op("Sigmoid", "gate", z));

        // 5. pwconv: [B, N, D] is Conv1d's [batch, channels, length]
        string conv = graph.Node("Conv", "pwconv", new[]
        {
            gated, graph.Floats("pwconv_weight", op.ConvWeight, 1, n, op.ConvKernel),
            graph.Floats("pwconv_bias", new[] { op.ConvBias }, 1),
        }, OnnxAttribute.Ints("kernel_shape", op.ConvKernel), OnnxAttribute.Ints("strides", 1),
            OnnxAttribute.Ints("pads", op.ConvPad, op.ConvPad), OnnxAttribute.Ints("dilations", 1),
            OnnxAttribute.Int("group", 1));
        string pooled = Op("Reshape", "pooled", conv, graph.Int64s("pooled_shape", 0, op.PooledLength));

        // 6. fc
        graph.Node("Gemm", new[]
        {
            pooled, graph.Floats("fc_weight", op.FcWeight, op.Classes, op.PooledLength),
            graph.Floats("fc_bias", op.FcBias, op.Classes),
        }, new[] { output }, OnnxAttribute.Int("transB", 1));
    }
}
