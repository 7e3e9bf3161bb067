using Dfer.Devices.Cuda;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Runtime;
using Dfer.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Workbench;

/// <summary>Validates and times every fitting conv3d variant on one layer shape at one batch.</summary>
internal static class ConvBench
{
    private const int Guard = 256;
    private const float Sentinel = 1234.5f;
    private const ushort Sentinel16 = 0x7BAD;

    public static List<BenchResult> Run(CudaDevice cuda, ConvLayer layer, int batch, Options options)
    {
        var results = new List<BenchResult>();
        Conv3dOp op = layer.MakeOp(options.Seed + (ulong)layer.Name.GetHashCode(StringComparison.Ordinal));
        int[] xShape = [4 * batch, layer.T, layer.H, layer.W, layer.C];
        int[] yShape = op.ConvOutputShape(xShape);
        long xCount = Tensor.ElementCountOf(xShape), yCount = Tensor.ElementCountOf(yShape);
        long flops = op.Flops(layer.Residual ? [xShape, yShape] : [xShape]);
        float[] x = Fill(xCount, options.Seed * 3 + 1), res = layer.Residual ? Fill(yCount, options.Seed * 3 + 2) : [];
        long[] rows = SampleRows(yShape, options.Rows, options.Seed);
        var references = new Dictionary<string, double[]>();
        var accelerator = cuda.Ilgpu.Accelerator;
        var uploads = new Dictionary<string, MemoryBuffer>();
        try
        {
            MemoryBuffer Input(string kind, float[] data) => Upload(uploads, accelerator, kind, data);
            foreach (Conv3dCudaVariant v in Conv3dCuda.Variants)
            {
                if (!v.Kernel.Contains(options.Variants, StringComparison.Ordinal) || !v.Fits(layer.C)) continue;
                string rounding = v.Is16Bit ? v.Class : "fp32";
                if (!references.TryGetValue(rounding, out double[]? expected))
                    references[rounding] = expected = Reference(op, x, res, xShape, yShape, rows, rounding);
                using var conv = new Conv3dCuda(cuda, op, v.Precision, v);
                MemoryBuffer xb = Input(v.Reads16Bit ? $"x-{rounding}" : "x-fp32", x);
                MemoryBuffer? rb = layer.Residual ? Input(v.Is16Bit ? $"r-{rounding}" : "r-fp32", res) : null;
                int elem = v.Is16Bit ? 2 : 4;
                using MemoryBuffer yb = AllocateGuarded(accelerator, yCount, v.Is16Bit);
                IntPtr yPtr = yb.NativePtr + Guard * elem, rPtr = rb?.NativePtr ?? IntPtr.Zero;
                // Split-K where the model would split (small batches): its partial sums need scratch.
                long partialBytes = conv.PartialBytes(yShape, layer.C);
                using MemoryBuffer? pb = partialBytes > 0 ? accelerator.Allocate1D<byte>(partialBytes) : null;
                IntPtr pPtr = pb?.NativePtr ?? IntPtr.Zero;
                void Launch() => conv.RunRaw(xb.NativePtr, rPtr, yPtr, xShape, yShape, default, pPtr);

                string? problem = null;
                double nmse = double.NaN, maxErr = double.NaN, median = double.NaN;
                try
                {
                    Launch();
                    cuda.Synchronize();
                    (nmse, maxErr, problem) = Check(yb, v, yShape, rows, expected);
                    if (problem is null)
                    {
                        for (int i = 0; i < options.Warmup; i++) Launch();
                        var times = new double[options.Repeats];
                        using CudaTimer timer = cuda.CreateTimer();
                        for (int i = 0; i < times.Length; i++)
                        {
                            cuda.FlushL2();
                            timer.Start();
                            Launch();
                            times[i] = timer.Stop();
                        }
                        Array.Sort(times);
                        median = times[times.Length / 2];
                    }
                }
                catch (DferException ex)
                {
                    problem = ex.Message;
                }
                double tflops = problem is null ? flops / (median * 1e-3) / 1e12 : double.NaN;
                var r = new BenchResult(layer, batch, xShape, yShape, v.Kernel, v.Class, problem is null, nmse, maxErr,
                    problem, median, tflops, flops,
                    cuda.Kernel("conv3d", v.Kernel).Registers);
                results.Add(r);
                Console.Error.WriteLine($"  {layer.Name} b{batch} {v.Kernel}: "
                    + (problem is null
                        ? $"{median:F3} ms, {tflops:F1} TFLOP/s, nmse {nmse:E1}"
                        : "INVALID: " + problem));
            }
        }
        finally
        {
            foreach (var b in uploads.Values) b.Dispose();
        }
        return results;
    }

