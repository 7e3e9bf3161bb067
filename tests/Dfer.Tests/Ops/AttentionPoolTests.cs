using Dfer.Backends;
using Dfer.Backends.Reference;
using Dfer.Devices.Cuda;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Ops.Attention;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.Linear;
using Dfer.Ops.Softmax;
using Dfer.Tensors;
using Dfer.Tests.Devices;

namespace Dfer.Tests.Ops;

/// <summary>
/// attentionpool (M3DFEL's fused head) on tiny inputs whose logits follow by hand, on every local
/// backend; its costs against the separate ops it fuses; and the M3DFEL graph that uses it.
/// The op matrix and ReferenceVsTorch check it on random data.
/// </summary>
[TestFixture]
[NonParallelizable]
public class AttentionPoolTests
{
    private static readonly string[] LocalBackends = ["reference", "cpu", "ilgpu-cpu"];

    private static float[] RunOn(string backendName, Op op, float[] x, int[] shape)
    {
        if (backendName == "reference")
            return ReferenceBackend.RunOp(op, [x.Select(v => (double)v).ToArray()], [shape]).Select(v => (float)v)
                .ToArray();
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, [x], [shape], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero, "writes outside the output");
        return y.Values;
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    /// <summary>
    /// Two identical instances x = [1, 3], v = x (identity v rows), random q and k rows: every key scores
    /// the same, so attention is uniform and y = x whatever q and k are. DMIN with equal mixing weights:
    /// μ_in = x, σ²_in = 0, μ_ln = 2, σ²_ln = (1 + 9)/2 − 4 = 1, so μ = (1.5, 2.5) and σ² = 0.5; eps 0.5
    /// makes the denominator 1: z = (−0.5, 0.5), g = (σ(−0.5), 3σ(0.5)) in both instances. pwconv
    /// (k 3, p 1) with instance 0's taps (0, 1, 0), instance 1's (2, 0, 0) and bias 0.25:
    /// o = (0.25 + g0, 0.25 + g1 + 2·g0). fc rows (1, 0), (0, 1), (1, −1), bias (0.1, 0.2, 0.3).
    /// </summary>
    [TestCaseSource(nameof(LocalBackends))]
    public void IdenticalInstances_AttendUniformly_LogitsByHand(string backend)
    {
        var rng = new DeterministicRandom(TestSeed.Use(7));
        float[] qk = rng.Uniform(8, -2, 2);
        float[] wqkv = [.. qk, 1, 0, 0, 1];   // q rows, k rows (random), v rows = identity
        var op = new AttentionPoolOp(2, 1, 2, 3, new AttentionPoolWeights
        {
            Qkv = wqkv,
            MeanWeight = [0, 0],
            VarWeight = [0, 0],
            NormWeight = [1, 1],
            NormBias = [0, 0],
            Eps = 0.5,
            ConvKernel = 3,
            ConvPad = 1,
            ConvWeight = [0, 1, 0, 2, 0, 0],
            ConvBias = 0.25f,
            FcWeight = [1, 0, 0, 1, 1, -1],
            FcBias = [0.1f, 0.2f, 0.3f],
        });
        double g0 = Sigmoid(-0.5), g1 = 3 * Sigmoid(0.5);
        double o0 = 0.25 + g0, o1 = 0.25 + g1 + 2 * g0;
        double[] expected = [0.1 + o0, 0.2 + o1, 0.3 + o0 - o1];   // 0.72754067, 3.07245933, −1.94491866

        float[] y = RunOn(backend, op, [1, 3, 1, 3], [1, 2, 2]);

        Assert.That(y.Select(v => (double)v), Is.EqualTo(expected).Within(1e-6));
    }

