using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Dfer.Backends;
using Dfer.Cli.Json;
using Dfer.Devices.Cpu;

namespace Dfer.Cli.Commands;

/// <summary><c>dfer devices</c>: the backends and the facts about this machine that decide their speed.</summary>
internal static class DevicesCommand
{
    public static Command Create(CliConsole console)
    {
        var format = SharedOptions.Format();
        var command = new Command("devices",
            "List the backends, whether each can run here, and this machine's cores, OS, .NET and SIMD support")
        {
            format,
        };
        command.SetAction(parsed => Run(parsed.GetValue(format)!, console));
        return command;
    }

    public static int Run(string format, CliConsole console)
    {
        var backends = BackendRegistry.List();
        if (format == Output.Json) WriteJson(console.Out, backends);
        else WriteTable(console.Out, backends);
        return ExitCodes.Ok;
    }

    private static void WriteJson(TextWriter stdout, IReadOnlyList<BackendInfo> backends) =>
        Output.WriteJson(stdout, DevicesJson.From(backends), DferJson.Default.DevicesJson);

    private static void WriteTable(TextWriter stdout, IReadOnlyList<BackendInfo> backends)
    {
        var rows = new List<string[]> { new[] { "backend", "available", "description" } };
        rows.AddRange(
            backends.Select(b => new[] { b.Name, b.Available ? "yes" : "no: " + b.UnavailableReason, b.Description }));
        Output.WriteTable(stdout, rows);
        stdout.WriteLine();
        Output.WriteFacts(stdout, new[]
        {
            ("logical cores", Environment.ProcessorCount.ToString()),
            ("OS", RuntimeInformation.OSDescription),
            ("architecture", RuntimeInformation.ProcessArchitecture.ToString()),
            (".NET", RuntimeInformation.FrameworkDescription),
            ("SIMD", $"AVX2 {YesNo(Avx2.IsSupported)}, AVX-512F {YesNo(Avx512F.IsSupported)}, "
                + $"FMA {YesNo(Fma.IsSupported)}"),
            ("cpu kernels", CpuContext.Isa),
        });
    }

    private static string YesNo(bool value) => value ? "yes" : "no";
}
