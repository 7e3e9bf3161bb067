using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Models;

/// <summary>
/// A clip scores to the same bits alone and in any batch on the CPU backend: what lets `dfer serve` coalesce
/// concurrent requests without changing anyone's answer (docs/serving.md, "Dynamic batching"). Every model, fresh
/// weights and clips, batches of 2 and 3 against each clip run alone; the paths of a kernel may not depend on the rows
/// beside a clip's rows.
/// </summary>
[TestFixture]
public class BatchInvarianceTests
{
    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);

    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    [TestCase("m3dfel")]
    [TestCase("ifdd")]
    [TestCase("rdfer")]
    public void BatchedClipsScoreTheSameBitsAsAlone(string name)
    {
        ulong seed = TestSeed.UseFresh();
        IModel model = ModelRegistry.Get(name);
        using var session = new Session(model, model.GenerateWeights(seed), _cpu);
        int length = session.ClipLength;
        float[] clips = new DeterministicRandom(seed + 1).Uniform(3L * length, 0, 1);
        var alone = Enumerable.Range(0, 3).Select(i => session.Run(clips.AsSpan(i * length, length), 1)[0]).ToArray();
        foreach (int batch in new[] { 3, 2 })
        {
            ClipResult[] together = session.Run(clips.AsSpan(0, batch * length), batch);
            for (int i = 0; i < batch; i++)
            {
                Assert.That(together[i].Logits.All(float.IsFinite), $"{name}: clip {i} has a non-finite logit");
                Assert.That(together[i].Logits.Select(BitConverter.SingleToInt32Bits),
                    Is.EqualTo(alone[i].Logits.Select(BitConverter.SingleToInt32Bits)),
                    $"{name}: clip {i} in a batch of {batch} vs alone: {string.Join(", ", together[i].Logits)} vs "
                    + string.Join(", ", alone[i].Logits));
            }
        }
    }
}
