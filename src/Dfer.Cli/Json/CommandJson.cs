using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Serialization;
using Dfer.Backends;
using Dfer.Cli.Commands;
using Dfer.Cli.Scoring;
using Dfer.Devices.Cpu;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Weights;

namespace Dfer.Cli.Json;

/// <summary><c>dfer eval --format json</c>: the metrics of a labelled split; a metric of no video is null.</summary>
internal sealed record EvalJson(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("videos")] int Videos,
    [property: JsonPropertyName("evaluated")] long Evaluated,
    [property: JsonPropertyName("failed")] int Failed,
    [property: JsonPropertyName("uar"), JsonConverter(typeof(FiniteDoubleConverter))] double Uar,
    [property: JsonPropertyName("war"), JsonConverter(typeof(FiniteDoubleConverter))] double War,
    [property: JsonPropertyName("classes")] IReadOnlyList<string> Classes,
    [property: JsonPropertyName("recall"), JsonConverter(typeof(FiniteDoublesConverter))] double[] Recall,
    [property: JsonPropertyName("confusion")] int[][] Confusion)
{
    public static EvalJson From(LoadedModel loaded, ClassificationMetrics m, int videos, int failed,
        IReadOnlyList<string> classes) =>
        new(loaded.Model.Name, loaded.Backend.Name, loaded.Precision, loaded.Weights.Source, videos, m.Total, failed,
        m.Uar, m.War,
            classes, m.Recall.ToArray(),
            Enumerable.Range(0, classes.Count)
            .Select(t => Enumerable.Range(0, classes.Count).Select(p => m.Confusion[t, p]).ToArray()).ToArray());
}

