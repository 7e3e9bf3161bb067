using Dfer.Backends;
using Dfer.Backends.Cuda;
using Dfer.Devices.Cuda;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Gelu;
using Dfer.Tensors;

namespace Dfer.Tests.Runtime;

/// <summary>
/// The cuda backend's execution plan: which convolutions absorb their average pool (by hand, no GPU), and — on a GPU
/// only — a compiled M3DFEL that runs eagerly once while recording a CUDA graph, replays it, keeps two shapes, and
/// gives the same logits every way.
/// </summary>
[TestFixture]
[NonParallelizable]
public class CudaExecutionTests
{
    [Test]
    public void M3dfel_TheLastConvolutionAbsorbsTheAveragePool()
    {
        var model = ModelRegistry.Get("m3dfel");
        Graph g = model.Build(model.GenerateWeights(1));
        Dictionary<Node, Node> fused = CudaBackend.PooledConvolutions(g);
        Assert.That(fused, Has.Count.EqualTo(1));
        var (pool, conv) = fused.Single();
        Assert.That(pool.Name, Is.EqualTo("features.5"));
        Assert.That(conv.Output, Is.EqualTo(pool.Inputs[0]));
        Assert.That(((Conv3dOp)conv.Op).Residual, Is.True, "the last block's conv2, with its residual and ReLU");
    }

    [Test]
    public void APoolIsNotFolded_WhenTheConvolutionOutputHasAnotherReader_OrIsAGraphOutput()
    {
        var rng = new DeterministicRandom(TestSeed.Use(5));
        Conv3dOp Conv() => new(4, 4, (1, 1, 1), (1, 1, 1), (0, 0, 0), rng.Uniform(16, -1, 1), null, true, false);
        var g = new Graph();
        int a = g.Add("a", Conv(), Graph.Input);
        int pa = g.Add("pa", new AvgPool3dOp(), a);          // a is also read by b: not folded
        int b = g.Add("b", Conv(), a);
        int pb = g.Add("pb", new AvgPool3dOp(), b);          // b is a graph output: not folded
        int c = g.Add("c", Conv(), b);
        int pc = g.Add("pc", new AvgPool3dOp(), c);          // folded
        int d = g.Add("d", new GeluOp(), b);
        int pd = g.Add("pd", new AvgPool3dOp(), d);          // not a convolution: not folded
        g.Outputs["b"] = b;
        g.Outputs["pa"] = pa;
        g.Outputs["pb"] = pb;
        g.Outputs["pc"] = pc;
        g.Outputs["pd"] = pd;
        var fused = CudaBackend.PooledConvolutions(g);
        Assert.That(fused.Select(kv => (kv.Key.Name, kv.Value.Name)), Is.EquivalentTo(new[] { ("pc", "c") }));
    }

    [TestCase(Precision.Fp32)]
    [TestCase(Precision.Bf16)]
    public void Cuda_M3dfel_RunsEagerlyOnce_ThenReplaysAGraph_AndAgreesEveryTime(Precision precision)
    {
        if (CudaDevice.UnavailableReason() is string reason) Assert.Ignore($"cuda: {reason}");
        var model = ModelRegistry.Get("m3dfel");
        var weights = model.GenerateWeights(seed: 9);
        using IBackend backend = BackendRegistry.Create("cuda", 0, precision);
        using IExecutable exe = backend.Compile(model.Build(weights));
        var cuda = (CudaExecutable)exe;
        float[] Clips(int n, ulong seed)
            => new DeterministicRandom(seed).Uniform(n * model.ClipShape.Aggregate(1, (x, y) => x * y), -2, 2);
        int[] Shape(int n) => [n, .. model.ClipShape];

        ulong seed = TestSeed.Use(1);
        float[] three = Clips(3, seed), two = Clips(2, seed + 1);
        float[] eager = exe.Run(three, Shape(3))["logits"];
        Assert.That(cuda.Execution, Does.StartWith("eager (first run"));
        float[] captured = exe.Run(three, Shape(3))["logits"];
        Assert.That(cuda.Execution, Is.EqualTo("CUDA graph replay"));
        float[] replayed = exe.Run(three, Shape(3))["logits"];
        Assert.That(cuda.Execution, Is.EqualTo("CUDA graph replay"));

        // A second shape gets its own plan; the first is kept and replays at once.
        float[] twoEager = exe.Run(two, Shape(2))["logits"];
        float[] twoReplayed = exe.Run(two, Shape(2))["logits"];
        float[] again = exe.Run(three, Shape(3))["logits"];
        Assert.That(cuda.Execution, Is.EqualTo("CUDA graph replay"));

        // The pooled epilogue adds with atomics, so runs may differ in the last bits, never more.
        Assert.That(eager.All(float.IsFinite), Is.True);
        Assert.That(captured, Is.EqualTo(eager).Within(1e-5f));
        Assert.That(replayed, Is.EqualTo(eager).Within(1e-5f));
        Assert.That(again, Is.EqualTo(eager).Within(1e-5f));
        Assert.That(twoReplayed, Is.EqualTo(twoEager).Within(1e-5f));
        // A new input really is read on replay: different clips, different logits.
        Assert.That(twoReplayed, Is.Not.EqualTo(eager.Take(twoReplayed.Length).ToArray()));
    }
}
