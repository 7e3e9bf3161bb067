using Dfer.Backends.Cpu;
using Dfer.Ops;
using Dfer.Ops.AddAct;
using Dfer.Ops.Conv1d;
using Dfer.Ops.FrameGather;
using Dfer.Ops.Gate;
using Dfer.Ops.KeySample;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Reshape;
using Dfer.Ops.TemporalShift;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Onnx;

/// <summary>
/// RDFER's own ops chained as its graph chains them (docs/models/rdfer.md: synopsis frames, the shifted and pooled
/// backbone, key centres and strides from a conv1d, the key sampler, the detail frames read with its indices, a
/// gate broadcast over instances), exported with a symbolic batch by <see cref="OnnxExport"/> and run by ONNX
/// Runtime at batch 1 and 3 against Dfer's CPU backend: the forms that read shapes at run time must follow the batch.
/// </summary>
[TestFixture]
public class OnnxRdferOpsChainTests
{
    private const int Frames = 8, Channels = 3, Side = 6, Keys = 54, PerKey = 2;
    private static readonly int[] Sample = [Frames, Channels, Side, Side];

    private static Graph Chain(DeterministicRandom rng)
    {
        var g = new Graph();
        // Fixed indices with a repeat, a black frame (−1) and one past the clip (9).
        int synopsis = g.Add("synopsis", new FrameGatherOp([0, 2, 4, 6, 7, 1, -1, 9]), Graph.Input); // [8B, 6, 6, 3]
        int shifted = g.Add("shift", new TemporalShiftOp(4, 3), synopsis);
        int pooled = g.Add("pool", new MaxPool2dOp((3, 3), (2, 2), Pad2d.Uniform(1)), shifted); // [8B, 3, 3, 3]
        int instances = g.Add("instances", new ReshapeOp(-1, 8, 27), pooled); // [B, 8, 27]
        int logits = g.Add("conv", new Conv1dOp(8, 2, 3, 1, rng.Uniform(48, -1f, 1f), rng.Uniform(2, -1f, 1f)),
            instances); // [B, 2, 27]
        int flat = g.Add("flat", new ReshapeOp(-1, Keys), logits);
        int mu = g.Add("mu", new AddActOp(1, Activation.Tanh), flat);
        int delta = g.Add("delta", new AddActOp(1, Activation.NegAbs), flat);
        int keys = g.Add("sampler", new KeySampleOp(Frames, PerKey), mu, delta); // [B, 108]
        int detail = g.Add("detail", new FrameGatherOp(), Graph.Input, keys); // [108B, 6, 6, 3]
        int attention = g.Add("attention", new Conv1dOp(8, 1, 3, 1, rng.Uniform(24, -0.3f, 0.3f), null), instances);
        int z = g.Add("z", new ReshapeOp(-1, 27), attention);
        int gated = g.Add("gated", new GateOp(Activation.Sigmoid), instances, z); // [B, 8, 27]
        int summed = g.Add("summed", new AddActOp(2, Activation.Relu), gated, instances);
        g.Outputs["keys"] = keys;
        g.Outputs["detail"] = g.Add("detail_rows", new ReshapeOp(-1, Keys * PerKey * Side * Side * Channels), detail);
        g.Outputs["gated"] = g.Add("gated_rows", new ReshapeOp(-1, 8 * 27), summed);
        return g;
    }

    [TestCase(OnnxExport.MinOpset)]
    [TestCase(OnnxExport.MaxOpset)]
    public void DynamicBatch_MatchesTheCpuBackendAtBatch1And3(int opset)
    {
        ulong seed = TestSeed.Use(18);
        var graph = Chain(new DeterministicRandom(seed));
        byte[] model = OnnxExport.Write(graph, Sample, batch: null, opset, "chain", new Dictionary<string, string>(),
            "rdfer-ops");
        using var session = OnnxRuntimeSupport.Open(model);
        using var cpu = new CpuBackend(2);
        var ours = cpu.Compile(graph);
        int clip = Sample.Aggregate(1, (a, b) => a * b);
        foreach (int batch in new[] { 1, 3 })
        {
            // Values in [−4, 4) spread the key centres over the whole clip, some keys past its ends (black frames).
            float[] clips = new DeterministicRandom(seed + (ulong)batch).Uniform((long)batch * clip, -4f, 4f);
            var expected = ours.Run(clips, [batch, .. Sample]);
            var actual = OnnxRuntimeSupport.Run(session, (OnnxExport.InputName, clips, [batch, .. Sample]));
            foreach (string output in graph.Outputs.Keys)
            {
                double error = OnnxRuntimeSupport.MaxScaledError(actual[output], expected[output]);
                TestContext.Out.WriteLine($"batch {batch}, {output}: max |Δ|/max(1,|y|) = {error:E2}");
                Assert.That(error, Is.LessThanOrEqualTo(1e-5), $"batch {batch}, {output}, seed {seed}");
            }
        }
    }
}
