using Dfer.Backends;
using Dfer.Backends.Reference;
using Dfer.Ops;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.Nms;

namespace Dfer.Tests.Ops;

/// <summary>The tiny face detector's box decoding and NMS on fixed, hand-computed cases, on every backend.</summary>
[TestFixture]
public class FaceApiDecodeTests
{
    private static float[] Run(string backend, Op op, float[] x, int[] shape)
    {
        if (backend == "reference")
            return ReferenceBackend.RunOp(op, [x.Select(v => (double)v).ToArray()], [shape]).Select(v => (float)v)
                .ToArray();
        BackendInfo info = BackendRegistry.List().Single(b => b.Name == backend);
        if (info.UnavailableReason is string reason) Assert.Ignore($"{backend}: {reason}");
        using IBackend b = BackendRegistry.Create(backend, threads: 2);
        GuardedOutput y = ((IOpRunner)b).RunGuarded(op, [x], [shape], 8, 777f);
        Assert.That(y.GuardWrites, Is.Zero, "wrote outside its output");
        return y.Values;
    }

    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    [TestCase("ilgpu-cuda")]
    public void BoxDecode_TwoCells(string backend)
    {
        // Grid 1×2, one anchor (2, 3) in cells. Cell (0,0): t = (0, 0, 0, 0, ln 3): centre (0.25, 0.5),
        // size (1·2/2, 1·3/1) = (1, 3), score σ(ln 3) = 0.75. Cell (0,1): t = (0, 0, ln 2, 0, 0): centre
        // (0.75, 0.5), size (2·2/2, 3) = (2, 3), score 0.5.
        float ln3 = MathF.Log(3f), ln2 = MathF.Log(2f);
        var op = new BoxDecodeOp([2f], [3f]);
        float[] y = Run(backend, op, [0, 0, 0, 0, ln3, 0, 0, ln2, 0, 0], [1, 1, 2, 5]);
        Assert.That(y, Is.EqualTo(new[] { -0.25f, -1f, 0.75f, 2f, 0.75f, -0.25f, -1f, 1.75f, 2f, 0.5f }).Within(1e-6f));
    }

    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    [TestCase("ilgpu-cuda")]
    public void Nms_KeepsTheBestOfEachCluster(string backend)
    {
        float[] boxes =
        [
            0, 0, 10, 10, 0.9f,     // 0 kept: the best
            1, 1, 11, 11, 0.8f,     // 1 IoU with 0 = 81/119 > 0.4: dropped
            20, 20, 30, 30, 0.7f,   // 2 ties with 5; the higher index goes first and drops it (IoU 81/119)
            0, 0, 10, 10, 0.3f,     // 3 score below 0.5: never a candidate
            5, 0, 15, 10, 0.85f,    // 4 IoU with 0 = 50/150: kept
            21, 21, 31, 31, 0.7f,   // 5 kept
        ];
        float[] keep = Run(backend, new NmsOp(0.5, 0.4), boxes, [1, 6, 5]);
        Assert.That(keep, Is.EqualTo(new float[] { 1, 0, 0, 0, 1, 1 }));
    }

    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    [TestCase("ilgpu-cuda")]
    public void Nms_IouAtTheThresholdIsKept_AndImagesAreIndependent(string backend)
    {
        // Image 0: IoU exactly 2/4 = 0.5, not above 0.5, so both stay. Image 1: the same boxes with
        // threshold crossed (first box widened to 0..4: IoU 3/4) leaves only the better one.
        float[] boxes = [0, 0, 3, 1, 0.6f, 1, 0, 4, 1, 0.9f, 0, 0, 4, 1, 0.6f, 1, 0, 4, 1, 0.9f];
        float[] keep = Run(backend, new NmsOp(0.5, 0.5), boxes, [2, 2, 5]);
        Assert.That(keep, Is.EqualTo(new float[] { 1, 1, 0, 1 }));
    }
}