    /// <summary>Uniform values in [−1, 1) from a counter hash, filled in parallel (inputs reach 400 M elements at
    /// batch 128).</summary>
    private static float[] Fill(long count, ulong seed)
    {
        var a = new float[count];
        const int Chunk = 1 << 20;
        Parallel.For(0, (int)((count + Chunk - 1) / Chunk), c =>
        {
            long end = Math.Min(count, (long)(c + 1) * Chunk);
            for (long i = (long)c * Chunk; i < end; i++)
            {
                ulong z = (ulong)i * 0x9E3779B97F4A7C15UL + seed * 0xD1B54A32D192ED03UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                a[i] = (float)((z >> 40) * (2.0 / (1UL << 24)) - 1.0);
            }
        });
        return a;
    }

    /// <summary>The output rows checked: the first, the last, and random ones in between.</summary>
    private static long[] SampleRows(int[] y, int count, ulong seed)
    {
        long m = (long)y[0] * y[1] * y[2] * y[3];
        var rng = new DeterministicRandom(seed + 99);
        var rows = new SortedSet<long> { 0, m - 1 };
        while (rows.Count < Math.Min(count, m)) rows.Add((long)(rng.NextDouble() * m));
        return rows.ToArray();
    }

    private static float RoundTo(string rounding, float v) => rounding switch
    {
        "bf16" => HalfBits.FromBf16(HalfBits.ToBf16(v)),
        "fp16" => HalfBits.FromF16(HalfBits.ToF16(v)),
        _ => v,
    };

    /// <summary>
    /// float64 outputs of the sampled rows (row-major, all channels) computed on the operands the
    /// variant sees: rounded to its 16-bit type for 16-bit variants, as given otherwise.
    /// </summary>
    private static double[] Reference(Conv3dOp op, float[] x, float[] res, int[] xs, int[] ys, long[] rows,
        string rounding)
    {
        var (kt, kh, kw) = op.Kernel;
        int c = op.Cin, co = op.Cout, taps = kt * kh * kw;
        float[] w = op.Weight.Select(v => RoundTo(rounding, v)).ToArray();
        var outv = new double[rows.Length * co];
        Parallel.For(0, rows.Length, r =>
        {
            long m = rows[r];
            int wo = (int)(m % ys[3]), ho = (int)(m / ys[3] % ys[2]), to = (int)(m / ys[3] / ys[2] % ys[1]),
                n = (int)(m / ys[3] / ys[2] / ys[1]);
            var patch = new double[taps * c];
            for (int a = 0; a < kt; a++)
                for (int b = 0; b < kh; b++)
                    for (int d = 0; d < kw; d++)
                    {
                        int it = to * op.Stride.T - op.Pad.T + a, ih = ho * op.Stride.H - op.Pad.H + b,
                            iw = wo * op.Stride.W - op.Pad.W + d;
                        if (it < 0 || it >= xs[1] || ih < 0 || ih >= xs[2] || iw < 0 || iw >= xs[3]) continue;
                        long xi = ((((long)n * xs[1] + it) * xs[2] + ih) * xs[3] + iw) * c;
                        for (int i = 0; i < c; i++)
                            patch[((a * kh + b) * kw + d) * c + i] = RoundTo(rounding, x[xi + i]);
                    }
            for (int o = 0; o < co; o++)
            {
                double s = op.Bias[o];
                for (int i = 0; i < c; i++)
                    for (int tap = 0; tap < taps; tap++)
                        s += patch[tap * c + i] * w[((long)o * c + i) * taps + tap];
                if (op.Residual) s += RoundTo(rounding, res[m * co + o]);
                if (op.Relu && s < 0) s = 0;
                outv[r * co + o] = s;
            }
        });
        return outv;
    }

