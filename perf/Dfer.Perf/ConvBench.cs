using System.Diagnostics;
using Dfer.Devices.Cpu;
using Dfer.Ops.Conv3d;
using Dfer.Tensors;

namespace Dfer.Perf;

/// <summary>
/// CPU conv3d workbench: every distinct M3DFEL convolution shape at a given batch, each variant
/// that applies, median of a few runs — the numbers behind Conv3dCpuVariants' table.
/// </summary>
internal static class ConvBench
{
    public static void Run(int batch, int threads, int repeats)
    {
        int n = batch * 4;
        // (name, cin, cout, t, h, w, k, s, p, residual)
        var shapes = new (string Name, int Cin, int Cout, int T, int H, int W, (int, int, int) K, (int, int, int) S,
            (int, int, int) P, bool Res)[]
        {
            ("stem", 3, 64, 4, 112, 112, (3, 7, 7), (1, 2, 2), (1, 3, 3), false),
            ("layer1 conv", 64, 64, 4, 56, 56, (3, 3, 3), (1, 1, 1), (1, 1, 1), true),
            ("layer2 conv1/s2", 64, 128, 4, 56, 56, (3, 3, 3), (2, 2, 2), (1, 1, 1), false),
            ("layer2 conv", 128, 128, 2, 28, 28, (3, 3, 3), (1, 1, 1), (1, 1, 1), true),
            ("layer3 conv1/s2", 128, 256, 2, 28, 28, (3, 3, 3), (2, 2, 2), (1, 1, 1), false),
            ("layer3 conv", 256, 256, 1, 14, 14, (3, 3, 3), (1, 1, 1), (1, 1, 1), true),
            ("layer4 conv1/s2", 256, 512, 1, 14, 14, (3, 3, 3), (2, 2, 2), (1, 1, 1), false),
            ("layer4 conv", 512, 512, 1, 7, 7, (3, 3, 3), (1, 1, 1), (1, 1, 1), true),
        };
        using var ctx = new CpuContext(threads);
        var rng = new DeterministicRandom(3);
        Console.WriteLine($"conv3d on the CPU, batch {batch} ({n} instances), {threads} threads, median of {repeats}");
        Console.WriteLine(
            $"{"layer",-17} {"variant",-9} {"ms",8} {"GFLOP/s",8}  (GFLOP/s counts the direct method's FLOPs)");
        foreach (var c in shapes)
        {
            int fan = c.Cin * c.K.Item1 * c.K.Item2 * c.K.Item3;
            var op = new Conv3dOp(c.Cin, c.Cout, c.K, c.S, c.P, rng.Uniform((long)c.Cout * fan, -0.05f, 0.05f),
                rng.Uniform(c.Cout, -0.1f, 0.1f), true, c.Res);
            var xShape = new[] { n, c.T, c.H, c.W, c.Cin };
            var x = Tensor.ZerosWithHalo(xShape, new[] { 0, c.P.Item1, c.P.Item2, c.P.Item3, 0 });
            x.CopyFrom(rng.Uniform(Tensor.ElementCountOf(xShape), 0, 1));
            var yShape = op.ConvOutputShape(xShape);
            var y = Tensor.ZerosWithHalo(yShape, new[] { 0, 1, 1, 1, 0 });
            var inputs = c.Res ? new[] { x, Tensor.FromArray(rng.Uniform(Tensor.ElementCountOf(yShape), 0, 1), yShape) }
                : new[] { x };
            double gflop = op.Flops(inputs.Select(t => t.Shape).ToArray()) / 1e9;
            var variants = Conv3dWinogradCpu.Applies(op)
                ? new[] { CpuConv3dVariant.Direct, CpuConv3dVariant.Winograd }
                : new[] { CpuConv3dVariant.Direct };
            foreach (var v in variants)
            {
                ICpuKernel k = v == CpuConv3dVariant.Winograd ? new Conv3dWinogradCpu(op) : new Conv3dCpu(op);
                k.Run(ctx, inputs, y);
                var times = new List<double>();
                for (int r = 0; r < repeats; r++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    k.Run(ctx, inputs, y);
                    times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                (k as IDisposable)?.Dispose();
                double ms = times.Order().ElementAt(times.Count / 2);
                string chosen = Conv3dCpuVariants.Choose(op, xShape) == v ? "*" : "";
                Console.WriteLine($"{c.Name,-17} {v + chosen,-9} {ms,8:F1} {gflop / (ms / 1000),8:F1}");
            }
        }
        Console.WriteLine("* = the variant the table picks for this shape");
    }
}