    /// <summary>
    /// Two heads of dimension 1 over x0 = (1, 0), x1 = (0, 1), q = k = √ln3·x, v = x, scale 1: head 0
    /// (channel 0) scores query 0 against keys (ln 3, 0) → weights (3/4, 1/4), query 1 (0, 0) → (1/2, 1/2);
    /// head 1 mirrors it. y = ((0.75, 0.5), (0.5, 0.75)): μ_in = 0.625 = μ_ln, σ²_in = 2·0.125² = 0.03125
    /// = σ²_ln; eps 0.03125 makes the deviation 0.25, so z = ±0.5 and g = (σ(0.5), 0), (0, σ(0.5)).
    /// pwconv k 1 with taps (1, 1) sums the instances: o = (σ(0.5), σ(0.5)); fc (1, 2) gives 3σ(0.5).
    /// </summary>
    [TestCaseSource(nameof(LocalBackends))]
    public void PerHeadAttention_Dmin_Gate_ByHand(string backend)
    {
        float s = (float)Math.Sqrt(Math.Log(3));
        float[] wqkv = [s, 0, 0, s, s, 0, 0, s, 1, 0, 0, 1];
        var op = new AttentionPoolOp(2, 2, 2, 1, new AttentionPoolWeights
        {
            Qkv = wqkv,
            MeanWeight = [0.3f, -0.2f],
            VarWeight = [0, 0],
            NormWeight = [1, 1],
            NormBias = [0, 0],
            Eps = 0.03125,
            ConvKernel = 1,
            ConvPad = 0,
            ConvWeight = [1, 1],
            ConvBias = 0f,
            FcWeight = [1, 2],
            FcBias = [0f],
        });
        // Mean weights need not be equal: μ_in = μ_ln, so any mix gives the same μ.
        float[] y = RunOn(backend, op, [1, 0, 0, 1], [1, 2, 2]);

        Assert.That(y[0], Is.EqualTo(3 * Sigmoid(0.5)).Within(1e-6));
    }

    /// <summary>Batch rows are independent: the second row's logits do not depend on the first row.</summary>
    [TestCaseSource(nameof(LocalBackends))]
    public void BatchRows_AreIndependent(string backend)
    {
        var c = OpCases.For("attentionpool").Single(k => k.Name.StartsWith("attentionpool(b=2,n=3,d=40"));
        var op = (AttentionPoolOp)c.Op;
        var rng = new DeterministicRandom(TestSeed.Use(11));
        float[] x = rng.Uniform(2 * 3 * 40, -1, 1);
        float[] second = x[(3 * 40)..];
        float[] both = RunOn(backend, op, x, [2, 3, 40]);
        float[] alone = RunOn(backend, op, second, [1, 3, 40]);
        Assert.That(both[op.Classes..], Is.EqualTo(alone).Within(1e-6));
    }

    [Test]
    public void Costs_AreTheSumOfTheFusedOps()
    {
        var c = OpCases.For("attentionpool").Single(k => k.Name.StartsWith("attentionpool(b=3,n=4,d=1024"));
        var op = (AttentionPoolOp)c.Op;
        int[] x = [3, 4, 1024];
        var qkv = new LinearOp(1024, 3072, op.QkvWeight, null);
        var attention = new AttentionOp(8, 128);
        var fc = new LinearOp(1024, 7, op.FcWeight, op.FcBias);
        // The parts with no op of their own, counted by hand: DMIN's statistics and affine (12 per value) and
        // pwconv, a Conv1d from 4 instances to 1 with kernel 3 over 1024 positions (2·3·1024·12).
        long dmin = 12L * 3 * 4 * 1024, pwconv = 2L * 3 * 1024 * 12;
        long separate = qkv.Flops([x]) + attention.Flops([[3, 4, 3072]]) + dmin + pwconv + fc.Flops([[3, 1024]]);
        Assert.That(op.Flops([x]), Is.EqualTo(separate));
        Assert.That(op.Flops([x]),
            Is.EqualTo(2L * 3 * 4 * 1024 * 3072 + 4L * 3 * 16 * 1024 + 12L * 3 * 4096 + 2L * 3 * 1024 * 12 + 2L * 3 * 7
            * 1024));
        Assert.That(op.WeightElements, Is.EqualTo(3072L * 1024 + 2 + 2 + 1024 + 1024 + 12 + 1 + 7 * 1024 + 7));
        Assert.That(op.OutputShape([x]), Is.EqualTo(new[] { 3, 7 }));
        Assert.That(op.Scale, Is.EqualTo(1 / Math.Sqrt(128)));
    }

