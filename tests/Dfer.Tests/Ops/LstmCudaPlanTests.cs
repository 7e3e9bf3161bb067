using Dfer.Devices;
using Dfer.Devices.Cuda;
using Dfer.Ops.Lstm;

namespace Dfer.Tests.Ops;

/// <summary>
/// The launch plan of the native CUDA LSTM (<see cref="LstmCuda.Choose"/>), without a GPU: the persistent
/// recurrence needs its whole grid co-resident with W_hh slices in shared memory, else it falls back to one
/// launch per step. Occupancy is modelled as ⌊smem per SM / smem per block⌋ capped by 2048 threads per SM.
/// </summary>
public class LstmCudaPlanTests
{
    private const int Nb = 4;

    private static Func<int, int> Occupancy(int sms, int smemPerSm) => smem
        => sms * Math.Min(2048 / 256, smemPerSm / Math.Max(smem, 1));

    [Test]
    public void M3dfel_OnH100_IsPersistent_OneBlockPerSm()
    {
        var plan = LstmCuda.Choose(512, 2, Nb, 132, 227 * 1024, Occupancy(132, 228 * 1024), CudaLstmMode.Auto);
        Assert.That(plan.Persistent, Is.True, plan.ToString());
        Assert.That(plan.WeightsInSmem, Is.True);
        Assert.That(plan.Slice, Is.EqualTo(8));
        Assert.That(plan.Blocks, Is.EqualTo(128));
        Assert.That(plan.SmemBytes, Is.EqualTo(4 * (4 * 8 * 512 + Nb * 512 + 4 * 8 * Nb)));
    }

    [Test]
    public void M3dfel_OnA100_IsPersistent_WithAPartialLastSlice()
    {
        var plan = LstmCuda.Choose(512, 2, Nb, 108, 163 * 1024, Occupancy(108, 164 * 1024), CudaLstmMode.Auto);
        Assert.That(plan.Persistent, Is.True, plan.ToString());
        Assert.That(plan.Slice, Is.EqualTo(10));
        Assert.That(plan.Blocks, Is.EqualTo(2 * 52));
        Assert.That(plan.Blocks, Is.LessThanOrEqualTo(plan.CoResidentBlocks));
    }

    [Test]
    public void FewSms_WeightsDoNotFit_FallsBackToOneLaunchPerStep()
    {
        var plan = LstmCuda.Choose(512, 2, Nb, 20, 99 * 1024, Occupancy(20, 100 * 1024), CudaLstmMode.Auto);
        Assert.That(plan.Persistent, Is.False, plan.ToString());
        Assert.That(plan.WeightsInSmem, Is.False);
        Assert.That(plan.Blocks * plan.Slice, Is.GreaterThanOrEqualTo(2 * 512));
        Assert.Throws<DferException>(
            () => LstmCuda.Choose(512, 2, Nb, 20, 99 * 1024, Occupancy(20, 100 * 1024), CudaLstmMode.Persistent));
    }

    [Test]
    public void TooFewCoResidentBlocks_FallsBackToOneLaunchPerStep()
    {
        var plan = LstmCuda.Choose(64, 2, Nb, 132, 227 * 1024, _ => 10, CudaLstmMode.Auto);
        Assert.That(plan.Persistent, Is.False, plan.ToString());
    }

    [Test]
    public void SmallHidden_UsesOneUnitPerBlock_AndStepModeCanBeForced()
    {
        var plan = LstmCuda.Choose(29, 1, Nb, 132, 227 * 1024, Occupancy(132, 228 * 1024), CudaLstmMode.Auto);
        Assert.That((plan.Persistent, plan.Slice, plan.Blocks), Is.EqualTo((true, 1, 29)));
        var step = LstmCuda.Choose(29, 1, Nb, 132, 227 * 1024, Occupancy(132, 228 * 1024), CudaLstmMode.Step);
        Assert.That(step.Persistent, Is.False);
        var e = Assert.Throws<DferException>(() => EngineEnvironment.ParseLstmMode("fast"));
        Assert.That(e!.Message, Does.StartWith("DFER_LSTM_MODE=fast: expected step, persistent or auto"));
    }
}
