using System.Diagnostics;
using Dfer;
using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;
using Dfer.Models;
using Dfer.Perf;
using Dfer.Reference;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.TorchSupport;
using TorchSharp;

// Model throughput: Dfer's CPU backend against its peers with the same weights, the same input and the same
// thread count, interleaved in one run so machine noise hits every engine alike. The peers (--peer):
// libtorch (TorchSharp, the tests' reference model written from the spec; the default), ort (ONNX Runtime's
// CPU provider running the graph Dfer's exporter writes, exported in-process at the run's batch; a model with
// an op that has no ONNX form yet is refused in one line) or all (both). Each peer's logits are compared with
// Dfer's at warm-up; ONNX Runtime's must agree within 1e-3 or nothing is timed. On an AVX-512 machine one more
// Dfer session pins the implicit GEMM's AVX2 tiles (CpuVariants.Avx512 = false), interleaved too, so the
// 512-bit tiles' gain is a ratio from the same run.
// Usage: dotnet run --project perf/Dfer.Perf -c Release -- [--model m3dfel|ifdd|rdfer] [--batch N] [--threads N]
// [--repeats N] [--peer libtorch|ort|all] [--layers]
// With --conv: the conv3d workbench instead (every M3DFEL conv shape, each CPU variant).
// With --scaling [--batch N]: the thread-scaling model of M3DFEL's CPU work at 2 to 32 threads, batches 1 and 8 (or N);
// nothing is timed (docs/performance.md, "Thread scaling").
// With --ifdd-ops: IFDD's dwconv3d and dilated conv2d shapes, Dfer's CPU kernels against libtorch.
// With --peak [--seconds S]: the fp32 peak of each instruction-set path's register-only loop (CpuPeak), per core and
// on --threads threads, side by side, best of three (no model is loaded).
int batch = Arg("--batch", 2), threads = Arg("--threads", Environment.ProcessorCount), repeats = Arg("--repeats", 5);
bool layers = args.Contains("--layers");
if (args.Contains("--conv"))
{
    Dfer.Perf.ConvBench.Run(batch, threads, repeats);
    return 0;
}
if (args.Contains("--scaling"))
{
    Dfer.Perf.ScalingReport.Run(args.Contains("--batch") ? [batch] : [1, 8]);
    return 0;
}
if (args.Contains("--ifdd-ops"))
{
    Dfer.Perf.IfddOpsBench.Run(batch, threads, repeats);
    return 0;
}

if (args.Contains("--peak"))
{
    Dfer.Perf.PeakReport.Run(threads, double.Parse(ArgText("--seconds", "0.5"),
        System.Globalization.CultureInfo.InvariantCulture));
    return 0;
}

string peer = ArgText("--peer", "libtorch");
if (peer is not ("libtorch" or "ort" or "all"))
{
    Console.Error.WriteLine($"--peer {peer}: give libtorch, ort or all");
    return 1;
}
bool withTorch = peer is "libtorch" or "all", withOrt = peer is "ort" or "all";

string modelName = ArgText("--model", "m3dfel");
IModel model = ModelRegistry.Get(modelName);
var weights = model.GenerateWeights(1);
var clips = new DeterministicRandom(7).Uniform((long)batch * model.ClipShape.Aggregate(1, (a, b) => a * b), 0, 1);
int classes = model.Classes.Count;

// The ONNX Runtime peer first: a model that cannot be exported yet is refused before anything is loaded.
OrtPeer? ortPeer = null;
if (withOrt)
{
    try
    {
        ortPeer = new OrtPeer(model, weights, clips, batch, threads);
    }
    catch (DferException e)
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
}
using var ort = ortPeer;

IDisposable? torchOwner = null;
Func<float[], int, double[]>? torchForward = null;
if (withTorch)
{
    TorchRuntime.EnsureLoaded();
    TorchRuntime.SetThreads(threads);
    var dict = weights.Names.ToDictionary(n => n, n => (weights[n].Data, weights[n].Shape));
    if (model is Ifdd)
    {
        var m = new TorchIfdd(dict, torch.ScalarType.Float32);
        (torchOwner, torchForward) = (m, (c, b) => Array.ConvertAll(m.Forward(c, b), v => (double)v));
    }
    else if (model is Rdfer)
    {
        var m = new TorchRdfer(dict, torch.ScalarType.Float32);
        (torchOwner, torchForward) = (m, (c, b) => m.Forward(c, b).Logits);
    }
    else
    {
        var m = new TorchM3dfel(dict, torch.ScalarType.Float32);
        (torchOwner, torchForward) = (m, m.Forward);
    }
}
using var torchModel = torchOwner;
using var backend = new CpuBackend(threads);
using var session = new Session(model, weights, backend);
bool wide = backend.Variants.UseAvx512;
using var narrowBackend = wide ? new CpuBackend(threads, new CpuVariants { Avx512 = false }) : null;
using var narrow = narrowBackend is null ? null : new Session(model, weights, narrowBackend);
narrow?.Run(clips, batch);
double gflopPerClip = session.FlopsPerClip / 1e9;

