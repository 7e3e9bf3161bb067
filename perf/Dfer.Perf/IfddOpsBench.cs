using System.Diagnostics;
using Dfer.Devices.Cpu;
using Dfer.Ops.Conv2d;
using Dfer.Ops.DepthwiseConv3d;
using Dfer.Reference;
using Dfer.Tensors;
using Dfer.TorchSupport;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using Tensor = Dfer.Tensors.Tensor;

namespace Dfer.Perf;

/// <summary>
/// CPU workbench for IFDD's dwconv3d (attention pooling) and dilated conv2d shapes: Dfer's kernel
/// against libtorch fp32 in its own NCTHW / NCHW layout, same threads, interleaved, median of a few runs.
/// </summary>
internal static class IfddOpsBench
{
    public static void Run(int batch, int threads, int repeats)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.SetThreads(threads);
        using var ctx = new CpuContext(threads);
        var rng = new DeterministicRandom(5);
        Console.WriteLine($"IFDD dwconv3d / conv2d on the CPU, batch {batch}, {threads} threads, median of {repeats}");
        Console.WriteLine($"{"shape",-34} {"dfer ms",8} {"GFLOP/s",8} {"torch ms",9} {"GFLOP/s",8}");
        // (name, heads, input side, spatial stride): docs/models/ifdd.md §6 item 6.
        var pools = new (string Name, int Heads, int Side, int Stride)[]
        {
            ("blk0 q 56 s1", 1, 56, 1), ("blk0 kv 56 s8", 1, 56, 8), ("blk1 q 56 s2", 2, 56, 2),
                ("blk1 kv 56 s4", 2, 56, 4),
            ("blk2 q 28 s1", 2, 28, 1), ("blk2 kv 28 s4", 2, 28, 4), ("blk3 qkv 28 s2", 4, 28, 2),
                ("blk4 q 14 s1", 4, 14, 1),
            ("blk4 kv 14 s2", 4, 14, 2), ("blk8 q 14 s2", 8, 14, 2), ("blk9 qkv 7 s1", 8, 7, 1),
        };
        foreach (var p in pools)
        {
            var op = new DepthwiseConv3dOp(96, (3, 3, 3), (1, p.Stride, p.Stride), (1, 1, 1),
                rng.Uniform(96 * 27, -0.2f, 0.2f), null);
            var xs = new[] { batch * p.Heads, 8, p.Side, p.Side, 96 };
            var w = tensor(op.Weight, new long[] { 96, 1, 3, 3, 3 });
            Bench($"{p.Name} {Tensor.FormatShape(xs)}", op.Flops(new[] { xs }), xs, op.OutputShape(new[] { xs }),
                new DepthwiseConv3dCpu(op), ctx, rng, repeats,
                x => F.conv3d(x, w, null, new long[] { 1, p.Stride, p.Stride }, new long[] { 1, 1, 1 }, groups: 96),
                    new long[] { xs[0], 96, 8, p.Side, p.Side });
        }
        {
            var op = new Conv2dOp(384, 384, (3, 3), (2, 2), (2, 2), (2, 2), rng.Uniform(384L * 384 * 9, -0.02f, 0.02f),
                null);
            var xs = new[] { batch * 8, 14, 14, 384 };
            var w = tensor(op.Weight, new long[] { 384, 384, 3, 3 });
            Bench($"conv2d d2 s2 {Tensor.FormatShape(xs)}", op.Flops(new[] { xs }), xs, op.OutputShape(new[] { xs }),
                new Conv2dCpu(op), ctx, rng, repeats,
                x => F.conv2d(x, w, null, new long[] { 2, 2 }, new long[] { 2, 2 }, new long[] { 2, 2 }),
                    new long[] { xs[0], 384, 14, 14 });
        }
    }

    private static void Bench(string name, long flops, int[] xs, int[] ys, ICpuKernel kernel, CpuContext ctx,
        DeterministicRandom rng, int repeats,
        Func<torch.Tensor, torch.Tensor> torchOp, long[] torchShape)
    {
        var data = rng.Uniform(Tensor.ElementCountOf(xs), -1, 1);
        var x = Tensor.FromArray(data, xs);
        var y = Tensor.Zeros(ys);
        using var tx = tensor(data, torchShape);
        kernel.Run(ctx, new[] { x }, y);
        using (no_grad()) torchOp(tx).Dispose();
        var ours = new List<double>();
        var theirs = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            kernel.Run(ctx, new[] { x }, y);
            ours.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            t0 = Stopwatch.GetTimestamp();
            using (no_grad()) torchOp(tx).Dispose();
            theirs.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        (kernel as IDisposable)?.Dispose();
        double a = ours.Order().ElementAt(repeats / 2), b = theirs.Order().ElementAt(repeats / 2);
        Console.WriteLine($"{name,-34} {a,8:F2} {flops / a / 1e6,8:F1} {b,9:F2} {flops / b / 1e6,8:F1}");
    }
}