    [Test]
    public void Shapes_AndParameters_AreChecked()
    {
        var op = (AttentionPoolOp)OpCases.For("attentionpool")
            .Single(k => k.Name.StartsWith("attentionpool(b=2,n=3,d=40")).Op;
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 4, 40]]));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 3, 41]]));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[6, 40]]));
        Assert.That(new AttentionPoolOp(40, 4, 3, 5, Zeros(40, 3, 3, 1, 5)).PooledLength, Is.EqualTo(40));
        // heads ∤ d
        Assert.Throws<ArgumentException>(() => new AttentionPoolOp(40, 3, 3, 5, Zeros(40, 3, 3, 1, 5)));
        // N = 1: no unbiased variance
        Assert.Throws<ArgumentException>(() => new AttentionPoolOp(40, 4, 1, 5, Zeros(40, 1, 3, 1, 5)));
        // fc [5, Lout = 40]
        Assert.Throws<ArgumentException>(
            () => new AttentionPoolOp(40, 4, 3, 5, Zeros(40, 3, 3, 1, 5) with { FcWeight = new float[195] }));
        // pwconv [1, 3, 3]
        Assert.Throws<ArgumentException>(
            () => new AttentionPoolOp(40, 4, 3, 5, Zeros(40, 3, 3, 1, 5) with { ConvWeight = new float[8] }));
        Assert.Throws<ArgumentNullException>(() => new AttentionPoolOp(40, 4, 3, 5, null!));
        var wide = new AttentionPoolOp(40, 4, 3, 5, Zeros(40, 3, 2, 3, 5));
        Assert.That(wide.PooledLength, Is.EqualTo(45));
    }

    [Test]
    public void M3dfelGraph_RunsTheHeadAsOneNode()
    {
        var model = new M3dfel();
        var graph = model.Build(model.GenerateWeights(3));
        var names = graph.Nodes.Select(n => n.Name).ToArray();
        Assert.That(names[^3..], Is.EqualTo(new[] { "lstm", "head", "probabilities" }));
        var head = graph.Nodes.Single(n => n.Name == "head");
        Assert.That(head.Op, Is.TypeOf<AttentionPoolOp>());
        var op = (AttentionPoolOp)head.Op;
        Assert.That((op.Dim, op.Heads, op.Instances, op.Classes, op.ConvKernel, op.ConvPad),
            Is.EqualTo((1024, 8, 4, 7, 3, 1)));
        Assert.That(graph.Nodes.Single(n => n.Name == "probabilities").Op, Is.TypeOf<SoftmaxOp>());
        Assert.That(names.Intersect(new[] { "to_qkv", "attention", "norm", "gate", "pwconv", "pwconv.squeeze", "fc" }),
            Is.Empty);
    }

    [Test]
    public void CudaKernelArgument_MirrorsTheStructInAttentionPoolCu()
    {
        string source = KernelSources.Embedded.Source("attention_pool");
        KernelStructLayout.AssertMirrors<AttentionPoolCudaParams>(source, "AttentionPoolParams",
            t => t is "int" or "float" ? 4 : throw new AssertionException($"unexpected field type {t}"),
            (_, name) => name.Replace("_", ""));

        var table = KernelLaunchTable.Parse(source);
        Assert.That(KernelSources.KernelNames(source),
            Is.EquivalentTo(new[] { "attention_pool_qkv_f32_v1", "attention_pool_tail_f32_v1" }));
        Assert.That(table["attention_pool_tail_f32_v1"].TileM, Is.EqualTo(1), "one batch row per tail block");
        // The kernels' limit on the probabilities in static shared memory is the host's.
        Assert.That(source, Does.Contain($"kMaxScores = {AttentionPoolCuda.MaxScores};"));
    }

    [Test]
    public void CudaLimits_AdmitEveryOpCase_AndRefuseWhatTheKernelsCannotHold()
    {
        foreach (var c in OpCases.For("attentionpool"))
            Assert.That(AttentionPoolCuda.Unsupported((AttentionPoolOp)c.Op), Is.Null, c.Name);
        var manyScores = new AttentionPoolOp(64, 32, 6, 2, Zeros(64, 6, 3, 1, 2));
        Assert.That(AttentionPoolCuda.Unsupported(manyScores), Does.Contain("1152"));
        var longPool = new AttentionPoolOp(2, 1, 2, 1, Zeros(2, 2, 1, 2, 1));
        Assert.That(AttentionPoolCuda.Unsupported(longPool), Does.Contain("output length 6"));
    }

    /// <summary>All-zero weights of the sizes a head of d features, n instances, pwconv (k, p) and these classes
    /// needs.</summary>
    private static AttentionPoolWeights Zeros(int d, int n, int k, int p, int classes) => new()
    {
        Qkv = new float[3 * d * d],
        MeanWeight = new float[2],
        VarWeight = new float[2],
        NormWeight = new float[d],
        NormBias = new float[d],
        Eps = 1e-5,
        ConvKernel = k,
        ConvPad = p,
        ConvWeight = new float[n * k],
        ConvBias = 0,
        FcWeight = new float[classes * (d + 2 * p - k + 1)],
        FcBias = new float[classes],
    };
}
