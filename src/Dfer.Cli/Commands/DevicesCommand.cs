using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Dfer.Backends;
using Dfer.Devices.Cpu;

namespace Dfer.Cli.Commands;

/// <summary><c>dfer devices</c>: the backends and the facts about this machine that decide their speed.</summary>
internal static class DevicesCommand
{
    public static Command Create(CliConsole console)
    {
        var format = SharedOptions.Format();
        var command = new Command("devices", "List the backends, whether each can run here, and this machine's cores, OS, .NET and SIMD support")
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
        Output.WriteJson(stdout, json =>
        {
            json.WriteStartArray("backends");
            foreach (BackendInfo b in backends)
            {
                json.WriteStartObject();
                json.WriteString("name", b.Name);
                json.WriteBoolean("available", b.Available);
                json.WriteString("description", b.Description);
                if (b.UnavailableReason is string reason) json.WriteString("unavailable_reason", reason);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartObject("machine");
            json.WriteNumber("logical_cores", Environment.ProcessorCount);
            json.WriteString("os", RuntimeInformation.OSDescription);
            json.WriteString("architecture", RuntimeInformation.ProcessArchitecture.ToString());
            json.WriteString("dotnet", RuntimeInformation.FrameworkDescription);
            json.WriteStartObject("simd");
            json.WriteBoolean("avx2", Avx2.IsSupported);
            json.WriteBoolean("avx512f", Avx512F.IsSupported);
            json.WriteBoolean("fma", Fma.IsSupported);
            json.WriteEndObject();
            json.WriteString("cpu_kernels", CpuContext.Isa);
            json.WriteEndObject();
        });

    private static void WriteTable(TextWriter stdout, IReadOnlyList<BackendInfo> backends)
    {
        var rows = new List<string[]> { new[] { "backend", "available", "description" } };
        rows.AddRange(backends.Select(b => new[] { b.Name, b.Available ? "yes" : "no: " + b.UnavailableReason, b.Description }));
        Output.WriteTable(stdout, rows);
        stdout.WriteLine();
        Output.WriteFacts(stdout, new[]
        {
            ("logical cores", Environment.ProcessorCount.ToString()),
            ("OS", RuntimeInformation.OSDescription),
            ("architecture", RuntimeInformation.ProcessArchitecture.ToString()),
            (".NET", RuntimeInformation.FrameworkDescription),
            ("SIMD", $"AVX2 {YesNo(Avx2.IsSupported)}, AVX-512F {YesNo(Avx512F.IsSupported)}, FMA {YesNo(Fma.IsSupported)}"),
            ("cpu kernels", CpuContext.Isa),
        });
    }

    private static string YesNo(bool value) => value ? "yes" : "no";
}
