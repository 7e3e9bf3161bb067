using System.Runtime.InteropServices;
using Dfer.Reference;
using Dfer.TorchSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.Tests.Torch;

/// <summary>TorchSharp loads (with the Debian 12 libstdc++ workaround where needed) and computes.</summary>
[TestFixture]
public sealed class TorchRuntimeTests
{
    private const string ShimName = "libLibTorchSharp.so";

    [OneTimeSetUp]
    public void LoadTorch() => TorchRuntime.EnsureLoaded();

    [Test]
    public void EnsureLoaded_IsIdempotentAcrossThreads()
    {
        Parallel.For(0, 16, _ => TorchRuntime.EnsureLoaded());
        TestContext.Out.WriteLine(TorchRuntime.Report);
        Assert.That(TorchRuntime.Report, Is.Not.Empty);
    }

    [Test]
    public void SetThreads_ChangesLibtorchThreadCount()
    {
        int before = get_num_threads();
        try
        {
            TorchRuntime.SetThreads(1);
            Assert.That(get_num_threads(), Is.EqualTo(1));
        }
        finally
        {
            TorchRuntime.SetThreads(before);
        }
        Assert.That(() => TorchRuntime.SetThreads(0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Conv3d_MatchesHandComputedConvolution()
    {
        // Odd sizes, unequal strides and paddings, two channels in and out: every index mapping matters.
        const int cin = 2, cout = 2, t = 3, h = 4, w = 5, kt = 2, kh = 3, kw = 3;
        long[] stride = [1, 2, 1], padding = [1, 1, 0];
        var x = Enumerable.Range(0, cin * t * h * w).Select(i => Math.Sin(0.37 * i) + 0.1 * (i % 7)).ToArray();
        var k = Enumerable.Range(0, cout * cin * kt * kh * kw).Select(i => Math.Cos(0.23 * i) - 0.05 * (i % 5))
            .ToArray();
        double[] bias = [0.25, -0.5];

        int ot = (t + 2 * (int)padding[0] - kt) / (int)stride[0] + 1;
        int oh = (h + 2 * (int)padding[1] - kh) / (int)stride[1] + 1;
        int ow = (w + 2 * (int)padding[2] - kw) / (int)stride[2] + 1;
        var expected = new double[cout * ot * oh * ow];
        for (int o = 0; o < cout; o++)
            for (int z = 0; z < ot; z++)
                for (int y = 0; y < oh; y++)
                    for (int q = 0; q < ow; q++)
                    {
                        double sum = bias[o];
                        for (int c = 0; c < cin; c++)
                            for (int dz = 0; dz < kt; dz++)
                                for (int dy = 0; dy < kh; dy++)
                                    for (int dq = 0; dq < kw; dq++)
                                    {
                                        int iz = z * (int)stride[0] - (int)padding[0] + dz;
                                        int iy = y * (int)stride[1] - (int)padding[1] + dy;
                                        int iq = q * (int)stride[2] - (int)padding[2] + dq;
                                        if (iz < 0 || iz >= t || iy < 0 || iy >= h || iq < 0 || iq >= w)
                                            continue;
                                        sum += x[((c * t + iz) * h + iy) * w + iq]
                                            * k[(((o * cin + c) * kt + dz) * kh + dy) * kw + dq];
                                    }
                        expected[((o * ot + z) * oh + y) * ow + q] = sum;
                    }

        using var scope = NewDisposeScope();
        var result = F.conv3d(
            tensor(x, [1, cin, t, h, w]),
            tensor(k, [cout, cin, kt, kh, kw]),
            tensor(bias, [cout]),
            stride,
            padding);

        Assert.That(result.shape, Is.EqualTo(new long[] { 1, cout, ot, oh, ow }));
        Assert.That(result.data<double>().ToArray(), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void Shim_RequirementIsWeakWhereLibStdCxxIsOld()
    {
        var copies = ShimCopies();
        Assume.That(copies, Is.Not.Empty, "no libLibTorchSharp.so in the output folder (not linux-x64?)");
        Assume.That(TorchRuntime.LibStdCxxFixApplied, Is.True, "libstdc++ is new enough; nothing was patched");

        foreach (string copy in copies)
        {
            var need = ElfVersionNeeds.Read(File.ReadAllBytes(copy))
                .Single(n => n.File == "libstdc++.so.6" && n.Version == "GLIBCXX_3.4.32");
            Assert.That(need.IsWeak, Is.True, copy);
            Assert.That(ElfVersionNeeds.MarkWeak(copy, "libstdc++.so.6", "GLIBCXX_3.4.32"),
                Is.EqualTo(MarkWeakResult.AlreadyWeak));
        }
        Assert.That(File.Exists(Path.Combine(TorchRuntime.FixDirectory, "libdfer_ios_base_library_init.so")), Is.True);
    }

    [Test]
    public void MarkWeak_ChangesOnlyTheFlagsOfTheNamedRequirement()
    {
        var copies = ShimCopies();
        Assume.That(copies, Is.Not.Empty, "no libLibTorchSharp.so in the output folder (not linux-x64?)");
        string folder = Directory.CreateTempSubdirectory("dfer-elf-").FullName;
        string temp = Path.Combine(folder, ShimName);
        try
        {
            // Rebuild the unpatched state from whatever the output folder holds.
            byte[] original = File.ReadAllBytes(copies[0]);
            var before = ElfVersionNeeds.Read(original);
            var target = before.Single(n => n.File == "libstdc++.so.6" && n.Version == "GLIBCXX_3.4.32");
            original[target.FlagsOffset] &= unchecked((byte)~ElfVersionNeed.WeakFlag);
            File.WriteAllBytes(temp, original);
            var modified = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(temp, modified);
            ulong inode = Inode.Of(temp);

            Assert.That(ElfVersionNeeds.MarkWeak(temp, "libstdc++.so.6", "GLIBCXX_3.4.32"),
                Is.EqualTo(MarkWeakResult.Patched));
            Assert.That(File.GetLastWriteTimeUtc(temp), Is.EqualTo(modified),
                "modification time must survive the patch");
            // A new inode shows the file was replaced by a rename rather than written in place.
            ulong replaced = Inode.Of(temp);
            Assert.That(replaced, Is.Not.EqualTo(inode));
            byte[] patched = File.ReadAllBytes(temp);
            var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
            Assert.That(changed, Is.EqualTo(new[] { (int)target.FlagsOffset }));
            Assert.That(patched[target.FlagsOffset],
                Is.EqualTo(original[target.FlagsOffset] | ElfVersionNeed.WeakFlag));

            var after = ElfVersionNeeds.Read(patched);
            Assert.That(after.Select(n => (n.File, n.Version)), Is.EqualTo(before.Select(n => (n.File, n.Version))));
            Assert.That(after.Count(n => n.IsWeak), Is.EqualTo(1));
            Assert.That(before.Select(n => n.File).Distinct(), Is.SupersetOf(new[] { "libc.so.6", "libstdc++.so.6" }));
            Assert.That(before.Select(n => n.Version),
                Has.Some.StartsWith("GLIBC_2.").And.Some.StartsWith("CXXABI_1.3"));

            Assert.That(ElfVersionNeeds.MarkWeak(temp, "libstdc++.so.6", "GLIBCXX_3.4.32"),
                Is.EqualTo(MarkWeakResult.AlreadyWeak));
            Assert.That(ElfVersionNeeds.MarkWeak(temp, "libstdc++.so.6", "GLIBCXX_9.9.9"),
                Is.EqualTo(MarkWeakResult.NotReferenced));
            Assert.That(Inode.Of(temp), Is.EqualTo(replaced), "an already patched file must not be rewritten");
            Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { temp }), "temporary file left behind");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Read_RejectsNonElfData()
    {
        Assert.That(() => ElfVersionNeeds.Read(new byte[128]), Throws.InstanceOf<InvalidDataException>());
    }

    private static List<string> ShimCopies() =>
        [.. Directory.EnumerateFiles(AppContext.BaseDirectory, ShimName, SearchOption.AllDirectories)];
}

/// <summary>Reads a file's inode number (linux-x64 glibc only), which .NET does not expose.</summary>
internal static unsafe partial class Inode
{
    public static ulong Of(string path)
    {
        // struct stat on x86-64: st_dev (8 bytes), then st_ino (8 bytes); the whole struct is 144 bytes.
        byte* buffer = stackalloc byte[256];
        if (Stat(path, buffer) != 0)
            throw new IOException($"stat({path}) failed with errno {Marshal.GetLastPInvokeError()}.");
        return *(ulong*)(buffer + 8);
    }

    [LibraryImport("libc.so.6", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Stat(string path, byte* buffer);
}

/// <summary>The TorchSharp port of M3DFEL runs, is batch-consistent and precision-stable.</summary>
[TestFixture]
public sealed class TorchM3dfelTests
{
    private const int ClipLength = TorchM3dfel.Frames * TorchM3dfel.Channels * TorchM3dfel.Size * TorchM3dfel.Size;

    private Dictionary<string, (float[] Data, long[] Shape)> _weights = null!;
    private Lazy<TorchM3dfel> _model64 = null!;
    private Lazy<Results> _results = null!;

    private sealed record Results(double[] Single64, double[] Pair64, double[] Single32, double[] Pair32);

    [OneTimeSetUp]
    public void LoadTorch()
    {
        TorchRuntime.EnsureLoaded();
        _weights = M3dfelShapes.RandomStateDict(seed: 1234);
        _model64 = new Lazy<TorchM3dfel>(() => new TorchM3dfel(_weights, ScalarType.Float64));
        _results = new Lazy<Results>(Run);
    }

    [OneTimeTearDown]
    public void DisposeModel()
    {
        if (_model64.IsValueCreated)
            _model64.Value.Dispose();
    }

    private Results Run()
    {
        var pair = SyntheticClips(2, seed: 99);
        var first = pair[..ClipLength];
        var model64 = _model64.Value;
        using var model32 = new TorchM3dfel(_weights, ScalarType.Float32);
        return new Results(
            model64.Forward(first, 1),
            model64.Forward(pair, 2),
            model32.Forward(first, 1),
            model32.Forward(pair, 2));
    }

    /// <summary>Drifting coloured gratings plus a little noise: unlike i.i.d. noise, which global
    /// pooling averages away, they give each clip clearly different features.</summary>
    private static float[] SyntheticClips(int count, int seed)
    {
        const int size = TorchM3dfel.Size;
        var rng = TestSeed.Random(seed);
        var clips = new float[count * ClipLength];
        for (int b = 0; b < count; b++)
        {
            double fx = 0.05 + 0.3 * rng.NextDouble(), fy = 0.05 + 0.3 * rng.NextDouble(), ft = 0.2 + rng.NextDouble();
            double phase = 6 * rng.NextDouble(), amplitude = 0.2 + 0.2 * rng.NextDouble(),
                brightness = 0.3 + 0.4 * rng.NextDouble();
            int i = b * ClipLength;
            for (int f = 0; f < TorchM3dfel.Frames; f++)
                for (int c = 0; c < TorchM3dfel.Channels; c++)
                    for (int y = 0; y < size; y++)
                        for (int x = 0; x < size; x++)
                        {
                            double value = brightness + amplitude * Math.Sin(fx * x + fy * y + ft * f + phase + 2 * c)
                                + 0.1 * (rng.NextDouble() - 0.5);
                            clips[i++] = (float)Math.Clamp(value, 0, 1);
                        }
        }
        return clips;
    }

    [Test]
    public void Forward_ReturnsFiniteLogitsOfShapeBx7()
    {
        var r = _results.Value;
        TestContext.Out.WriteLine($"f64 B=2: {string.Join(", ", r.Pair64.Select(v => v.ToString("G6")))}");
        Assert.Multiple(() =>
        {
            Assert.That(r.Single64, Has.Length.EqualTo(7));
            Assert.That(r.Single32, Has.Length.EqualTo(7));
            Assert.That(r.Pair64, Has.Length.EqualTo(14));
            Assert.That(r.Pair32, Has.Length.EqualTo(14));
            Assert.That(r.Pair64.Concat(r.Pair32).Concat(r.Single64).Concat(r.Single32),
                Has.All.Matches<double>(double.IsFinite));
            // Random weights must still give distinct clips distinct, non-degenerate logits.
            double clipGap = r.Pair64[..7].Zip(r.Pair64[7..], (a, b) => Math.Abs(a - b)).Max();
            Assert.That(clipGap, Is.GreaterThan(1e-2), "the two clips' logits barely differ");
            Assert.That(r.Pair64.Max() - r.Pair64.Min(), Is.GreaterThan(1e-2));
        });
    }

    [Test]
    public void Forward_Float32AgreesWithFloat64()
    {
        var r = _results.Value;
        double worst = r.Pair64.Zip(r.Pair32, (a, b) => Math.Abs(a - b)).Max();
        TestContext.Out.WriteLine($"max |f32 - f64| = {worst:E3}");
        Assert.That(r.Pair32, Is.EqualTo(r.Pair64).Within(1e-3));
        Assert.That(r.Single32, Is.EqualTo(r.Single64).Within(1e-3));
    }

    [Test]
    public void Forward_BatchOfTwoMatchesBatchOfOneForTheSameClip()
    {
        var r = _results.Value;
        TestContext.Out.WriteLine(
            $"max |B2 - B1|: f64 {r.Pair64[..7].Zip(r.Single64, (a, b) => Math.Abs(a - b)).Max():E3}, " +
            $"f32 {r.Pair32[..7].Zip(r.Single32, (a, b) => Math.Abs(a - b)).Max():E3}");
        Assert.That(r.Pair64[..7], Is.EqualTo(r.Single64).Within(1e-10));
        Assert.That(r.Pair32[..7], Is.EqualTo(r.Single32).Within(1e-5));
    }

    [Test]
    public void Lstm_MatchesTorchNnLstm()
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        manual_seed((long)(TestSeed.Use(5) & long.MaxValue));
        var sequence = randn([3, 4, 512], ScalarType.Float64);

        using var reference =
            nn.LSTM(512, 512, numLayers: 2, batchFirst: true, bidirectional: true, dtype: ScalarType.Float64);
        int loaded = 0;
        foreach (var (name, parameter) in reference.named_parameters())
        {
            var (data, shape) = _weights[$"lstm.{name}"];
            parameter.copy_(tensor(data, shape).to_type(ScalarType.Float64));
            loaded++;
        }
        Assert.That(loaded, Is.EqualTo(16));

        var expected = reference.call(sequence).Item1;
        var actual = _model64.Value.Lstm(sequence);
        Assert.That(actual.shape, Is.EqualTo(new long[] { 3, 4, 1024 }));
        Assert.That((actual - expected).abs().max().ToDouble(), Is.LessThan(1e-12));
    }

    [Test]
    public void AttentionAndDmin_MatchTheSpecFormulas()
    {
        const int batch = 2, n = 4, c = 1024, heads = 8, dim = 128;
        var rng = TestSeed.Random(17);
        var ori = Enumerable.Range(0, batch * n * c).Select(_ => rng.NextDouble() * 2 - 1).ToArray();

        // Attention: qkv = ori Wᵀ, split q|k|v, heads of 128 consecutive channels, softmax(q kᵀ / √128) v.
        var w = _weights["to_qkv.weight"].Data;
        var y = new double[batch * n * c];
        for (int b = 0; b < batch; b++)
        {
            var qkv = new double[n, 3 * c];
            for (int i = 0; i < n; i++)
                for (int o = 0; o < 3 * c; o++)
                {
                    double sum = 0;
                    for (int k = 0; k < c; k++)
                        sum += ori[(b * n + i) * c + k] * w[o * c + k];
                    qkv[i, o] = sum;
                }
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < n; i++)
                {
                    var scores = new double[n];
                    for (int j = 0; j < n; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < dim; d++)
                            dot += qkv[i, h * dim + d] * qkv[j, c + h * dim + d];
                        scores[j] = dot / Math.Sqrt(dim);
                    }
                    double max = scores.Max();
                    var e = scores.Select(v => Math.Exp(v - max)).ToArray();
                    double total = e.Sum();
                    for (int d = 0; d < dim; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < n; j++)
                            acc += e[j] / total * qkv[j, 2 * c + h * dim + d];
                        y[(b * n + i) * c + h * dim + d] = acc;
                    }
                }
        }

        // DMIN, literally as the spec writes it.
        double[] Softmax2(float[] v)
        {
            double m = Math.Max(v[0], v[1]), e0 = Math.Exp(v[0] - m), e1 = Math.Exp(v[1] - m);
            return [e0 / (e0 + e1), e1 / (e0 + e1)];
        }
        var wm = Softmax2(_weights["norm.mean_weight"].Data);
        var wv = Softmax2(_weights["norm.var_weight"].Data);
        var gamma = _weights["norm.weight"].Data;
        var beta = _weights["norm.bias"].Data;
        var z = new double[batch * n * c];
        for (int b = 0; b < batch; b++)
        {
            var meanIn = new double[c];
            var varIn = new double[c];
            for (int ch = 0; ch < c; ch++)
            {
                double mean = 0;
                for (int i = 0; i < n; i++)
                    mean += y[(b * n + i) * c + ch];
                mean /= n;
                double squares = 0;
                for (int i = 0; i < n; i++)
                    squares += Math.Pow(y[(b * n + i) * c + ch] - mean, 2);
                meanIn[ch] = mean;
                varIn[ch] = squares / (n - 1);
            }
            double meanLn = meanIn.Average();
            double varLn = Enumerable.Range(0, c).Average(ch => varIn[ch] + meanIn[ch] * meanIn[ch]) - meanLn * meanLn;
            for (int i = 0; i < n; i++)
                for (int ch = 0; ch < c; ch++)
                {
                    double mean = wm[0] * meanIn[ch] + wm[1] * meanLn;
                    double variance = wv[0] * varIn[ch] + wv[1] * varLn;
                    int at = (b * n + i) * c + ch;
                    z[at] = (y[at] - mean) / Math.Sqrt(variance + 1e-5) * gamma[ch] + beta[ch];
                }
        }

        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var model = _model64.Value;
        var attention = model.Attention(tensor(ori, [batch, n, c]));
        var normalised = model.Dmin(attention);
        Assert.That(attention.data<double>().ToArray(), Is.EqualTo(y).Within(1e-12));
        Assert.That(normalised.data<double>().ToArray(), Is.EqualTo(z).Within(1e-10));
    }

    [Test]
    public void Constructor_RejectsBadStateDicts()
    {
        var weights = _weights;

        var prefixed = weights.ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        Assert.That(() => new TorchM3dfel(prefixed, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains("module."));

        var missing = new Dictionary<string, (float[] Data, long[] Shape)>(weights);
        missing.Remove("fc.bias");
        Assert.That(() => new TorchM3dfel(missing, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains("fc.bias"));

        var extra = new Dictionary<string, (float[] Data, long[] Shape)>(weights) { ["head.weight"] = ([1f], [1]) };
        Assert.That(() => new TorchM3dfel(extra, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains("head.weight"));

        var reshaped = new Dictionary<string,
            (float[] Data, long[] Shape)>(weights)
        { ["fc.weight"] = (weights["fc.weight"].Data, [1024, 7]) };
        Assert.That(() => new TorchM3dfel(reshaped, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains("fc.weight"));

        Assert.That(() => new TorchM3dfel(weights, ScalarType.Float16),
            Throws.ArgumentException);
    }

    [Test]
    public void Forward_RejectsWrongInputLength()
    {
        var model = _model64.Value;
        Assert.That(() => model.Forward(new float[ClipLength], 2), Throws.ArgumentException);
        Assert.That(() => model.Forward(new float[ClipLength], 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}

/// <summary>The M3DFEL state dict's keys and shapes, derived from the architecture.</summary>
[TestFixture]
public sealed class M3dfelShapesTests
{
    [OneTimeSetUp]
    public void LoadTorch() => TorchRuntime.EnsureLoaded();

    [Test]
    public void Enumeration_MatchesTheOfficialStateDict()
    {
        var expected = M3dfelShapes.OfficialListing
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .ToList();
        var actual = M3dfelShapes.All.Select(e => $"{e.Name} [{string.Join(',', e.Shape)}]").ToList();

        Assert.That(expected, Has.Count.EqualTo(145));
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void ParameterCount_MatchesTheSpec()
    {
        long Count(Func<string, bool> pick) => M3dfelShapes.All
            .Where(e => pick(e.Name) && !e.Name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            .Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        // The spec rounds to 0.1 M; BN running statistics (9.6 k values) do not move that.
        Assert.That(Count(_ => true) / 1e6, Is.EqualTo(46.8).Within(0.05));
        Assert.That(Count(n => n.StartsWith("features.", StringComparison.Ordinal)) / 1e6,
            Is.EqualTo(33.2).Within(0.05));
        Assert.That(Count(n => n.StartsWith("lstm.", StringComparison.Ordinal)) / 1e6, Is.EqualTo(10.5).Within(0.05));
        Assert.That(Count(n => n.StartsWith("to_qkv.", StringComparison.Ordinal)) / 1e6, Is.EqualTo(3.1).Within(0.05));
    }
}

/// <summary>M3DFEL's state dict as the engine defines it, checked here against the official listing.</summary>
internal static class M3dfelShapes
{
    /// <summary>Every key with its shape, in <c>model.state_dict()</c> order, as the engine expects them.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> All { get; } = new Dfer.Models.M3dfel().StateDictKeys;

    /// <summary>The engine's reproducible generated weights, in the form TorchM3dfel takes.</summary>
    public static Dictionary<string, (float[] Data, long[] Shape)> RandomStateDict(int seed)
    {
        var sd = new Dfer.Models.M3dfel().GenerateWeights((ulong)seed);
        return sd.Names.ToDictionary(n => n, n => (sd[n].Data, sd[n].Shape), StringComparer.Ordinal);
    }

    /// <summary>The official model's <c>state_dict()</c> keys and shapes, one per line.</summary>
    public const string OfficialListing =
        """
        features.0.0.weight [64,3,3,7,7]
        features.0.1.weight [64]
        features.0.1.bias [64]
        features.0.1.running_mean [64]
        features.0.1.running_var [64]
        features.0.1.num_batches_tracked []
        features.1.0.conv1.0.weight [64,64,3,3,3]
        features.1.0.conv1.1.weight [64]
        features.1.0.conv1.1.bias [64]
        features.1.0.conv1.1.running_mean [64]
        features.1.0.conv1.1.running_var [64]
        features.1.0.conv1.1.num_batches_tracked []
        features.1.0.conv2.0.weight [64,64,3,3,3]
        features.1.0.conv2.1.weight [64]
        features.1.0.conv2.1.bias [64]
        features.1.0.conv2.1.running_mean [64]
        features.1.0.conv2.1.running_var [64]
        features.1.0.conv2.1.num_batches_tracked []
        features.1.1.conv1.0.weight [64,64,3,3,3]
        features.1.1.conv1.1.weight [64]
        features.1.1.conv1.1.bias [64]
        features.1.1.conv1.1.running_mean [64]
        features.1.1.conv1.1.running_var [64]
        features.1.1.conv1.1.num_batches_tracked []
        features.1.1.conv2.0.weight [64,64,3,3,3]
        features.1.1.conv2.1.weight [64]
        features.1.1.conv2.1.bias [64]
        features.1.1.conv2.1.running_mean [64]
        features.1.1.conv2.1.running_var [64]
        features.1.1.conv2.1.num_batches_tracked []
        features.2.0.conv1.0.weight [128,64,3,3,3]
        features.2.0.conv1.1.weight [128]
        features.2.0.conv1.1.bias [128]
        features.2.0.conv1.1.running_mean [128]
        features.2.0.conv1.1.running_var [128]
        features.2.0.conv1.1.num_batches_tracked []
        features.2.0.conv2.0.weight [128,128,3,3,3]
        features.2.0.conv2.1.weight [128]
        features.2.0.conv2.1.bias [128]
        features.2.0.conv2.1.running_mean [128]
        features.2.0.conv2.1.running_var [128]
        features.2.0.conv2.1.num_batches_tracked []
        features.2.0.downsample.0.weight [128,64,1,1,1]
        features.2.0.downsample.1.weight [128]
        features.2.0.downsample.1.bias [128]
        features.2.0.downsample.1.running_mean [128]
        features.2.0.downsample.1.running_var [128]
        features.2.0.downsample.1.num_batches_tracked []
        features.2.1.conv1.0.weight [128,128,3,3,3]
        features.2.1.conv1.1.weight [128]
        features.2.1.conv1.1.bias [128]
        features.2.1.conv1.1.running_mean [128]
        features.2.1.conv1.1.running_var [128]
        features.2.1.conv1.1.num_batches_tracked []
        features.2.1.conv2.0.weight [128,128,3,3,3]
        features.2.1.conv2.1.weight [128]
        features.2.1.conv2.1.bias [128]
        features.2.1.conv2.1.running_mean [128]
        features.2.1.conv2.1.running_var [128]
        features.2.1.conv2.1.num_batches_tracked []
        features.3.0.conv1.0.weight [256,128,3,3,3]
        features.3.0.conv1.1.weight [256]
        features.3.0.conv1.1.bias [256]
        features.3.0.conv1.1.running_mean [256]
        features.3.0.conv1.1.running_var [256]
        features.3.0.conv1.1.num_batches_tracked []
        features.3.0.conv2.0.weight [256,256,3,3,3]
        features.3.0.conv2.1.weight [256]
        features.3.0.conv2.1.bias [256]
        features.3.0.conv2.1.running_mean [256]
        features.3.0.conv2.1.running_var [256]
        features.3.0.conv2.1.num_batches_tracked []
        features.3.0.downsample.0.weight [256,128,1,1,1]
        features.3.0.downsample.1.weight [256]
        features.3.0.downsample.1.bias [256]
        features.3.0.downsample.1.running_mean [256]
        features.3.0.downsample.1.running_var [256]
        features.3.0.downsample.1.num_batches_tracked []
        features.3.1.conv1.0.weight [256,256,3,3,3]
        features.3.1.conv1.1.weight [256]
        features.3.1.conv1.1.bias [256]
        features.3.1.conv1.1.running_mean [256]
        features.3.1.conv1.1.running_var [256]
        features.3.1.conv1.1.num_batches_tracked []
        features.3.1.conv2.0.weight [256,256,3,3,3]
        features.3.1.conv2.1.weight [256]
        features.3.1.conv2.1.bias [256]
        features.3.1.conv2.1.running_mean [256]
        features.3.1.conv2.1.running_var [256]
        features.3.1.conv2.1.num_batches_tracked []
        features.4.0.conv1.0.weight [512,256,3,3,3]
        features.4.0.conv1.1.weight [512]
        features.4.0.conv1.1.bias [512]
        features.4.0.conv1.1.running_mean [512]
        features.4.0.conv1.1.running_var [512]
        features.4.0.conv1.1.num_batches_tracked []
        features.4.0.conv2.0.weight [512,512,3,3,3]
        features.4.0.conv2.1.weight [512]
        features.4.0.conv2.1.bias [512]
        features.4.0.conv2.1.running_mean [512]
        features.4.0.conv2.1.running_var [512]
        features.4.0.conv2.1.num_batches_tracked []
        features.4.0.downsample.0.weight [512,256,1,1,1]
        features.4.0.downsample.1.weight [512]
        features.4.0.downsample.1.bias [512]
        features.4.0.downsample.1.running_mean [512]
        features.4.0.downsample.1.running_var [512]
        features.4.0.downsample.1.num_batches_tracked []
        features.4.1.conv1.0.weight [512,512,3,3,3]
        features.4.1.conv1.1.weight [512]
        features.4.1.conv1.1.bias [512]
        features.4.1.conv1.1.running_mean [512]
        features.4.1.conv1.1.running_var [512]
        features.4.1.conv1.1.num_batches_tracked []
        features.4.1.conv2.0.weight [512,512,3,3,3]
        features.4.1.conv2.1.weight [512]
        features.4.1.conv2.1.bias [512]
        features.4.1.conv2.1.running_mean [512]
        features.4.1.conv2.1.running_var [512]
        features.4.1.conv2.1.num_batches_tracked []
        lstm.weight_ih_l0 [2048,512]
        lstm.weight_hh_l0 [2048,512]
        lstm.bias_ih_l0 [2048]
        lstm.bias_hh_l0 [2048]
        lstm.weight_ih_l0_reverse [2048,512]
        lstm.weight_hh_l0_reverse [2048,512]
        lstm.bias_ih_l0_reverse [2048]
        lstm.bias_hh_l0_reverse [2048]
        lstm.weight_ih_l1 [2048,1024]
        lstm.weight_hh_l1 [2048,512]
        lstm.bias_ih_l1 [2048]
        lstm.bias_hh_l1 [2048]
        lstm.weight_ih_l1_reverse [2048,1024]
        lstm.weight_hh_l1_reverse [2048,512]
        lstm.bias_ih_l1_reverse [2048]
        lstm.bias_hh_l1_reverse [2048]
        to_qkv.weight [3072,1024]
        norm.weight [1,1024,1]
        norm.bias [1,1024,1]
        norm.mean_weight [2]
        norm.var_weight [2]
        pwconv.weight [1,4,3]
        pwconv.bias [1]
        fc.weight [7,1024]
        fc.bias [7]
        """;
}
