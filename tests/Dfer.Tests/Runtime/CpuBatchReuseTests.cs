using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Models.FaceApi;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Tests.Runtime;

/// <summary>
/// The CPU executable runs a smaller batch on views of the plan it made for a larger one (a face detector alternates
/// batches of 8 and 5 on every video). Every batch of a mixed sequence must give exactly what a fresh executable,
/// planned for that batch alone, gives: the SSD detector (batch-major throughout) and M3DFEL (whose LSTM and
/// reshapes move the batch away from the first axis, so its smaller batches must be planned anew, not viewed).
/// </summary>
[TestFixture]
public class CpuBatchReuseTests
{
    private static void CheckSequence(Graph graph, int[] sample, int[] batches, ulong seed)
    {
        using var cpu = new CpuBackend(2);
        using var reused = cpu.Compile(graph);
        int per = sample.Aggregate(1, (a, b) => a * b);
        var rng = new DeterministicRandom(seed);
        foreach (int b in batches)
        {
            float[] x = rng.Uniform(b * per, -1f, 1f);
            int[] shape = [b, .. sample];
            var got = reused.Run(x, shape);
            using var fresh = cpu.Compile(graph);
            var want = fresh.Run(x, shape);
            Assert.That(got.Keys, Is.EquivalentTo(want.Keys));
            foreach (var (name, values) in want)
            {
                Assert.That(got[name], Has.Length.EqualTo(values.Length), $"batch {b}, output {name}");
                Assert.That(got[name], Is.EqualTo(values), $"batch {b}, output {name} (seed {seed})");
            }
        }
    }

    [Test]
    public void SsdDetector_SmallerBatchesOnTheLargerPlan_GiveTheFreshResults()
    {
        ulong seed = TestSeed.UseFresh();
        const int size = 128;
        var graph = SsdMobileNetV1.Build(SsdMobileNetV1.GenerateWeights(seed, size), 0.05, size);
        // 4 plans; 3, 1 and 4 again reuse it; 5 plans anew; 2 reuses that.
        CheckSequence(graph, [size, size, 3], [4, 3, 1, 4, 5, 2], seed + 1);
    }

    [Test]
    public void M3dfel_MixedBatches_GiveTheFreshResults()
    {
        ulong seed = TestSeed.UseFresh();
        var model = new M3dfel();
        var graph = model.Build(model.GenerateWeights(seed));
        CheckSequence(graph, [16, 3, 112, 112], [2, 1, 2], seed + 1);
    }
}
