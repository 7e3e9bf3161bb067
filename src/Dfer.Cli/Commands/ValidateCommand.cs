using System.CommandLine;
using Dfer.Backends;
using Dfer.Cli.Json;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer validate</c>: the op matrix from the command line — every op case on the chosen
/// backends against the float64 Reference — and, with <c>--model</c>, whole-model agreement of
/// the backends' logits with the CPU backend's. <c>--precision</c> sets what the cuda backend computes
/// in and judges it by that precision's bounds (<see cref="Tolerance.For"/> per op,
/// <see cref="ModelTolerance.For"/> for the model); the other backends compute in fp32.
/// </summary>
internal static class ValidateCommand
{
    public sealed record Settings(string Backend, string? Op, string Format, ulong Seed, string? Model, string? Weights,
        string? Key,
        int Batch, int? Size, int Threads, string Reference = "reference", Precision Precision = Precision.Fp32);

    public static Command Create(CliConsole console)
    {
        var backend = new Option<string>("--backend")
        {
            Description = $"Backends to check: all, or one "
                + $"of {string.Join(", ", BackendRegistry.Names.Where(n => n != "reference"))}",
            HelpName = "NAME",
            DefaultValueFactory = _ => "all",
        };
        var op = new Option<string?>("--op")
        {
            Description = $"Only this op: {string.Join(", ", OpRegistry.All.Select(k => k.Name))}",
            HelpName = "NAME",
        };
        var format = SharedOptions.Format();
        var seed = NumberOptions.Optional("--seed", ulong.MinValue, ulong.MaxValue);
        seed.Description =
            "Seed of the random weights and inputs (default: a fresh one, printed so a failure can be replayed)";
        var model = SharedOptions.ModelOption(new Option<string?>("--model"), expression: false,
            "Also run a whole model on each backend and compare its logits with the cpu backend's: ");
        var weights = SharedOptions.Weights();
        var key = SharedOptions.Key();
        var batch = SharedOptions.Batch(1);
        var size = NumberOptions.Optional("--size", Limits.MinM3dfelSize, M3dfel.NativeSize,
            "(m3dfel's own size; smaller is quicker)");
        size.Description = $"Frame size of the --model m3dfel check, {Limits.MinM3dfelSize} to {M3dfel.NativeSize}, "
            + $"or of --model rdfer, {MinRdferSize} to {Rdfer.NativeSize} (default: the model's own; smaller is "
            + "quicker on slow backends such as ilgpu-cpu)";
        size.HelpName = "PIXELS";
        var threads = SharedOptions.Threads();
        var reference = SharedOptions.OneOf(new Option<string>("--reference")
        {
            Description = "What the kernels are judged against: reference (Dfer's float64 loops, built in) or torch "
                + "(PyTorch's own operators in float64, from the optional Dfer.Reference assembly)",
            DefaultValueFactory = _ => "reference",
        }, "reference", "torch");
        var precision = SharedOptions.Precision(
            "What the cuda backend computes in: its op cases are judged by that precision's tolerance and its --model "
            + "logits by the precision's model tolerance (the other backends compute in fp32 and are judged as such; "
            + "naming one of them with a precision other than fp32 is an error)");
        var command = new Command("validate",
            "Check every kernel against the float64 reference on this machine's backends (and, with --model, a whole "
            + "model across backends)")
        {
            backend, op, format, seed, model, weights, key, batch, size, threads, reference, precision,
        };
        command.SetAction(
            parsed => Run(new Settings(parsed.GetValue(backend)!, parsed.GetValue(op), parsed.GetValue(format)!,
            parsed.GetValue(seed) ?? (ulong)Environment.TickCount64, parsed.GetValue(model), parsed.GetValue(weights),
            parsed.GetValue(key),
            parsed.GetValue(batch), parsed.GetValue(size), parsed.GetValue(threads), parsed.GetValue(reference)!,
            SharedOptions.GetPrecision(parsed, precision)), console));
        return command;
    }