    private static MemoryBuffer Upload(Dictionary<string, MemoryBuffer> cache, Accelerator accelerator, string kind,
        float[] data)
    {
        if (cache.TryGetValue(kind, out var b)) return b;
        if (kind.EndsWith("fp32", StringComparison.Ordinal))
        {
            var f = accelerator.Allocate1D<float>(Math.Max(1, data.Length));
            f.View.SubView(0, data.Length).CopyFromCPU(data);
            b = f;
        }
        else
        {
            bool bf16 = kind.EndsWith("bf16", StringComparison.Ordinal);
            var h = new ushort[data.Length];
            Parallel.For(0, (data.Length + 65535) / 65536, c =>
            {
                int end = Math.Min(data.Length, (c + 1) * 65536);
                for (int i = c * 65536; i < end; i++) h[i] = bf16 ? HalfBits.ToBf16(data[i]) : HalfBits.ToF16(data[i]);
            });
            var u = accelerator.Allocate1D<ushort>(Math.Max(1, h.Length));
            u.View.SubView(0, h.Length).CopyFromCPU(h);
            b = u;
        }
        cache[kind] = b;
        return b;
    }

    /// <summary>An output buffer with <see cref="Guard"/> sentinel elements on each side (the output itself left as it
    /// is).</summary>
    private static MemoryBuffer AllocateGuarded(Accelerator accelerator, long count, bool half)
    {
        if (half)
        {
            var u = accelerator.Allocate1D<ushort>(count + 2 * Guard);
            var g = Enumerable.Repeat(Sentinel16, Guard).ToArray();
            u.View.SubView(0, Guard).CopyFromCPU(g);
            u.View.SubView(Guard + count, Guard).CopyFromCPU(g);
            return u;
        }
        var f = accelerator.Allocate1D<float>(count + 2 * Guard);
        var gf = Enumerable.Repeat(Sentinel, Guard).ToArray();
        f.View.SubView(0, Guard).CopyFromCPU(gf);
        f.View.SubView(Guard + count, Guard).CopyFromCPU(gf);
        return f;
    }

    /// <summary>Compares the sampled rows with the reference and checks the guard bands; a problem is null when it
    /// passes.</summary>
    private static (double Nmse, double MaxErr, string? Problem) Check(MemoryBuffer y, Conv3dCudaVariant v, int[] ys,
        long[] rows, double[] expected)
    {
        int co = ys[4];
        long count = Tensor.ElementCountOf(ys);
        var actual = new float[rows.Length * co];
        int guardWrites = 0;
        if (v.Is16Bit)
        {
            var view = ((MemoryBuffer1D<ushort, Stride1D.Dense>)y).View;
            var row = new ushort[co];
            for (int r = 0; r < rows.Length; r++)
            {
                view.SubView(Guard + rows[r] * co, co).CopyToCPU(row);
                for (int o = 0; o < co; o++)
                    actual[r * co + o] = v.IsBf16 ? HalfBits.FromBf16(row[o]) : HalfBits.FromF16(row[o]);
            }
            var g = new ushort[Guard];
            foreach (long start in new[] { 0, Guard + count })
            {
                view.SubView(start, Guard).CopyToCPU(g);
                guardWrites += g.Count(e => e != Sentinel16);
            }
        }
        else
        {
            var view = ((MemoryBuffer1D<float, Stride1D.Dense>)y).View;
            var row = new float[co];
            for (int r = 0; r < rows.Length; r++)
            {
                view.SubView(Guard + rows[r] * co, co).CopyToCPU(row);
                row.CopyTo(actual, r * co);
            }
            var g = new float[Guard];
            foreach (long start in new[] { 0, Guard + count })
            {
                view.SubView(start, Guard).CopyToCPU(g);
                guardWrites += g.Count(
                    e => BitConverter.SingleToInt32Bits(e) != BitConverter.SingleToInt32Bits(Sentinel));
            }
        }
        Tolerance tol = v.Class == "3xtf32" ? Tolerance.Fp32 : Tolerance.For(v.Precision);
        Comparison cmp = Numerics.Compare(actual, expected, tol.Nmse, tol.Atol, tol.Rtol);
        string? problem =
            guardWrites > 0 ? $"{guardWrites} writes outside the output" : cmp.Passed ? null : cmp.ToString();
        return (cmp.Nmse, cmp.MaxAbsError, problem);
    }
}
