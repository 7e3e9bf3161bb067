using Dfer.Backends;
using Dfer.Ops;
using Dfer.Ops.KeySample;

namespace Dfer.Tests.Ops;

/// <summary>
/// RDFER's key-frame positions on hand-computed values (docs/models/rdfer.md, step 4), on the Reference and on every
/// backend that runs here, including the float32 boundary case that float64 arithmetic gets wrong.
/// </summary>
[TestFixture]
public class KeySampleTests
{
    // mu = 0, delta = 0: c = 31.5, s = 21.333334 (64/3 in float32). p = 31.5 − 1.5·s: 1.5·s = 32.0000010 rounds to
    // 32 in float32, so p = −0.5 and ⌈p⌉ = −0 = frame 0; 31.5 − 10.666667 = 20.83 → 21; 31.5 + 10.666667 = 42.17 → 43;
    // 31.5 + 32 = 63.5 → 64, outside the clip → −1.
    // mu = −1, delta = 0: c = −63/2 + 31.5 = 0: −32 and −10.67 leave the clip (−1, −1); 10.67 → 11; 1.5·s = 32 in
    // float32 → 32 (float64 with the same constant gives 32.000001 → 33).
    // mu = 0.5, delta = −ln 2 (s halved to 10.666667 in float32 up to an ulp): c = 15.75 + 31.5 = 47.25; positions
    // 31.25, 41.92, 52.58, 63.25 → 32, 42, 53, 64 → −1.
    private static readonly float[] Mu = [0f, -1f, 0.5f], Delta = [0f, 0f, -MathF.Log(2f)];
    private static readonly int[] Expected = [0, 21, 43, -1, -1, -1, 11, 32, 32, 42, 53, -1];

    [Test]
    public void Reference_GivesTheHandComputedFrames()
    {
        var op = new KeySampleOp();
        double[] y = KeySampleReference.Run(op, Mu.Select(v => (double)v).ToArray(),
            Delta.Select(v => (double)v).ToArray());
        Assert.That(y.Select(v => (int)v), Is.EqualTo(Expected));
    }

    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void Backend_GivesTheHandComputedFrames(string name)
    {
        BackendInfo info = BackendRegistry.List().Single(b => b.Name == name);
        if (info.UnavailableReason is string reason) Assert.Ignore($"{name}: {reason}");
        using IBackend backend = BackendRegistry.Create(name, threads: 1);
        var op = new KeySampleOp();
        int[] shape = [Mu.Length, 1];
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, [Mu, Delta], [shape, shape], 16, 7.5f);
        Assert.That(y.GuardWrites, Is.Zero);
        Assert.That(y.Values.Select(v => (int)v), Is.EqualTo(Expected));
    }

    [Test]
    public void NanCentreGivesBlackFrames()
    {
        var op = new KeySampleOp();
        double[] y = KeySampleReference.Run(op, [double.NaN], [0]);
        Assert.That(y, Is.EqualTo(new double[] { -1, -1, -1, -1 }));
    }
}
