using System.Globalization;
using System.Text.Json;
using Dfer;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Ops.Conv3d;
using Dfer.Tensors;
using Dfer.Workbench;

// The conv3d kernel workbench (llm.c dev/cuda style). For every M3DFEL conv layer shape and batch,
// every variant of native/kernels/conv3d.cu that fits is validated against a float64 reference
// (on sampled output rows, all channels, plus guard bands around the output) and then timed:
// warm-up, then --repeats launches each timed with CUDA events after an L2 flush; the median is
// reported with TFLOP/s. cuDNN's figures for the same shapes come from
// perf/gpu/conv_workbench_torch.py in the same GPU call; perf/gpu/workbench_table.py joins them.
// Usage: dotnet Dfer.Workbench.dll [--batches 128,32,8,1] [--layers SUBSTRING] [--variants SUBSTRING]
//        [--warmup 3] [--repeats 20] [--rows 96] [--seed 1] [--format table|json] [--budget-s S] [--out FILE.json]
// --budget-s stops starting layers after S seconds; --out rewrites FILE.json after every layer
// ("truncated": true until the run completes).
try
{
    var options = Options.Parse(args);
    if (CudaDevice.UnavailableReason() is string reason)
    {
        Console.Error.WriteLine($"workbench: {reason}");
        return 2;
    }
    using IlgpuDevice ilgpu = IlgpuDevice.Open(IlgpuTarget.Cuda);
    using CudaDevice cuda = CudaDevice.Open(ilgpu);
    Console.Error.WriteLine($"workbench: {cuda.Description}");
    var results = new List<BenchResult>();
    var clock = System.Diagnostics.Stopwatch.StartNew();
    bool truncated = false;
    foreach (int batch in options.Batches)
        foreach (ConvLayer layer in ConvLayer.M3dfel.Where(
            l => l.Name.Contains(options.Layers, StringComparison.Ordinal)))
        {
            // A GPU call has a hard time limit: stop starting layers at the budget, and keep what was
            // measured on disk after every layer, so a cut-short run still reports.
            if (options.BudgetS > 0 && clock.Elapsed.TotalSeconds > options.BudgetS)
            {
                if (!truncated)
                    Console.Error.WriteLine(
                        $"workbench: budget of {options.BudgetS} s spent; skipping the remaining layers");
                truncated = true;
                continue;
            }
            results.AddRange(ConvBench.Run(cuda, layer, batch, options));
            if (options.Out is string path)
            {
                using var file = new StreamWriter(path);
                Report.Json(file, cuda, results, truncated: true);
            }
        }
    if (options.Out is string final)
    {
        using var file = new StreamWriter(final);
        Report.Json(file, cuda, results, truncated);
    }
    if (options.Format == "json") Report.Json(Console.Out, cuda, results, truncated);
    else Report.Table(Console.Out, cuda, results);
    return results.Any(r => !r.Valid) ? 1 : 0;
}
catch (DferException ex)
{
    Console.Error.WriteLine($"workbench: {ex.Message}");
    return 2;
}

namespace Dfer.Workbench
{
    /// <summary>Command-line options.</summary>
    internal sealed record Options(int[] Batches, string Layers, string Variants, int Warmup, int Repeats, int Rows,
        ulong Seed, string Format,
        int BudgetS, string? Out)
    {
        public static Options Parse(string[] args)
        {
            string Text(string name, string fallback)
            {
                int i = Array.IndexOf(args, name);
                if (i < 0) return fallback;
                if (i + 1 >= args.Length) throw new DferException($"{name} needs a value");
                return args[i + 1];
            }
            int Int(string name, int fallback) =>
                int.TryParse(Text(name, fallback.ToString(CultureInfo.InvariantCulture)), NumberStyles.Integer,
                CultureInfo.InvariantCulture, out int v) && v >= 0
                    ? v : throw new DferException($"{name}: expected a non-negative integer");
            int[] batches = Text("--batches", "128,32,8,1").Split(',').Select(s =>
                int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int b) && b > 0 ? b
                : throw new DferException($"--batches: '{s}' is not a positive integer")).ToArray();
            string format = Text("--format", "table");
            if (format is not ("table" or "json")) throw new DferException($"--format {format}: use table or json");
            return new Options(batches, Text("--layers", ""), Text("--variants", ""), Int("--warmup", 3),
                Math.Max(1, Int("--repeats", 20)),
                Math.Max(1, Int("--rows", 96)), (ulong)Int("--seed", 1), format, Int("--budget-s", 0),
                Text("--out", "") is { Length: > 0 } o ? o : null);
        }
    }

    /// <summary>One conv layer of M3DFEL's r3d_18 backbone per clip instance ([T,H,W,C] in), and how often a forward
    /// pass runs it.</summary>
    internal sealed record ConvLayer(string Name, int T, int H, int W, int C, int Co, (int T, int H, int W) K,
        (int T, int H, int W) S,
        (int T, int H, int W) P, int Occurrences, bool Relu, bool Residual)
    {
        /// <summary>The shapes of docs/models/m3dfel.md; the names are those of
        /// perf/gpu/conv_workbench_torch.py.</summary>
        public static readonly ConvLayer[] M3dfel =
        [
            new("stem", 4, 112, 112, 3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), 1, true, false),
            new("layer1.conv", 4, 56, 56, 64, 64, (3, 3, 3), (1, 1, 1), (1, 1, 1), 4, true, true),
            new("layer2.0.conv1", 4, 56, 56, 64, 128, (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, true, false),
            new("layer2.0.down", 4, 56, 56, 64, 128, (1, 1, 1), (2, 2, 2), (0, 0, 0), 1, false, false),
            new("layer2.conv", 2, 28, 28, 128, 128, (3, 3, 3), (1, 1, 1), (1, 1, 1), 3, true, true),
            new("layer3.0.conv1", 2, 28, 28, 128, 256, (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, true, false),
            new("layer3.0.down", 2, 28, 28, 128, 256, (1, 1, 1), (2, 2, 2), (0, 0, 0), 1, false, false),
            new("layer3.conv", 1, 14, 14, 256, 256, (3, 3, 3), (1, 1, 1), (1, 1, 1), 3, true, true),
            new("layer4.0.conv1", 1, 14, 14, 256, 512, (3, 3, 3), (2, 2, 2), (1, 1, 1), 1, true, false),
            new("layer4.0.down", 1, 14, 14, 256, 512, (1, 1, 1), (2, 2, 2), (0, 0, 0), 1, false, false),
            new("layer4.conv", 1, 7, 7, 512, 512, (3, 3, 3), (1, 1, 1), (1, 1, 1), 3, true, true),
        ];

        public Conv3dOp MakeOp(ulong seed)
        {
            var rng = new DeterministicRandom(seed);
            int fan = C * K.T * K.H * K.W;
            float bound = (float)Math.Sqrt(3.0 / fan);
            return new Conv3dOp(C, Co, K, S, P, rng.Uniform((long)Co * fan, -bound, bound),
                rng.Uniform(Co, -0.5f, 0.5f), Relu, Residual);
        }
    }

    /// <summary>One variant on one layer at one batch.</summary>
    internal sealed record BenchResult(ConvLayer Layer, int Batch, int[] InputShape, int[] OutputShape, string Variant,
        string Precision,
        bool Valid, double Nmse, double MaxAbsError, string? Problem, double MedianMs, double Tflops, long Flops,
        int Registers);
}