    public static int Run(Settings settings, CliConsole console)
    {
        var infos = BackendRegistry.List().Where(b => !b.IsOracle).ToList();
        if (settings.Backend != "all")
        {
            infos = infos.Where(b => string.Equals(b.Name, settings.Backend, StringComparison.OrdinalIgnoreCase))
                .ToList();
            if (infos.Count == 0)
                throw new DferException(
                    $"--backend {settings.Backend}: not a backend to validate; use all or one "
                    + $"of {string.Join(", ", BackendRegistry.List().Where(b => !b.IsOracle).Select(b => b.Name))}");
            // One backend named: it must compute in the precision asked for. With "all", only cuda takes it.
            BackendRegistry.CheckPrecision(infos[0].Name, settings.Precision);
        }
        OpKind[] kinds = OpRegistry.All.ToArray();
        if (settings.Op is string opName)
        {
            kinds = kinds.Where(k => k.Name == opName.ToLowerInvariant()).ToArray();
            if (kinds.Length == 0)
                throw new DferException(
                    $"--op {opName}: unknown op; ops are {string.Join(", ", OpRegistry.All.Select(k => k.Name))}");
        }
        if (settings.Model is null && (settings.Weights is not null || settings.Size is not null))
            throw new DferException("--weights and --size belong to the whole-model check: add --model NAME");
        IModel? model = settings.Model is null ? null : ModelRegistry.Get(settings.Model);
        if (settings.Size is int s && model is not (M3dfel or Rdfer))
            throw new DferException($"--size: {model!.Name} runs at its own frame size only");

        IReferenceOracle oracle =
            settings.Reference == "torch" ? ReferencePlugin.LoadTorch() : ReferenceOracle.Instance;
        var cases = kinds.SelectMany(k => OpCases.For(k, settings.Seed)).ToList();
        var results = new List<CaseResult>();
        var backends = new List<(BackendInfo Info, IBackend? Backend, string? Problem)>();
        try
        {
            foreach (BackendInfo info in infos)
            {
                if (info.UnavailableReason is string reason)
                {
                    backends.Add((info, null, reason));
                    continue;
                }
                try
                {
                    backends.Add(
                        (info, BackendRegistry.Create(info.Name, settings.Threads,
                        PrecisionFor(info.Name, settings.Precision)), null));
                }
                catch (Exception ex) when (
                    ex is DferException or DllNotFoundException or InvalidOperationException or NotSupportedException)
                {
                    backends.Add((info, null, CliConsole.OneLine(ex.Message)));
                }
            }
            foreach (var (info, backend, problem) in backends)
            {
                Tolerance tolerance = Tolerance.For(PrecisionFor(info.Name, settings.Precision));
                foreach (OpCase c in cases)
                {
                    if (backend is null)
                        results.Add(new CaseResult(c.Op.Kind.Name, info.Name, c.Name, CaseStatus.Skipped, double.NaN,
                            double.NaN, tolerance, problem));
                    else
                    {
                        console.Progress($"{info.Name}: {c.Name}");
                        results.Add(OpValidation.Check((IOpRunner)backend, info.Name, c, settings.Seed, oracle,
                            tolerance));
                    }
                }
            }

            IReadOnlyList<ModelCheck>? checks = null;
            StateDict? weights = null;
            if (model is not null)
            {
                if (settings.Size is int size)
                {
                    if (model is Rdfer && size < MinRdferSize)
                        throw new DferException($"--size {size}: rdfer needs frames of at least {MinRdferSize} pixels");
                    model = model is Rdfer ? new Rdfer(size) : new M3dfel(size);
                }
                weights = settings.Weights is null ? model.GenerateWeights(settings.Seed)
                    : StateDict.Load(settings.Weights, settings.Key);
                using IBackend baseline = BackendRegistry.Create("cpu", settings.Threads);
                var others = backends.Where(b => b.Backend is not null && b.Info.Name != "cpu").Select(b => b.Backend!)
                    .ToList();
                console.Progress($"{model.Name} on cpu and {string.Join(", ", others.Select(b => b.Name))}");
                checks = ModelValidation.Compare(model, weights, baseline, others, settings.Batch, settings.Seed);
            }

            if (settings.Format == Output.Json)
                WriteJson(console.Out, settings, oracle, backends, results, model, weights, checks);
            else WriteTable(console.Out, settings, oracle, backends, results, model, checks);
            bool failed = results.Any(r => r.Status == CaseStatus.Fail) || (checks?.Any(c => !c.Passed) ?? false);
            return failed ? ExitCodes.InputFailed : ExitCodes.Ok;
        }
        finally
        {
            foreach (var (_, backend, _) in backends) backend?.Dispose();
        }
    }

    /// <summary>What backend <paramref name="name"/> computes in under <c>--precision</c>: the option's value where it
    /// can (cuda), fp32 elsewhere.</summary>
    private static Precision PrecisionFor(string name, Precision asked) =>
        BackendRegistry.Precisions(name).Contains(asked) ? asked : Precision.Fp32;

    private static string Status(CaseStatus s) => s switch
    {
        CaseStatus.Pass => "pass",
        CaseStatus.Fail => "fail",
        CaseStatus.Unsupported => "unsupported",
        CaseStatus.Skipped => "skipped",
    };

    private static void WriteJson(TextWriter stdout, Settings settings, IReferenceOracle oracle,
        List<(BackendInfo Info, IBackend? Backend, string? Problem)> backends,
        List<CaseResult> results, IModel? model, StateDict? weights, IReadOnlyList<ModelCheck>? checks) =>
        Output.WriteJson(stdout, ValidateJson.From(settings.Seed, settings.Precision.Name(), oracle.Description,
            backends.Select(
            b => new ValidateJson.BackendRun(b.Info.Name, b.Backend is not null,
            PrecisionFor(b.Info.Name, settings.Precision).Name(),
                b.Backend?.Device, b.Problem)),
            results, Status, model, weights,
            model is null ? null : Output.Shape(new[] { settings.Batch }.Concat(model.ClipShape)), checks),
            DferJson.Default.ValidateJson);

