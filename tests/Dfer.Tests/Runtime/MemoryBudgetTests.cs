using Dfer.Cli;
using Dfer.Tensors;
using Dfer.Tests.Cli;

namespace Dfer.Tests.Runtime;

/// <summary>
/// Native buffers stay within NativeBuffer.Budget: a batch too large for the machine ends with one
/// line and exit 2 instead of the kernel's OOM killer ending the process without a word.
/// </summary>
public class MemoryBudgetTests
{
    [Test]
    public void TheBudgetIsEightyPercentOfTheMachine()
    {
        Assert.That(NativeBuffer.MachineBytes, Is.GreaterThan(1L << 30), "the GC reports the machine's memory");
        Assert.That(NativeBuffer.Budget, Is.EqualTo(NativeBuffer.MachineBytes / 100 * 80));
    }

    [Test]
    public void ABufferOverTheBudgetIsRefusedAndNotCounted()
    {
        long before = NativeBuffer.LiveBytes;
        var ex = Assert.Throws<DferException>(() => new NativeBuffer(NativeBuffer.Budget + 1).Dispose())!;
        Assert.That(ex.Message,
            Does.StartWith("the working memory would reach ").And.EndWith("; use a smaller --batch"));
        Assert.That(NativeBuffer.LiveBytes, Is.EqualTo(before), "a refused buffer holds nothing");

        using (var b = new NativeBuffer(1000))
            Assert.That(NativeBuffer.LiveBytes, Is.GreaterThanOrEqualTo(before + 1000));
        Assert.That(NativeBuffer.LiveBytes, Is.EqualTo(before), "a disposed buffer is uncounted");
    }

    [Test]
    public void APlanOverTheBudgetIsRefusedBeforeAllocating()
    {
        Assert.That(() => NativeBuffer.CheckBudget(NativeBuffer.Budget - NativeBuffer.LiveBytes + 1),
            Throws.InstanceOf<DferException>());
        Assert.That(() => NativeBuffer.CheckBudget(-1), Throws.InstanceOf<DferException>(), "an overflowed sum");
        Assert.That(() => NativeBuffer.CheckBudget(1 << 20), Throws.Nothing);
    }

    /// <summary>M3DFEL at batch 1024 needs about 100 GiB of activations on the cpu backend.</summary>
    [Test]
    public void M3dfelAtBatch1024_IsOneLineAndExit2()
    {
        if (NativeBuffer.Budget > 100L << 30) Assert.Ignore("this machine has the memory for batch 1024");
        CliRun run = CliHarness.Run("bench", "--model", "m3dfel", "--batch", "1024", "--warmup", "0", "--repeats", "1");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines.Count(l => l.StartsWith("dfer: error: ", StringComparison.Ordinal)), Is.EqualTo(1),
            run.ToString());
        Assert.That(run.Stderr,
            Does.Contain("dfer: error: the working memory would reach ").And.Contain("use a smaller --batch"));
    }
}