/// <summary><c>dfer bench --format json</c>.</summary>
internal sealed record BenchJson(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("batch")] int Batch,
    [property: JsonPropertyName("clips_per_s"), JsonConverter(typeof(FiniteDoubleConverter))] double ClipsPerS,
    [property: JsonPropertyName("latency_ms"), JsonConverter(typeof(FiniteDoubleConverter))] double LatencyMs,
    [property: JsonPropertyName("gflops_per_s"), JsonConverter(typeof(FiniteDoubleConverter))] double GflopsPerS,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("repeats")] int Repeats,
    [property: JsonPropertyName("execution"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    string? Execution,
    [property: JsonPropertyName("streamed_clips_per_s"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
        JsonConverter(typeof(FiniteNullableDoubleConverter))] double? StreamedClipsPerS)
{
    public static BenchJson From(BenchCommand.Report r) =>
        new(r.Model, r.Backend, r.Precision, r.Batch, r.ClipsPerSecond, r.LatencyMs, r.GflopsPerSecond, r.Weights,
        r.Device, r.Threads,
            r.Repeats, r.Execution, r.StreamedClipsPerSecond);
}

/// <summary><c>dfer devices --format json</c>: the backends and the machine.</summary>
internal sealed record DevicesJson(
    [property: JsonPropertyName("backends")] IReadOnlyList<DevicesJson.BackendInfoJson> Backends,
    [property: JsonPropertyName("machine")] DevicesJson.Machine MachineInfo)
{
    internal sealed record BackendInfoJson(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("available")] bool Available,
        [property: JsonPropertyName("description")] string Description,
        [property: JsonPropertyName("unavailable_reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? UnavailableReason);

    internal sealed record Machine(
        [property: JsonPropertyName("logical_cores")] int LogicalCores,
        [property: JsonPropertyName("os")] string Os,
        [property: JsonPropertyName("architecture")] string Architecture,
        [property: JsonPropertyName("dotnet")] string Dotnet,
        [property: JsonPropertyName("simd")] Simd Simd,
        [property: JsonPropertyName("cpu_kernels")] string CpuKernels,
        [property: JsonPropertyName("cpu_isa"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        CpuIsaJson? CpuIsa);

    /// <summary>The instruction-set path of the cpu backend: portable, avx2 or avx512 (DFER_CPU_ISA's values), and
    /// why ("the best this CPU has" or "forced by DFER_CPU_ISA"); absent when DFER_CPU_ISA is refused.</summary>
    internal sealed record CpuIsaJson(
        [property: JsonPropertyName("path")] string Path,
        [property: JsonPropertyName("reason")] string Reason);

    internal sealed record Simd(
        [property: JsonPropertyName("avx2")] bool Avx2,
        [property: JsonPropertyName("avx512f")] bool Avx512F,
        [property: JsonPropertyName("fma")] bool Fma);

    public static DevicesJson From(IReadOnlyList<BackendInfo> backends) =>
        new(backends.Select(b => new BackendInfoJson(b.Name, b.Available, b.Description, b.UnavailableReason)).ToList(),
            new Machine(Environment.ProcessorCount, RuntimeInformation.OSDescription,
                RuntimeInformation.ProcessArchitecture.ToString(),
                RuntimeInformation.FrameworkDescription,
                new Simd(Avx2.IsSupported, Avx512F.IsSupported, Fma.IsSupported),
                CpuContext.Isa,
                CpuVariants.DefaultRefusal is null
                    ? new CpuIsaJson(CpuVariants.Name(CpuVariants.Default.Isa), CpuVariants.Default.Reason)
                    : null));
}

/// <summary><c>dfer validate --format json</c>: every op case on every backend, and the whole-model check when
/// asked.</summary>
internal sealed record ValidateJson(
    [property: JsonPropertyName("seed")] string Seed,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("reference")] string Reference,
    [property: JsonPropertyName("backends")] IReadOnlyList<ValidateJson.BackendRun> Backends,
    [property: JsonPropertyName("cases")] IReadOnlyList<ValidateJson.Case> Cases,
    [property: JsonPropertyName("model"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    ValidateJson.ModelJson? Model)
{
    internal sealed record BackendRun(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("available")] bool Available,
        [property: JsonPropertyName("precision")] string Precision,
        [property: JsonPropertyName("device"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Device,
        [property: JsonPropertyName("reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Reason);

    internal sealed record Case(
        [property: JsonPropertyName("op")] string Op,
        [property: JsonPropertyName("backend")] string Backend,
        [property: JsonPropertyName("case")] string Name,
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("nmse"), JsonConverter(typeof(FiniteDoubleConverter))] double Nmse,
        [property: JsonPropertyName("max_abs_err"), JsonConverter(typeof(FiniteDoubleConverter))] double MaxAbsErr,
        [property: JsonPropertyName("tolerance")] CaseTolerance Tolerance,
        [property: JsonPropertyName("detail"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Detail);

    internal sealed record CaseTolerance(
        [property: JsonPropertyName("nmse")] double Nmse,
        [property: JsonPropertyName("atol")] double Atol,
        [property: JsonPropertyName("rtol")] double Rtol);

    internal sealed record ModelJson(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("weights")] string Weights,
        [property: JsonPropertyName("input")] string Input,
        [property: JsonPropertyName("baseline")] string Baseline,
        [property: JsonPropertyName("backends")] IReadOnlyList<Check> Backends);

    internal sealed record Check(
        [property: JsonPropertyName("backend")] string Backend,
        [property: JsonPropertyName("precision")] string Precision,
        [property: JsonPropertyName("max_abs_diff"), JsonConverter(typeof(FiniteDoubleConverter))] double MaxAbsDiff,
        [property: JsonPropertyName("agreement"), JsonConverter(typeof(FiniteDoubleConverter))] double Agreement,
        [property: JsonPropertyName("tolerance")] CheckTolerance Tolerance,
        [property: JsonPropertyName("passed")] bool Passed,
        [property: JsonPropertyName("seconds")] double Seconds,
        [property: JsonPropertyName("logits"), JsonConverter(typeof(FiniteFloatsConverter))] float[] Logits,
        [property: JsonPropertyName("key_frames_match"),
            JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? KeyFramesMatch = null);

    internal sealed record CheckTolerance(
        [property: JsonPropertyName("max_abs_logit")] double MaxAbsLogit,
        [property: JsonPropertyName("min_agreement")] double MinAgreement);

    /// <param name="backends">Each backend asked for: its precision's name, and its device or why it was
    /// skipped.</param>
    /// <param name="status">The name of a case's status ("pass", "fail", ...).</param>
    /// <param name="input">The model's input shape as messages spell it; with <paramref name="model"/>.</param>
    public static ValidateJson From(ulong seed, string precision, string reference, IEnumerable<BackendRun> backends,
        IEnumerable<CaseResult> results, Func<CaseStatus, string> status, IModel? model, StateDict? weights,
        string? input,
        IReadOnlyList<ModelCheck>? checks)
    {
        var cases = results.Select(r => new Case(r.Op, r.Backend, r.Case, status(r.Status), r.Nmse, r.MaxAbsError,
            new CaseTolerance(r.Tolerance.Nmse, r.Tolerance.Atol, r.Tolerance.Rtol), r.Detail)).ToList();
        ModelJson? modelJson = model is not null && checks is not null
            ? new ModelJson(model.Name, weights!.Source, input!, "cpu", checks.Select(c =>
            {
                ModelTolerance tol = c.Tolerance ?? ModelTolerance.Fp32;
                return new Check(c.Backend, c.Precision, c.MaxAbsDifference, c.Agreement,
                    new CheckTolerance(tol.MaxAbsLogit, tol.MinAgreement),
                    c.Passed, c.Seconds, c.Logits, c.KeyFramesMatch);
            }).ToList())
            : null;
        return new ValidateJson(seed.ToString(), precision, reference, backends.ToList(), cases, modelJson);
    }
}