    private static void WriteTable(TextWriter stdout, Settings settings, IReferenceOracle oracle,
        List<(BackendInfo Info, IBackend? Backend, string? Problem)> backends,
        List<CaseResult> results, IModel? model, IReadOnlyList<ModelCheck>? checks)
    {
        foreach (var (info, backend, problem) in backends)
            Output.WriteLine(stdout,
                backend is not null ? $"{info.Name}: {backend.Device}" : $"{info.Name}: skipped ({problem})");
        stdout.WriteLine($"reference: {oracle.Description}; seed {settings.Seed}");
        if (settings.Precision != Precision.Fp32)
            stdout.WriteLine(
                $"precision: cuda in {settings.Precision.Name()} (per-op "
                + $"tolerance {Describe(Tolerance.For(settings.Precision))}); the other backends in fp32");
        stdout.WriteLine();
        var rows = new List<string[]> { new[] { "op", "backend", "cases", "worst nmse", "worst |err|", "result" } };
        // A backend that could not run gets one line, not one per op.
        var skipped = results.GroupBy(r => r.Backend).Where(g => g.All(r => r.Status == CaseStatus.Skipped))
            .Select(g => g.Key).ToHashSet();
        foreach (string name in skipped)
            rows.Add(new[] { "(all)", name, $"0/{results.Count(r => r.Backend == name)}", "-", "-", "skipped" });
        foreach (var group in results.Where(r => !skipped.Contains(r.Backend)).GroupBy(r => (r.Op, r.Backend)))
        {
            var rs = group.ToList();
            int passed = rs.Count(r => r.Status == CaseStatus.Pass),
                failed = rs.Count(r => r.Status == CaseStatus.Fail);
            string result = failed > 0 ? "FAIL" : passed == rs.Count ? "pass" : Status(rs[0].Status);
            double nmse = rs.Where(r => !double.IsNaN(r.Nmse)).Select(r => r.Nmse).DefaultIfEmpty(double.NaN).Max();
            double err = rs.Where(r => !double.IsNaN(r.MaxAbsError)).Select(r => r.MaxAbsError)
                .DefaultIfEmpty(double.NaN).Max();
            rows.Add(new[] { group.Key.Op, group.Key.Backend, $"{passed}/{rs.Count}", Sci(nmse), Sci(err), result });
        }
        Output.WriteTable(stdout, rows, new HashSet<int> { 2, 3, 4 });
        var failures = results.Where(r => r.Status == CaseStatus.Fail).ToList();
        if (failures.Count > 0)
        {
            stdout.WriteLine();
            foreach (CaseResult f in failures) Output.WriteLine(stdout, $"FAIL {f.Backend} {f.Case}: {f.Detail}");
        }
        if (model is not null && checks is not null)
        {
            stdout.WriteLine();
            stdout.WriteLine(
                $"{model.Name}, {settings.Batch} clip(s) of {Output.Shape(model.ClipShape)}: logits against cpu "
                + "(fp32)");
            // Models that pick frames (RDFER) must pick the same ones on every backend.
            bool keys = checks.Any(c => c.KeyFramesMatch is not null);
            var header = new[] { "backend", "precision", "max |Δlogit|", "bound", "same class", "min", "seconds",
                "result" };
            var modelRows = new List<string[]> { keys ? [.. header[..^1], "same key frames", "result"] : header };
            for (int i = 0; i < checks.Count; i++)
            {
                ModelCheck c = checks[i];
                ModelTolerance tol = c.Tolerance ?? ModelTolerance.Fp32;
                bool baseline = i == 0;
                var row = new List<string>
                {
                    c.Backend, c.Precision, baseline ? "baseline" : Sci(c.MaxAbsDifference),
                    baseline ? "-" : tol.MaxAbsLogit.ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
                    baseline ? "-" : Output.Fixed(100 * c.Agreement, 0) + " %",
                    baseline ? "-" : Output.Fixed(100 * tol.MinAgreement, 0) + " %",
                    Output.Fixed(c.Seconds, 1),
                };
                if (keys) row.Add(baseline ? "-" : c.KeyFramesMatch == true ? "yes" : "NO");
                row.Add(c.Passed ? "pass" : "FAIL");
                modelRows.Add(row.ToArray());
            }
            Output.WriteTable(stdout, modelRows, new HashSet<int> { 2, 3, 4, 5, 6 });
        }
    }

    /// <summary>RDFER's smallest frames: its five stride-2 steps need 32 pixels.</summary>
    private const int MinRdferSize = 32;

    private static string Describe(Tolerance t) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"nmse {t.Nmse:G2}, atol {t.Atol:G2}, rtol {t.Rtol:G2}");

    private static string Sci(double v)
        => double.IsNaN(v) ? "-" : v.ToString("0.0E+00", System.Globalization.CultureInfo.InvariantCulture);
}
