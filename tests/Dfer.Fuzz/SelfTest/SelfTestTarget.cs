using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Dfer.Fuzz.SelfTest;

/// <summary>
/// The hidden <c>selftest</c> target, which proves that the fuzzing set-up reports each kind of
/// finding (scripts/fuzz.sh checks it in CI mode). It is the only code of Dfer.Fuzz.dll that
/// scripts/fuzz.sh instruments (prefix <c>Dfer.Fuzz.SelfTest</c>), so the fuzzer sees one new edge
/// per matching byte of <see cref="Magic"/> and finds it in seconds, as it would a real bug.
/// </summary>
public static class SelfTestTarget
{
    /// <summary>The input that throws an exception other than DferException: a finding.</summary>
    public const string Magic = "DFER";

    /// <summary>Inputs that end the process, hang, exhaust the GC heap, or refuse without naming the input.
    /// Whole-string compares, invisible to coverage, so fuzzing never stumbles on them; the CI check replays
    /// them.</summary>
    public const string Die = "dfer-selftest:die", Hang = "dfer-selftest:hang", Exhaust = "dfer-selftest:oom",
        Nameless = "dfer-selftest:nameless";

    public static string Run(FuzzWorkspace workspace, ReadOnlySpan<byte> input)
    {
        if (input.Length == 4 && input[0] == (byte)'D')
        {
            if (input[1] == (byte)'F')
            {
                if (input[2] == (byte)'E')
                {
                    if (input[3] == (byte)'R')
                        throw new InvalidOperationException(
                            "selftest: the magic input DFER (a planted non-Dfer exception)");
                }
            }
        }
        if (input.SequenceEqual(Encoding.ASCII.GetBytes(Die)))
        {
            // What the OOM killer or a native crash looks like from outside: the process vanishes.
            Process.GetCurrentProcess().Kill();
        }
        if (input.SequenceEqual(Encoding.ASCII.GetBytes(Hang)))
            Thread.Sleep(Timeout.Infinite);
        if (input.SequenceEqual(Encoding.ASCII.GetBytes(Exhaust)))
            return AllocateForever();
        if (input.SequenceEqual(Encoding.ASCII.GetBytes(Nameless)))
        {
            // Not even the target's input name "selftest" may appear, or the message would name it.
            throw new DferException("planted: a refusal that names no input file");
        }
        return "not a self-test input";
    }

    /// <summary>Allocates until the GC heap limit (DOTNET_GCHeapHardLimit) throws OutOfMemoryException.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string AllocateForever()
    {
        var hoard = new List<byte[]>();
        while (true)
        {
            var block = new byte[64 << 20];
            block.AsSpan().Fill(1);
            hoard.Add(block);
        }
    }
}
