using Dfer.Fuzz;
using SharpFuzz;

// Dfer.Fuzz TARGET              under native/fuzz's driver (scripts/fuzz.sh): fuzz TARGET
// Dfer.Fuzz TARGET FILE|DIR...  replay inputs in-process; exit 1 if one breaks the invariant
// Dfer.Fuzz list                the targets
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: Dfer.Fuzz TARGET [FILE|DIR...] | Dfer.Fuzz list   (docs/fuzzing.md)");
    return 2;
}
if (args[0] == "list")
{
    foreach (FuzzTarget t in FuzzTargets.All.Where(t => !t.Hidden))
        Console.WriteLine($"{t.Name,-14} {t.Description}");
    return 0;
}
FuzzTarget? target = FuzzTargets.Find(args[0]);
if (target is null)
{
    Console.Error.WriteLine($"Dfer.Fuzz: no target '{args[0]}' (Dfer.Fuzz list names them)");
    return 2;
}

using FuzzWorkspace workspace = FuzzWorkspace.Create();
if (args.Length == 1)
{
    if (Environment.GetEnvironmentVariable("__LIBFUZZER_SHM_ID") is null)
    {
        Console.Error.WriteLine(
            "Dfer.Fuzz: not started by the libFuzzer driver (scripts/fuzz.sh); to replay inputs, name them: Dfer.Fuzz "
            + "TARGET FILE|DIR...");
        return 2;
    }
    // An exception escaping the action is reported to the driver as a crash (and printed to stderr).
    Fuzzer.LibFuzzer.Run(input => target.Execute(workspace, input));
    return 0;
}

int findings = 0, count = 0;
foreach (string file in args.Skip(1).SelectMany(Inputs))
{
    count++;
    try
    {
        FuzzResult r = target.Execute(workspace, File.ReadAllBytes(file));
        Console.WriteLine($"{file}: {(r.Rejected ? "rejected" : "accepted")}: {r.Message}");
    }
    catch (Exception ex)
    {
        findings++;
        Console.WriteLine($"{file}: FINDING: {ex}");
    }
}
Console.WriteLine($"{count} inputs, {findings} findings");
return findings == 0 ? 0 : 1;

static IEnumerable<string> Inputs(string path) =>
    Directory.Exists(path)
        ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        : [path];
