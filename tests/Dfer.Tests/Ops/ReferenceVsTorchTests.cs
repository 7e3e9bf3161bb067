using Dfer.Backends.Reference;
using Dfer.Ops;
using Dfer.Ops.Attention;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.Permute;
using Dfer.Ops.Reshape;
using Dfer.Reference;
using Dfer.Tensors;
using Dfer.TorchSupport;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Tests.Ops;

/// <summary>
/// The first link of the reference chain: each op's Reference (float64 loops) against PyTorch's
/// own operator (libtorch 2.10 via TorchSharp, float64), on every op case with fresh random data.
/// </summary>
[TestFixture]
public class ReferenceVsTorchTests
{
    private static readonly ulong Seed = TestSeed.Fresh();

    private static readonly Lazy<TorchOracle> TorchLazy = new(() => new TorchOracle());
    private static TorchOracle Torch => TorchLazy.Value;

    public static IEnumerable<TestCaseData> Cases()
        => OpCases.All(Seed).Select(c => new TestCaseData(c).SetName("torch " + c.Name));

    [TestCaseSource(nameof(Cases))]
    public void ReferenceMatchesTorch(OpCase c)
    {
        var inputs = c.MakeInputs(new DeterministicRandom(TestSeed.Print(Seed) ^ 0x5bd1e995));
        var ours = ReferenceBackend.RunOp(c.Op, inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray(),
            c.InputShapes);
        double[] theirs =
            Torch.Run(c.Op, inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray(), c.InputShapes);
        Assert.That(theirs, Has.Length.EqualTo(ours.Length));
        double maxRef = theirs.Select(Math.Abs).DefaultIfEmpty(0).Max();
        double tol = 1e-10 * Math.Max(1, maxRef);
        for (int i = 0; i < ours.Length; i++)
            Assert.That(ours[i], Is.EqualTo(theirs[i]).Within(tol), $"element {i} (seed {Seed})");
    }
}
