using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;

namespace Dfer.Load;

/// <summary>
/// <c>dfer-load</c>: load generator and fault injector for <c>dfer serve</c> (perf/Dfer.Load/README.md). Loopback
/// only: every target and every connection is checked by <see cref="Loopback"/>.
/// </summary>
internal static class Program
{
    private const string Name = "dfer-load";

    public static async Task<int> Main(string[] args)
    {
        var url = new Option<string?>("--url")
        {
            HelpName = "http://127.0.0.1:PORT",
            Description = "The server's REST port (infer, health, /metrics)"
        };
        var grpc = new Option<string?>("--grpc")
        {
            HelpName = "127.0.0.1:PORT",
            Description = "The server's gRPC port",
        };
        var model = new Option<string>("--model") { DefaultValueFactory = _ => "m3dfel", Description = "Model name" };
        var protocol = new Option<string?>("--protocol")
        {
            HelpName = "rest-json|rest-binary|grpc",
            Description = "Wire format of the load (default: rest-binary with --url, else grpc)"
        };
        protocol.AcceptOnlyFromAmong("rest-json", "rest-binary", "grpc");
        var concurrency = Int("--concurrency", 1, 1, 256, "Closed-loop clients (with --rate: most requests in flight)");
        var batch = Int("--batch", 1, 1, 256, "Clips per request");
        var window = Real("--window", 5, 0.2, 600, "Seconds per measurement window");
        var maxWindows = Int("--max-windows", 10, 1, 1000, "Most measurement windows");
        var duration = Real("--duration", 60, 1, 86400, "Hard cap on the run, seconds (warm-up included)");
        var warmup = Real("--warmup", 2, 0, 600, "Seconds of load before the first window");
        var rate = new Option<double?>("--rate")
        {
            HelpName = "R",
            Description = "Open loop: R requests a second on a fixed schedule"
        };
        rate.CustomParser = r => ParseReal(r, "--rate", 0.01, 100_000);
        var seed = Int("--seed", 1, 0, int.MaxValue, "Seed of the clip values");
        var timeout = Real("--timeout", 60, 0.1, 3600, "Seconds a request may take");
        var json = new Option<FileInfo?>("--json") { HelpName = "FILE", Description = "Write every number as JSON" };
        var faults = new Option<bool>("--faults") { Description = "Fault mode: each fault once, PASS/FAIL per fault" };
        var memory = new Option<double?>("--memory-run")
        {
            HelpName = "MINUTES",
            Description = "Valid load and faults for MINUTES; report the server's RSS end/warm-up ratio"
        };
        memory.CustomParser = r => ParseReal(r, "--memory-run", 0.05, 1440);
        var settle = Real("--settle", 60, 0, 600,
            "With --memory-run: seconds idle before the memory after the run is read");
        var maxRatio = new Option<double?>("--max-rss-ratio")
        {
            HelpName = "X",
            Description = "With --memory-run: FAIL when the RSS ratio is above X"
        };
        maxRatio.CustomParser = r => ParseReal(r, "--max-rss-ratio", 1, 1000);
        var oversize = new Option<long>("--oversize")
        {
            HelpName = "BYTES",
            DefaultValueFactory = _ => (256L << 20) + 1,
            Description = "Body of the oversized-body fault: more than the server's limit (default 256 MiB + 1)"
        };
        oversize.CustomParser = r => (long)(ParseReal(r, "--oversize", 1, 1L << 40) ?? (256L << 20) + 1);
        var grpcOversize = Int("--grpc-oversize", (64 << 20) + 1, 1, int.MaxValue - 64,
            "Message of the oversized gRPC fault, bytes: more than the server's gRPC limit (default 64 MiB + 1)");
        var idle = Int("--idle-connections", 1000, 1, 10_000, "Idle TCP connections of that fault");
        var idleSeconds = Real("--idle-seconds", 3, 0, 600, "How long they are held");
        var vanishing = Int("--vanishing", 20, 1, 1000, "Clients of each vanishing-client fault");
        var flood = Int("--flood", 256, 1, 4096, "Requests sent at once by the flood faults");
        var only = new Option<string?>("--only")
        {
            HelpName = "TEXT",
            Description = "With --faults: only the faults whose name contains TEXT (e.g. oversized, gRPC, flood)"
        };

        var root = new RootCommand("dfer-load: load generator and fault injector for dfer serve (loopback only)")
        {
            url, grpc, model, protocol, concurrency, batch, window, maxWindows, duration, warmup, rate, seed, timeout,
            json, faults, memory, settle, maxRatio, oversize, grpcOversize, idle, idleSeconds, vanishing, flood, only,
        };
        root.SetAction(async (parsed, cancel) =>
        {
            Uri? restUri = Target(parsed.GetValue(url), "--url", false);
            Uri? grpcUri = Target(parsed.GetValue(grpc), "--grpc", true);
            if (restUri is null && grpcUri is null) throw new UsageException("give --url, --grpc or both");
            Protocol p = parsed.GetValue(protocol) switch
            {
                "rest-json" => Protocol.RestJson,
                "rest-binary" => Protocol.RestBinary,
                "grpc" => Protocol.Grpc,
                _ => restUri is not null ? Protocol.RestBinary : Protocol.Grpc,
            };
            if (p == Protocol.Grpc && grpcUri is null) throw new UsageException("--protocol grpc needs --grpc");
            if (p != Protocol.Grpc && restUri is null)
                throw new UsageException($"--protocol {Report.Name(p)} needs --url");
            bool faultMode = parsed.GetValue(faults);
            double? minutes = parsed.GetValue(memory);
            if (faultMode && minutes is not null) throw new UsageException("--faults and --memory-run: give one");
            if ((faultMode || minutes is not null) && parsed.GetValue(rate) is not null)
                throw new UsageException("--rate is for load runs, not --faults or --memory-run");
            if (parsed.GetValue(only) is not null && !faultMode) throw new UsageException("--only needs --faults");
            if (parsed.GetValue(maxRatio) is not null && minutes is null)
                throw new UsageException("--max-rss-ratio needs --memory-run");
            if (parsed.GetResult(settle) is { Implicit: false } && minutes is null)
                throw new UsageException("--settle needs --memory-run");
            var s = new LoadSettings(p, parsed.GetValue(model)!, parsed.GetValue(concurrency), parsed.GetValue(batch),
                parsed.GetValue(window), parsed.GetValue(maxWindows), parsed.GetValue(duration),
                parsed.GetValue(warmup), parsed.GetValue(rate), (ulong)parsed.GetValue(seed));
            if (!faultMode && minutes is null && s.DurationSeconds < s.WarmupSeconds + s.WindowSeconds)
                throw new UsageException($"--duration {s.DurationSeconds}: shorter than --warmup + --window "
                    + $"({s.WarmupSeconds + s.WindowSeconds} s); no window would be measured");
            var f = new FaultSettings(s.Model, parsed.GetValue(oversize), parsed.GetValue(grpcOversize),
                parsed.GetValue(idle),
                parsed.GetValue(idleSeconds), parsed.GetValue(vanishing), parsed.GetValue(flood), s.Seed);
            FileInfo? jsonFile = parsed.GetValue(json);
            TimeSpan requestTimeout = TimeSpan.FromSeconds(parsed.GetValue(timeout));

            using var server = new Server(restUri, grpcUri, s.Concurrency + 8, requestTimeout);
            ModelInfo info = await server.ModelAsync(s.Model, cancel).ConfigureAwait(false);
            if (faultMode || minutes is not null)
            {
                var runner = new FaultRunner(server, f, Console.Out);
                var results = new List<FaultResult> { await runner.PrepareAsync(info, cancel).ConfigureAwait(false) };
                Console.Out.WriteLine(results[0].Line);
                if (minutes is { } m)
                {
                    MemoryResult r = await new MemoryRun(server, runner, Console.Error).RunAsync(info, p, s.Concurrency,
                        s.Seed, m, parsed.GetValue(settle), parsed.GetValue(maxRatio), cancel).ConfigureAwait(false);
                    MemoryRun.Write(Console.Out, r);
                    WriteJson(jsonFile, w => MemoryRun.WriteJson(w, r, results));
                    return r.Pass && results.All(x => x.Pass) ? 0 : 1;
                }
                string? filter = parsed.GetValue(only);
                List<Fault> chosen = runner.Faults()
                    .Where(x => filter is null || x.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
                if (chosen.Count == 0) throw new UsageException($"--only {filter}: no fault's name contains it");
                foreach (Fault fault in chosen)
                    results.Add(await runner.RunAsync(fault, cancel).ConfigureAwait(false));
                int failed = results.Count(x => !x.Pass);
                Console.Out.WriteLine($"{results.Count} checks, {failed} failed");
                WriteJson(jsonFile, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("mode", "faults");
                    w.WritePropertyName("checks");
                    MemoryRun.FaultJson(w, results);
                    w.WriteEndObject();
                });
                return failed == 0 ? 0 : 1;
            }
            LoadResult result = await new LoadRunner(server, s, Console.Error).RunAsync(info, cancel)
                .ConfigureAwait(false);
            Report.WriteTable(Console.Out, result);
            WriteJson(jsonFile, w => Report.WriteJson(w, result));
            return result.Final.Ok > 0 ? 0 : 1;
        });

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (string message in parsed.Errors.Select(e => e.Message).Distinct())
                Console.Error.WriteLine($"{Name}: error: {message}");
            Console.Error.WriteLine($"Run '{Name} --help' for usage.");
            return 2;
        }
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false })
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is UsageException or LoadException or LoopbackRefusedException)
        {
            Console.Error.WriteLine($"{Name}: error: {OneLine(ex.Message)}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"{Name}: interrupted");
            return 130;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"{Name}: internal error: {ex.GetType().FullName}: {OneLine(ex.Message)}");
            if (Environment.GetEnvironmentVariable("DFER_DEBUG") == "1") Console.Error.WriteLine(ex);
            return 3;
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private static Uri? Target(string? text, string option, bool schemeOptional)
    {
        if (text is null) return null;
        return Loopback.ParseTarget(option, text, schemeOptional, out string? error)
            ?? throw new UsageException(error!);
    }

    private static void WriteJson(FileInfo? file, Action<Utf8JsonWriter> write)
    {
        if (file is null) return;
        try
        {
            using FileStream stream = File.Create(file.FullName);
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            write(writer);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--json {file}: cannot write ({ex.Message})");
        }
    }

    private static Option<int> Int(string name, int defaultValue, int min, int max, string description)
    {
        var option = new Option<int>(name)
        {
            HelpName = "N",
            DefaultValueFactory = _ => defaultValue,
            Description = description
        };
        option.CustomParser = r =>
        {
            if (r.Tokens.Count == 0) return defaultValue;
            string text = r.Tokens[^1].Value;
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
                r.AddError($"{name} {Shown(text)}: not an integer");
            else if (v < min || v > max) r.AddError($"{name} {Shown(text)}: between {min} and {max}");
            else return (int)v;
            return defaultValue;
        };
        return option;
    }

    private static Option<double> Real(string name, double defaultValue, double min, double max, string description)
    {
        var option = new Option<double>(name)
        {
            HelpName = "S",
            DefaultValueFactory = _ => defaultValue,
            Description = description
        };
        option.CustomParser = r => ParseReal(r, name, min, max) ?? defaultValue;
        return option;
    }

    private static double? ParseReal(ArgumentResult r, string name, double min, double max)
    {
        if (r.Tokens.Count == 0) return null;
        string text = r.Tokens[^1].Value;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            || !double.IsFinite(v))
            r.AddError($"{name} {Shown(text)}: not a number");
        else if (v < min || v > max)
            r.AddError($"{name} {Shown(text)}: between {min.ToString(CultureInfo.InvariantCulture)} and "
                + max.ToString(CultureInfo.InvariantCulture));
        else return v;
        return null;
    }

    private static string Shown(string text) =>
        text.Length == 0 ? "''" : text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>A wrong combination of options: one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
