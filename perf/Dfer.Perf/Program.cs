using System.Diagnostics;
using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;
using Dfer.Models;
using Dfer.Reference;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.TorchSupport;
using TorchSharp;

// Model throughput: Dfer's CPU backend against libtorch (TorchSharp, the tests' reference model written
// from the spec) with the same weights, the same input and the same thread count, interleaved in one
// run so machine noise hits both alike. On an AVX-512 machine a third session pins the implicit GEMM's AVX2 tiles
// (CpuVariants.Avx512 = false), interleaved too, so the 512-bit tiles' gain is a ratio from the same run.
// Usage: dotnet run --project perf/Dfer.Perf -c Release -- [--model m3dfel|ifdd|rdfer] [--batch N] [--threads N]
// [--repeats N] [--layers] With --conv: the conv3d workbench instead (every M3DFEL conv shape, each CPU variant).
// With --ifdd-ops: IFDD's dwconv3d and dilated conv2d shapes, Dfer's CPU kernels against libtorch.
int batch = Arg("--batch", 2), threads = Arg("--threads", Environment.ProcessorCount), repeats = Arg("--repeats", 5);
bool layers = args.Contains("--layers");
if (args.Contains("--conv"))
{
    Dfer.Perf.ConvBench.Run(batch, threads, repeats);
    return;
}
if (args.Contains("--ifdd-ops"))
{
    Dfer.Perf.IfddOpsBench.Run(batch, threads, repeats);
    return;
}

string modelName = ArgText("--model", "m3dfel");
IModel model = ModelRegistry.Get(modelName);
var weights = model.GenerateWeights(1);
var clips = new DeterministicRandom(7).Uniform((long)batch * model.ClipShape.Aggregate(1, (a, b) => a * b), 0, 1);

TorchRuntime.EnsureLoaded();
TorchRuntime.SetThreads(threads);
var dict = weights.Names.ToDictionary(n => n, n => (weights[n].Data, weights[n].Shape));
IDisposable torchOwner;
Func<float[], int, double[]> torchForward;
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
using var torchModel = torchOwner;
using var backend = new CpuBackend(threads);
using var session = new Session(model, weights, backend);
bool wide = new CpuVariants().UseAvx512;
using var narrowBackend = wide ? new CpuBackend(threads, new CpuVariants { Avx512 = false }) : null;
using var narrow = narrowBackend is null ? null : new Session(model, weights, narrowBackend);
narrow?.Run(clips, batch);
double gflopPerClip = session.FlopsPerClip / 1e9;

Console.WriteLine($"{model.Name}, batch {batch}, {threads} threads, {gflopPerClip:F1} GFLOP/clip, {CpuContext.Isa}");
var ours = session.Run(clips, batch);
var theirs = torchForward(clips, batch);
double maxDiff = 0;
for (int b = 0; b < batch; b++)
    for (int c = 0; c < 7; c++) maxDiff = Math.Max(maxDiff, Math.Abs(ours[b].Logits[c] - theirs[b * 7 + c]));
Console.WriteLine($"warm-up done; max |logit difference| Dfer vs libtorch fp32 = {maxDiff:E2}");

var tOurs = new List<double>();
var tTorch = new List<double>();
var tNarrow = new List<double>();
for (int r = 0; r < repeats; r++)
{
    var sw = Stopwatch.StartNew();
    session.Run(clips, batch);
    tOurs.Add(sw.Elapsed.TotalSeconds);
    sw.Restart();
    torchForward(clips, batch);
    tTorch.Add(sw.Elapsed.TotalSeconds);
    if (narrow is null) continue;
    sw.Restart();
    narrow.Run(clips, batch);
    tNarrow.Add(sw.Elapsed.TotalSeconds);
}
double mOurs = Median(tOurs), mTorch = Median(tTorch);
double peak = CpuPeak.MeasureGflops(threads);
double ourGflops = gflopPerClip * batch / mOurs, torchGflops = gflopPerClip * batch / mTorch;
// Effective rates: the model's FLOPs (as counted by its graph) over wall time. Dfer skips taps that
// only read zero padding and uses Winograd where it pays, so it can exceed the FMA peak.
Console.WriteLine(
    $"{"",-10} {"clips/s",9} {"ms/batch",9} {"GFLOP/s",8} {"% peak",7}   (effective: {gflopPerClip:F1} GFLOP/clip ÷ "
    + "time)");
Console.WriteLine(
    $"{"dfer cpu",-10} {batch / mOurs,9:F3} {mOurs * 1000,9:F0} {ourGflops,8:F1} {100 * ourGflops / peak,6:F0}%");
Console.WriteLine(
    $"{"libtorch",-10} {batch / mTorch,9:F3} {mTorch * 1000,9:F0} {torchGflops,8:F1} {100 * torchGflops / peak,6:F0}%");
if (narrow is not null)
{
    double mNarrow = Median(tNarrow), narrowGflops = gflopPerClip * batch / mNarrow;
    Console.WriteLine($"{"dfer avx2",-10} {batch / mNarrow,9:F3} {mNarrow * 1000,9:F0} {narrowGflops,8:F1} "
        + $"{100 * narrowGflops / peak,6:F0}%   (the GEMM's AVX2 tiles pinned; the 512-bit ones gain "
        + $"{mNarrow / mOurs:F2}x)");
}
Console.WriteLine(
    $"ratio dfer/libtorch = {mTorch / mOurs:F2}  (median of {repeats}; measured FMA peak {peak:F0} GFLOP/s "
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