Console.WriteLine(
    $"{model.Name}, batch {batch}, {threads} threads, {gflopPerClip:F1} GFLOP/clip, {backend.Variants.Describe()}");
var ours = session.Run(clips, batch);
if (torchForward is not null)
{
    var theirs = torchForward(clips, batch);
    double maxDiff = 0;
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < classes; c++)
            maxDiff = Math.Max(maxDiff, Math.Abs(ours[b].Logits[c] - theirs[b * classes + c]));
    Console.WriteLine($"warm-up done; max |logit difference| Dfer vs libtorch fp32 = {maxDiff:E2}");
}
if (ort is not null)
{
    ort.Run();
    // Math.Max propagates NaN, so a NaN logit on either side makes the difference NaN.
    double maxDiff = 0;
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < classes; c++)
            maxDiff = Math.Max(maxDiff, Math.Abs((double)ours[b].Logits[c] - ort.Logits[b * classes + c]));
    Console.WriteLine(
        $"warm-up done; max |logit difference| Dfer vs ONNX Runtime {OrtPeer.Version} fp32 = {maxDiff:E2}");
    if (!(maxDiff <= 1e-3))
    {
        Console.Error.WriteLine($"not timed: ONNX Runtime's logits differ from Dfer's by {maxDiff:E2} "
            + "(more than 1e-3 or NaN), so the two do not compute the same model");
        return 1;
    }
}

// Every engine once per repeat, in this order, so machine noise hits each alike.
var engines = new List<(string Label, Action Run, List<double> Times)>
{
    ("dfer cpu", () => session.Run(clips, batch), new List<double>()),
};
if (torchForward is not null) engines.Add(("libtorch", () => torchForward(clips, batch), new List<double>()));
if (ort is not null) engines.Add(("ort", ort.Run, new List<double>()));
if (narrow is not null) engines.Add(("dfer avx2", () => narrow.Run(clips, batch), new List<double>()));
for (int r = 0; r < repeats; r++)
    foreach (var (_, run, times) in engines)
    {
        var sw = Stopwatch.StartNew();
        run();
        times.Add(sw.Elapsed.TotalSeconds);
    }
var medians = engines.ToDictionary(e => e.Label, e => Median(e.Times));
double mOurs = medians["dfer cpu"];
double peak = CpuPeak.MeasureGflops(threads);
// Effective rates: the model's FLOPs (as counted by its graph) over wall time. Dfer skips taps that
// only read zero padding and uses Winograd where it pays, so it can exceed the FMA peak.
Console.WriteLine(
    $"{"",-10} {"clips/s",9} {"ms/batch",9} {"GFLOP/s",8} {"% peak",7}   (effective: {gflopPerClip:F1} GFLOP/clip ÷ "
    + "time)");
foreach (var (label, _, _) in engines)
{
    double m = medians[label], gflops = gflopPerClip * batch / m;
    string row = $"{label,-10} {batch / m,9:F3} {m * 1000,9:F0} {gflops,8:F1} {100 * gflops / peak,6:F0}%";
    if (label == "dfer avx2")
        row += $"   (the GEMM's AVX2 tiles pinned; the 512-bit ones gain {m / mOurs:F2}x)";
    Console.WriteLine(row);
}
foreach (var (label, _, _) in engines.Where(e => e.Label is "libtorch" or "ort"))
    Console.WriteLine(
        $"ratio dfer/{label} = {medians[label] / mOurs:F2}  (median of {repeats}; measured FMA peak {peak:F0} GFLOP/s "
        + $"on {threads} threads)");

if (layers)
{
    var times = new Dictionary<string, (double Ms, double Gflop)>();
    session.Timer = (n, shapes, ms) =>
    {
        var prev = times.GetValueOrDefault(n.Name);
        times[n.Name] = (prev.Ms + ms, n.Op.Flops(shapes) / 1e9);
    };
    session.Run(clips, batch);
    session.Timer = null;
    Console.WriteLine($"\n{"layer",-28} {"ms",8} {"GFLOP/s",8}");
    foreach (var (name, (ms, gf)) in times.OrderByDescending(kv => kv.Value.Ms))
        Console.WriteLine($"{name,-28} {ms,8:F1} {gf / (ms / 1000),8:F1}");
}
return 0;

string ArgText(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

int Arg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
}

static double Median(List<double> v)
{
    var s = v.OrderBy(x => x).ToArray();
    return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
}
