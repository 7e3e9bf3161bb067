using System.Diagnostics;
using Dfer.Ops.Gelu;
using Dfer.Reference;
using Dfer.TorchSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfer.Tests.Torch;

/// <summary>The TorchSharp IFDD written from the spec: plumbing, precision, strictness, and stages
/// checked by hand where that is cheap. Full forwards are expensive (~96 GFLOP per clip), so the
/// fixture runs three at batch 1 (float64 and float32 with intermediates, float32 plain) and shares them.</summary>
[TestFixture]
public sealed partial class TorchIfddTests
{
    private const int ClipLength = TorchIfdd.Frames * TorchIfdd.Channels * TorchIfdd.Size * TorchIfdd.Size;

    private Dictionary<string, (float[] Data, long[] Shape)> _weights = null!;
    private float[] _clip = null!;
    private Lazy<Results> _results = null!;

    private sealed record Results(
        IReadOnlyDictionary<string, float[]> Run64,
        IReadOnlyDictionary<string, float[]> Run32,
        float[] Plain32,
        TimeSpan Time64,
        TimeSpan Time32);

    [OneTimeSetUp]
    public void LoadTorch()
    {
        TorchRuntime.EnsureLoaded();
        _weights = IfddShapes.RandomStateDict(seed: 2024);
        _clip = SyntheticClip(seed: 7);
        _results = new Lazy<Results>(Run);
    }

    private Results Run()
    {
        Results r;
        var watch = Stopwatch.StartNew();
        using (var model64 = new TorchIfdd(_weights, ScalarType.Float64))
        {
            watch.Restart();
            var run64 = model64.ForwardWithIntermediates(_clip, 1);
            var time64 = watch.Elapsed;
            using var model32 = new TorchIfdd(_weights, ScalarType.Float32);
            watch.Restart();
            var run32 = model32.ForwardWithIntermediates(_clip, 1);
            var time32 = watch.Elapsed;
            r = new Results(run64, run32, model32.Forward(_clip, 1), time64, time32);
        }
        TestContext.Out.WriteLine(
            $"one clip: float64 {r.Time64.TotalSeconds:F1} s, float32 {r.Time32.TotalSeconds:F1} s "
            + $"({get_num_threads()} threads)");
        return r;
    }

    /// <summary>Drifting coloured gratings plus a little noise, in Dfer's [16, 3, 224, 224] layout.</summary>
    private static float[] SyntheticClip(int seed)
    {
        const int size = TorchIfdd.Size;
        var rng = TestSeed.Random(seed);
        var clip = new float[ClipLength];
        double fx = 0.05 + 0.2 * rng.NextDouble(), fy = 0.05 + 0.2 * rng.NextDouble(), ft = 0.3 + rng.NextDouble();
        double phase = 6 * rng.NextDouble();
        int i = 0;
        for (int f = 0; f < TorchIfdd.Frames; f++)
            for (int c = 0; c < TorchIfdd.Channels; c++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                    {
                        double value = 0.5 + 0.3 * Math.Sin(fx * x + fy * y + ft * f + phase + 2 * c)
                            * Math.Cos(0.02 * (x - y) + 0.1 * f)
                            + 0.1 * (rng.NextDouble() - 0.5);
                        clip[i++] = (float)Math.Clamp(value, 0, 1);
                    }
        return clip;
    }

    private float[] W(string key) => _weights[key].Data;

    private static double MaxAbs(IEnumerable<float> values) => values.Max(v => Math.Abs((double)v));

    [Test]
    public void Intermediates_HaveTheStatedShapesAndAreFinite()
    {
        var run = _results.Value.Run64;
        var expected = new (string Name, long Length)[]
        {
            ("embed", 25088L * 96), ("block0", 25089L * 96), ("block1", 6273L * 192), ("block2", 6273L * 192),
            ("block3", 1569L * 384), ("block4", 1569L * 384), ("block5", 1569L * 384), ("block6", 1569L * 384),
            ("block7", 1569L * 384), ("block8", 393L * 768), ("block9", 393L * 768), ("stage3", 393L * 768),
            ("pan", 392L * 384), ("Y", 392L * 768), ("idx_a", 4), ("idx_d", 4), ("xd_lift", 196L * 768),
            ("Z", 196L * 768), ("feat", 768), ("logits", 7),
        };
        Assert.That(run.Keys, Is.EquivalentTo(expected.Select(e => e.Name)));
        Assert.Multiple(() =>
        {
            foreach (var (name, length) in expected)
            {
                Assert.That(run[name].LongLength, Is.EqualTo(length), name);
                Assert.That(run[name].All(float.IsFinite), Is.True, $"{name} has non-finite values");
                Assert.That(MaxAbs(run[name]), Is.GreaterThan(1e-3), $"{name} is all (near) zero");
                TestContext.Out.WriteLine($"{name,-8} max|x| = {MaxAbs(run[name]):G4}");
            }
            // Offsets are 2 tanh(.) in (-2, 2) around the even / odd bases.
            for (int k = 0; k < 4; k++)
            {
                Assert.That(run["idx_a"][k], Is.InRange(2 * k - 2f, 2 * k + 2f));
                Assert.That(run["idx_d"][k], Is.InRange(2 * k - 1f, 2 * k + 3f));
            }
            var logits = run["logits"];
            Assert.That(logits.Max() - logits.Min(), Is.GreaterThan(1e-3), "degenerate logits");
            TestContext.Out.WriteLine($"logits f64: {string.Join(", ", logits.Select(v => v.ToString("G6")))}");
            TestContext.Out.WriteLine(
                $"idx_a: {string.Join(", ", run["idx_a"])}; idx_d: {string.Join(", ", run["idx_d"])}");
        });
    }

    [Test]
    public void Float32_AgreesWithFloat64()
    {
        var r = _results.Value;
        foreach (var name in r.Run64.Keys)
        {
            var a = r.Run64[name];
            var b = r.Run32[name];
            double diff = a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
            TestContext.Out.WriteLine($"{name,-8} max|f32 - f64| = {diff:G3} (scale {MaxAbs(a):G3})");
        }
        Assert.That(r.Run32["logits"], Is.EqualTo(r.Run64["logits"]).Within(1e-4));
        Assert.That(r.Run32["idx_a"].Concat(r.Run32["idx_d"]),
            Is.EqualTo(r.Run64["idx_a"].Concat(r.Run64["idx_d"])).Within(1e-4));
    }

    [Test]
    public void Forward_GivesTheLogitsOfForwardWithIntermediates()
    {
        var r = _results.Value;
        Assert.That(r.Plain32, Has.Length.EqualTo(TorchIfdd.Classes));
        Assert.That(r.Plain32, Is.EqualTo(r.Run32["logits"]).Within(1e-6));
    }

    // ---- Stages recomputed by hand (float64 loops) from the float64 run's previous intermediate ----

    /// <summary>Head: logits = feat W^T + b.</summary>
    [Test]
    public void Logits_AreTheHeadOfFeat()
    {
        var run = _results.Value.Run64;
        var feat = run["feat"];
        var weight = W("head.head.1.weight");
        var bias = W("head.head.1.bias");
        var expected = new double[7];
        for (int j = 0; j < 7; j++)
        {
            double sum = bias[j];
            for (int c = 0; c < 768; c++)
                sum += (double)feat[c] * weight[j * 768 + c];
            expected[j] = sum;
        }
        Assert.That(run["logits"].Select(v => (double)v), Is.EqualTo(expected).Within(1e-5));
    }

    /// <summary>Token compression: feat[c] = sum_n wc[n] Z[n, c] (a learned combination, not a mean).</summary>
    [Test]
    public void Feat_IsTheLearnedTokenCombinationOfZ()
    {
        var run = _results.Value.Run64;
        var z = run["Z"];
        var wc = W("backbone.WaveLifts.project_compress.weight");
        var expected = new double[768];
        for (int n = 0; n < 196; n++)
            for (int c = 0; c < 768; c++)
                expected[c] += (double)wc[n] * z[n * 768 + c];
        double scale = Math.Max(1, expected.Max(Math.Abs));
        Assert.That(run["feat"].Select(v => (double)v), Is.EqualTo(expected).Within(1e-5 * scale));
    }

    /// <summary>stage3 = LayerNorm(block-9 output; eps 1e-6, biased variance) on every token.</summary>
    [Test]
    public void Stage3_IsTheFinalLayerNormOfBlock9()
    {
        var run = _results.Value.Run64;
        var x = run["block9"];
        var expected = LayerNorm(x, 393, 768, W("backbone.backbone.norm.weight"), W("backbone.backbone.norm.bias"),
            1e-6);
        Assert.That(run["stage3"].Select(v => (double)v), Is.EqualTo(expected).Within(1e-4));
    }

    private static double[] LayerNorm(float[] x, int rows, int c, float[] w, float[] b, double eps)
    {
        var y = new double[rows * c];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < c; i++) mean += x[r * c + i];
            mean /= c;
            for (int i = 0; i < c; i++) var += Math.Pow(x[r * c + i] - mean, 2);
            var /= c;
            for (int i = 0; i < c; i++)
                y[r * c + i] = (x[r * c + i] - mean) / Math.Sqrt(var + eps) * w[i] + b[i];
        }
        return y;
    }

    /// <summary>PANLayer reads block 7's output (class token dropped, no LayerNorm) through a 3x3 conv
    /// with dilation 2, stride 2, padding 2: out[o,i,j] = sum W[o,c,a,b] in[c, 2i+2a-2, 2j+2b-2].</summary>
    [Test]
    public void Pan_IsTheDilatedConvOfBlock7()
    {
        var run = _results.Value.Run64;
        var s2 = run["block7"];          // (1569, 384), token 1 + t*196 + h*14 + w
        var weight = W("backbone.PANLayer.0.weight");
        var pan = run["pan"];            // (392, 384), token t*49 + i*7 + j
        double worst = 0, scale = MaxAbs(pan);
        // Every output channel at a spread of positions including all borders: (t, i, j).
        foreach (var (t, i, j) in new[] { (0, 0, 0), (0, 6, 6), (3, 0, 6), (5, 6, 0), (7, 3, 4), (2, 1, 5), (6, 5, 2) })
            for (int o = 0; o < 384; o++)
            {
                double sum = 0;
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++)
                    {
                        int h = 2 * i + 2 * a - 2, w = 2 * j + 2 * b - 2;
                        if (h < 0 || h >= 14 || w < 0 || w >= 14) continue;
                        int token = 1 + t * 196 + h * 14 + w;
                        for (int c = 0; c < 384; c++)
                            sum += (double)weight[((o * 384 + c) * 3 + a) * 3 + b] * s2[token * 384 + c];
                    }
                worst = Math.Max(worst, Math.Abs(sum - pan[(t * 49 + i * 7 + j) * 384 + o]));
            }
        Assert.That(worst, Is.LessThan(1e-5 * Math.Max(1, scale)));
    }

    /// <summary>CatConv: Y = [pan | stage3 without its class token] through a 1x1 conv (no bias).</summary>
    [Test]
    public void Y_IsTheCatConvOfPanAndStage3()
    {
        var run = _results.Value.Run64;
        var pan = run["pan"];
        var s3 = run["stage3"];
        var weight = W("backbone.CatConv.weight");
        var y = run["Y"];
        double worst = 0;
        foreach (int n in new[] { 0, 6, 48, 49, 200, 391 })
            for (int o = 0; o < 768; o++)
            {
                double sum = 0;
                for (int c = 0; c < 384; c++) sum += (double)weight[o * 1152 + c] * pan[n * 384 + c];
                for (int c = 0; c < 768; c++) sum += (double)weight[o * 1152 + 384 + c] * s3[(n + 1) * 768 + c];
                worst = Math.Max(worst, Math.Abs(sum - y[n * 768 + o]));
            }
        Assert.That(worst, Is.LessThan(1e-5 * Math.Max(1, MaxAbs(y))));
    }

    /// <summary>ISSM indices from Y: GELU 1x1 projection to 7, similarity / 768, row softmaxes of S and
    /// -S, offsets 2 tanh(W vec(.)), added to [0,2,4,6] and [1,3,5,7].</summary>
    [Test]
    public void IssmIndices_FollowFromY()
    {
        var run = _results.Value.Run64;
        var y = run["Y"];
        var wp = W("backbone.WaveLifts.adapt_split.dim_project.0.weight");
        var bp = W("backbone.WaveLifts.adapt_split.dim_project.0.bias");
        var f = new double[8, 343];
        for (int t = 0; t < 8; t++)
            for (int s = 0; s < 49; s++)
                for (int o = 0; o < 7; o++)
                {
                    double sum = bp[o];
                    for (int c = 0; c < 768; c++) sum += (double)wp[o * 768 + c] * y[(t * 49 + s) * 768 + c];
                    f[t, o * 49 + s] = GeluReference.Gelu(sum);
                }
        var sim = new double[8, 8];
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++)
            {
                double dot = 0;
                for (int e = 0; e < 343; e++) dot += f[i, e] * f[j, e];
                sim[i, j] = dot / 768;
            }
        double[] Offsets(float[] weight, double sign)
        {
            var vec = new double[64];
            for (int i = 0; i < 8; i++)
            {
                double max = Enumerable.Range(0, 8).Max(j => sign * sim[i, j]);
                double total = Enumerable.Range(0, 8).Sum(j => Math.Exp(sign * sim[i, j] - max));
                for (int j = 0; j < 8; j++) vec[i * 8 + j] = Math.Exp(sign * sim[i, j] - max) / total;
            }
            return Enumerable.Range(0, 4)
                .Select(k => 2 * Math.Tanh(Enumerable.Range(0, 64).Sum(e => weight[k * 64 + e] * vec[e]))).ToArray();
        }
        var offA = Offsets(W("backbone.WaveLifts.adapt_split.offset_project_approx.0.weight"), +1);
        var offD = Offsets(W("backbone.WaveLifts.adapt_split.offset_project_detail.0.weight"), -1);
        Assert.That(run["idx_a"].Select(v => (double)v), Is.EqualTo(offA.Select((o, k) => 2 * k + o)).Within(1e-5));
        Assert.That(run["idx_d"].Select(v => (double)v), Is.EqualTo(offD.Select((o, k) => 2 * k + 1 + o)).Within(1e-5));
    }

    /// <summary>LADM lifting from Y and the indices: sampling at p = clamp(8/7 idx - 0.5, 0, 7),
    /// WaveNorm (eps 1e-5), Updater Xa' = Xa + P_a(CA(Xa, Xd)), then Predictor
    /// Xd' = Xd - P_d(CA(Xd, Xa')), where CA carries the value residual.</summary>
    [Test]
    public void XdLift_FollowsFromYAndTheIndices()
    {
        var run = _results.Value.Run64;
        var y = run["Y"];
        double[] Sample(float[] idx)
        {
            var x = new double[196 * 768];
            for (int k = 0; k < 4; k++)
            {
                double p = Math.Clamp(8.0 / 7 * idx[k] - 0.5, 0, 7);
                int i0 = (int)Math.Floor(p);
                double w = p - i0;
                for (int e = 0; e < 49 * 768; e++)
                    x[k * 49 * 768 + e] =
                        (1 - w) * y[i0 * 49 * 768 + e] + (i0 < 7 ? w * y[(i0 + 1) * 49 * 768 + e] : 0);
            }
            return x;
        }
        const string p = "backbone.WaveLifts.";
        var xa = Ln(Sample(run["idx_a"]), W(p + "xa_norm.weight"), W(p + "xa_norm.bias"), 1e-5);
        var xd = Ln(Sample(run["idx_d"]), W(p + "xd_norm.weight"), W(p + "xd_norm.bias"), 1e-5);
        var xaLift = Add(xa,
            Lin(CrossAttention(xa, xd, "q_a", "kv_d"), 768, W(p + "project_a.0.weight"), W(p + "project_a.0.bias"),
            768), +1);
        var xdLift = Add(xd,
            Lin(CrossAttention(xd, xaLift, "q_d", "kv_a"), 768, W(p + "project_d.0.weight"), W(p + "project_d.0.bias"),
            768), -1);
        double worst = xdLift.Select((v, i) => Math.Abs(v - run["xd_lift"][i])).Max();
        Assert.That(worst, Is.LessThan(1e-4));
    }

    /// <summary>Detail refinement from Xd': plain 8-head MHSA with residual, then the MLP whose output
    /// replaces (no residual) the refined tokens.</summary>
    [Test]
    public void Z_FollowsFromXdLift()
    {
        var run = _results.Value.Run64;
        const string p = "backbone.WaveLifts.";
        var xd = run["xd_lift"].Select(v => (double)v).ToArray();
        var h = Ln(xd, W(p + "out_norm1.weight"), W(p + "out_norm1.bias"), 1e-5);
        var qkv = Lin(h, 768, W(p + "qkv.weight"), W(p + "qkv.bias"), 2304);
        double[] Part(int part)
            => Enumerable.Range(0, 196 * 768).Select(i => qkv[(i / 768) * 2304 + part * 768 + i % 768]).ToArray();
        var refined = Add(xd,
            Lin(Attention(Part(0), Part(1), Part(2)), 768, W(p + "project.0.weight"), W(p + "project.0.bias"), 768),
            +1);
        var hidden = Lin(Ln(refined, W(p + "out_norm2.weight"), W(p + "out_norm2.bias"), 1e-5), 768,
            W(p + "mlp.0.weight"), W(p + "mlp.0.bias"), 3072)
            .Select(GeluReference.Gelu).ToArray();
        var z = Lin(hidden, 3072, W(p + "mlp.3.weight"), W(p + "mlp.3.bias"), 768);
        double worst = z.Select((v, i) => Math.Abs(v - run["Z"][i])).Max();
        Assert.That(worst, Is.LessThan(1e-5));
    }

    private double[] CrossAttention(double[] qIn, double[] kvIn, string q, string kv)
    {
        const string p = "backbone.WaveLifts.";
        var qq = Lin(qIn, 768, W($"{p}{q}.weight"), W($"{p}{q}.bias"), 768);
        var kvv = Lin(kvIn, 768, W($"{p}{kv}.weight"), W($"{p}{kv}.bias"), 1536);
        var k = Enumerable.Range(0, 196 * 768).Select(i => kvv[(i / 768) * 1536 + i % 768]).ToArray();
        var v = Enumerable.Range(0, 196 * 768).Select(i => kvv[(i / 768) * 1536 + 768 + i % 768]).ToArray();
        return Add(Attention(qq, k, v), v, +1);
    }

    /// <summary>8 heads of 96 over 196 tokens, (196, 768) in and out, channel = head*96 + d.</summary>
    private static double[] Attention(double[] q, double[] k, double[] v)
    {
        var o = new double[196 * 768];
        var row = new double[196];
        for (int h = 0; h < 8; h++)
            for (int i = 0; i < 196; i++)
            {
                for (int j = 0; j < 196; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < 96; d++) dot += q[i * 768 + h * 96 + d] * k[j * 768 + h * 96 + d];
                    row[j] = dot / Math.Sqrt(96);
                }
                double max = row.Max(), total = 0;
                for (int j = 0; j < 196; j++) total += row[j] = Math.Exp(row[j] - max);
                for (int j = 0; j < 196; j++)
                    for (int d = 0; d < 96; d++)
                        o[i * 768 + h * 96 + d] += row[j] / total * v[j * 768 + h * 96 + d];
            }
        return o;
    }

    private static double[] Lin(double[] x, int inDim, float[] w, float[] b, int outDim)
    {
        int n = x.Length / inDim;
        var y = new double[n * outDim];
        Parallel.For(0, n, r =>
        {
            for (int o = 0; o < outDim; o++)
            {
                double sum = b[o];
                for (int i = 0; i < inDim; i++) sum += x[r * inDim + i] * w[o * inDim + i];
                y[r * outDim + o] = sum;
            }
        });
        return y;
    }

    private static double[] Add(double[] a, double[] b, int sign) => a.Select((v, i) => v + sign * b[i]).ToArray();

    private static double[] Ln(double[] x, float[] w, float[] b, double eps)
    {
        int c = w.Length, rows = x.Length / c;
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < c; i++) mean += x[r * c + i];
            mean /= c;
            for (int i = 0; i < c; i++) var += (x[r * c + i] - mean) * (x[r * c + i] - mean);
            var /= c;
            for (int i = 0; i < c; i++) y[r * c + i] = (x[r * c + i] - mean) / Math.Sqrt(var + eps) * w[i] + b[i];
        }
        return y;
    }

    // ---- Pieces checked without a full forward ----

    [Test]
    public void RelPosIndex_MatchesTheSpecsPerBlockFormulas()
    {
        var cases = new (int Q, int K, Func<int, int, long> Expected, int Rows)[]
        {
            (8, 8, (i, j) => i - j + 7, 15),              // t, all blocks
            (56, 7, (i, j) => i + 8 * (6 - j), 111),      // block 0
            (28, 14, (i, j) => i + 2 * (13 - j), 55),     // block 1
            (28, 7, (i, j) => i + 4 * (6 - j), 55),       // block 2
            (14, 14, (i, j) => i - j + 13, 27),           // block 3
            (14, 7, (i, j) => i + 2 * (6 - j), 27),       // blocks 4-7
            (7, 14, (i, j) => 2 * i + 13 - j, 27),        // block 8
            (7, 7, (i, j) => i - j + 6, 13),              // block 9
        };
        Assert.Multiple(() =>
        {
            foreach (var (q, k, expected, rows) in cases)
            {
                var index = TorchIfdd.RelPosIndex(q, k);
                Assert.That(index.GetLength(0), Is.EqualTo(q));
                Assert.That(index.GetLength(1), Is.EqualTo(k));
                for (int i = 0; i < q; i++)
                    for (int j = 0; j < k; j++)
                        Assert.That(index[i, j], Is.EqualTo(expected(i, j)), $"q {q}, k {k}, ({i},{j})");
                // The table's 2 max(q, k) - 1 rows: never out of range (largest index at i = q-1, j = 0).
                var all = index.Cast<long>().ToArray();
                Assert.That(all.Min(), Is.GreaterThanOrEqualTo(0));
                Assert.That(all.Max(), Is.LessThan(rows), $"q {q}, k {k}");
            }
        });
    }

    /// <summary>The decomposed bias lands in attn[:, :, 1:, 1:] only, as
    /// u.Rt[It] + u.Rh[Ih] + u.Rw[Iw] with u the unscaled query, on small unequal grids.</summary>
    [Test]
    public void AddRelPos_MatchesTheDecomposedSumOnASmallCase()
    {
        const int batch = 2, heads = 2, dim = 96;
        (int T, int H, int W) qThw = (2, 4, 3), kThw = (2, 2, 3);
        int nq = qThw.T * qThw.H * qThw.W + 1, nk = kThw.T * kThw.H * kThw.W + 1;
        var rng = TestSeed.Random(5);
        double[] Random(int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var q = Random(batch * heads * nq * dim);
        var attn = Random(batch * heads * nq * nk);
        int rowsT = 2 * 2 - 1, rowsH = 2 * 4 - 1, rowsW = 2 * 3 - 1;
        var rt = Random(rowsT * dim);
        var rh = Random(rowsH * dim);
        var rw = Random(rowsW * dim);

        long I(int i, int j, int a, int c)
            => (long)Math.Floor(i * Math.Max((double)c / a, 1) - (j - c + 1) * Math.Max((double)a / c, 1));
        var expected = (double[])attn.Clone();
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < qThw.T; t++)
                    for (int y = 0; y < qThw.H; y++)
                        for (int x = 0; x < qThw.W; x++)
                            for (int t2 = 0; t2 < kThw.T; t2++)
                                for (int y2 = 0; y2 < kThw.H; y2++)
                                    for (int x2 = 0; x2 < kThw.W; x2++)
                                    {
                                        int qi = 1 + (t * qThw.H + y) * qThw.W + x,
                                            ki = 1 + (t2 * kThw.H + y2) * kThw.W + x2;
                                        long it = I(t, t2, qThw.T, kThw.T), ih = I(y, y2, qThw.H, kThw.H),
                                            iw = I(x, x2, qThw.W, kThw.W);
                                        double bias = 0;
                                        for (int d = 0; d < dim; d++)
                                        {
                                            double u = q[((b * heads + h) * nq + qi) * dim + d];
                                            bias += u * (rt[it * dim + d] + rh[ih * dim + d] + rw[iw * dim + d]);
                                        }
                                        expected[((b * heads + h) * nq + qi) * nk + ki] += bias;
                                    }

        using var scope = NewDisposeScope();
        var result = TorchIfdd.AddRelPos(
            tensor(attn, [batch, heads, nq, nk]), tensor(q, [batch, heads, nq, dim]), qThw, kThw,
            tensor(rt, [rowsT, dim]), tensor(rh, [rowsH, dim]), tensor(rw, [rowsW, dim]));
        var actual = result.contiguous().data<double>().ToArray();
        Assert.That(actual, Is.EqualTo(expected).Within(1e-12));
        // Class-token row and column untouched, exactly.
        for (int b = 0; b < batch * heads; b++)
        {
            for (int j = 0; j < nk; j++) Assert.That(actual[b * nq * nk + j], Is.EqualTo(attn[b * nq * nk + j]));
            for (int i = 0; i < nq; i++) Assert.That(actual[(b * nq + i) * nk], Is.EqualTo(attn[(b * nq + i) * nk]));
        }
    }

    /// <summary>The ISSM sampling reproduces the grid mismatch p = clamp(8/7 idx - 0.5, 0, 7) with
    /// linear interpolation between frames (border clamping at both ends).</summary>
    [Test]
    public void SampleFrames_InterpolatesAtTheMismatchedGridPosition()
    {
        const int s = 2, c = 3;
        double Value(int f, int sp, int ch) => f * f + 0.5 * f + 100 * sp + 10 * ch;   // non-linear in the frame
        var frames = new double[2 * 8 * s * c];
        for (int b = 0; b < 2; b++)
            for (int f = 0; f < 8; f++)
                for (int sp = 0; sp < s; sp++)
                    for (int ch = 0; ch < c; ch++)
                        frames[((b * 8 + f) * s + sp) * c + ch] = Value(f, sp, ch) + 1000 * b;
        double[][] idx =
        [
            [-1.5, 0.0, 0.3, 0.4375, 2.0, 3.5, 6.2, 7.0],
            [7.0 / 8 * 7.5, 9.0, 1.0, 5.0, 4.75, 0.9, 6.5, 2.6],
        ];
        int k = idx[0].Length;

        var expected = new double[2 * k * s * c];
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < k; j++)
            {
                double p = Math.Clamp(8.0 / 7 * idx[b][j] - 0.5, 0, 7);
                int i0 = (int)Math.Floor(p);
                double w = p - i0;
                for (int sp = 0; sp < s; sp++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        double v0 = Value(i0, sp, ch), v1 = i0 < 7 ? Value(i0 + 1, sp, ch) : 0;
                        expected[((b * k + j) * s + sp) * c + ch] = (1 - w) * v0 + w * v1 + 1000 * b;
                    }
            }

        using var scope = NewDisposeScope();
        var result = TorchIfdd.SampleFrames(
            tensor(frames, [2, 8, s, c]), tensor(idx.SelectMany(r => r).ToArray(), [2, k]));
        Assert.That(result.shape, Is.EqualTo(new long[] { 2, k * s, c }));
        var actual = result.contiguous().data<double>().ToArray();
        Assert.That(actual, Is.EqualTo(expected).Within(1e-9));
        // Spot values by hand (s = 0, ch = 0, batch 0): idx 3.5 -> p 3.5 -> (v(3) + v(4)) / 2 = (10.5 + 18) / 2;
        // idx 0.4375 -> p 0 -> v(0); idx 2 -> p 1.7857 (not frame 2); idx 7 -> p 7.5 clamped -> v(7).
        Assert.That(actual[(5 * s) * c], Is.EqualTo(14.25).Within(1e-9));
        Assert.That(actual[(3 * s) * c], Is.EqualTo(0).Within(1e-9));
        double p2 = 16.0 / 7 - 0.5;
        Assert.That(actual[(4 * s) * c], Is.EqualTo((2 - p2) * 1.5 + (p2 - 1) * 5).Within(1e-9));
        Assert.That(actual[(7 * s) * c], Is.EqualTo(52.5).Within(1e-9));
    }

    [Test]
    public void Constructor_RejectsBadStateDicts()
    {
        var weights = _weights;

        // Even an entry the forward never reads is required.
        const string unusedKey = "backbone.WaveLifts.adapt_split.time_project.2.bias";
        var missing = new Dictionary<string, (float[] Data, long[] Shape)>(weights);
        missing.Remove(unusedKey);
        Assert.That(() => new TorchIfdd(missing, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains(unusedKey));

        const string relPos = "backbone.backbone.blocks.8.attn.rel_pos_h";
        var reshaped = new Dictionary<string, (float[] Data, long[] Shape)>(weights)
        {
            [relPos] = (new float[13 * 96], [13, 96]),
        };
        Assert.That(() => new TorchIfdd(reshaped, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains(relPos));

        const string conv = "embed.conv_proj.weight";
        var transposed = new Dictionary<string, (float[] Data, long[] Shape)>(weights)
        {
            [conv] = (weights[conv].Data, [3, 96, 3, 7, 7]),
        };
        Assert.That(() => new TorchIfdd(transposed, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains(conv));

        const string shortKey = "head.head.1.bias";
        var shortData = new Dictionary<string,
            (float[] Data, long[] Shape)>(weights)
        { [shortKey] = (new float[6], [7]) };
        Assert.That(() => new TorchIfdd(shortData, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains(shortKey));

        var extra = new Dictionary<string,
            (float[] Data, long[] Shape)>(weights)
        { ["backbone.backbone.blocks.10.norm1.weight"] = ([1f], [1]) };
        Assert.That(() => new TorchIfdd(extra, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains("blocks.10.norm1.weight"));

        var prefixed = weights.ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        Assert.That(() => new TorchIfdd(prefixed, ScalarType.Float32),
            Throws.ArgumentException.With.Message.Contains("module."));

        Assert.That(() => new TorchIfdd(weights, ScalarType.Float16), Throws.ArgumentException);
    }

    [Test]
    public void Forward_RejectsWrongInputLength()
    {
        using var model = new TorchIfdd(_weights, ScalarType.Float32);
        Assert.That(() => model.Forward(new float[ClipLength], 2), Throws.ArgumentException);
        Assert.That(() => model.ForwardWithIntermediates(new float[ClipLength - 1], 1), Throws.ArgumentException);
        Assert.That(() => model.Forward(new float[ClipLength], 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}

/// <summary>IFDD's state dict (keys and shapes as the spec's appendix lists them) and a deterministic
/// random-weight generator for it.</summary>
internal static class IfddShapes
{
    public static IReadOnlyList<(string Name, long[] Shape)> All { get; } = OfficialListing
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(line =>
        {
            var parts = line.Split(' ');
            var dims = parts[1].Trim('[', ']');
            return (parts[0], dims.Length == 0 ? Array.Empty<long>() : dims.Split(',').Select(long.Parse).ToArray());
        })
        .ToList();

    /// <summary>LayerNorm weights U(0.8, 1.2), biases U(-0.1, 0.1), linear/conv weights
    /// U(±1/sqrt(fan_in)), relative-position tables N(0, 0.2), class token U(-0.5, 0.5), ISSM offset
    /// weights U(-2, 2), the index buffers [0,2,4,6] / [1,3,5,7]; the unused positional tables U(-0.5, 0.5).</summary>
    public static Dictionary<string, (float[] Data, long[] Shape)> RandomStateDict(int seed)
    {
        var rng = new Random(seed);
        double Uniform(double lo, double hi) => lo + (hi - lo) * rng.NextDouble();
        double Normal(double sigma)
            => sigma * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

        var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);
        foreach (var (name, shape) in All)
        {
            int count = (int)shape.Aggregate(1L, (a, b) => a * b);
            long fanIn = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            bool isNorm = shape.Length == 1 && (name.Contains("norm", StringComparison.Ordinal));
            Func<double> draw = name switch
            {
                _ when name.EndsWith("index_even", StringComparison.Ordinal) => null!,
                _ when name.EndsWith("index_odd", StringComparison.Ordinal) => null!,
                _ when isNorm && name.EndsWith(".weight", StringComparison.Ordinal) => () => Uniform(0.8, 1.2),
                _ when name.EndsWith(".bias", StringComparison.Ordinal) => () => Uniform(-0.1, 0.1),
                _ when name.Contains("rel_pos_", StringComparison.Ordinal) => () => Normal(0.2),
                _ when name.EndsWith("class_token", StringComparison.Ordinal) => () => Uniform(-0.5, 0.5),
                _ when name.Contains("offset_project", StringComparison.Ordinal) => () => Uniform(-2, 2),
                _ when name.EndsWith("_pos", StringComparison.Ordinal) => () => Uniform(-0.5, 0.5),
                _ => () => Uniform(-1 / Math.Sqrt(fanIn), 1 / Math.Sqrt(fanIn)),
            };
            float[] data = name.EndsWith("index_even", StringComparison.Ordinal) ? [0, 2, 4, 6]
                : name.EndsWith("index_odd", StringComparison.Ordinal) ? [1, 3, 5, 7]
                : Enumerable.Range(0, count).Select(_ => (float)draw()).ToArray();
            result[name] = (data, shape);
        }
        return result;
    }

    /// <summary>The official model's <c>state_dict()</c> keys and shapes, one per line (spec appendix).</summary>
    public const string OfficialListing =
        """
        embed.conv_proj.weight [96,3,3,7,7]
        embed.conv_proj.bias [96]
        backbone.backbone.pos_encoding.class_token [96]
        backbone.backbone.blocks.0.norm1.weight [96]
        backbone.backbone.blocks.0.norm1.bias [96]
        backbone.backbone.blocks.0.norm2.weight [96]
        backbone.backbone.blocks.0.norm2.bias [96]
        backbone.backbone.blocks.0.attn.rel_pos_h [111,96]
        backbone.backbone.blocks.0.attn.rel_pos_w [111,96]
        backbone.backbone.blocks.0.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.0.attn.qkv.weight [288,96]
        backbone.backbone.blocks.0.attn.qkv.bias [288]
        backbone.backbone.blocks.0.attn.project.0.weight [96,96]
        backbone.backbone.blocks.0.attn.project.0.bias [96]
        backbone.backbone.blocks.0.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.0.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.0.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.0.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.0.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.0.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.0.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.0.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.0.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.0.mlp.0.weight [384,96]
        backbone.backbone.blocks.0.mlp.0.bias [384]
        backbone.backbone.blocks.0.mlp.3.weight [96,384]
        backbone.backbone.blocks.0.mlp.3.bias [96]
        backbone.backbone.blocks.1.norm1.weight [96]
        backbone.backbone.blocks.1.norm1.bias [96]
        backbone.backbone.blocks.1.norm2.weight [192]
        backbone.backbone.blocks.1.norm2.bias [192]
        backbone.backbone.blocks.1.attn.rel_pos_h [55,96]
        backbone.backbone.blocks.1.attn.rel_pos_w [55,96]
        backbone.backbone.blocks.1.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.1.attn.qkv.weight [576,96]
        backbone.backbone.blocks.1.attn.qkv.bias [576]
        backbone.backbone.blocks.1.attn.project.0.weight [192,192]
        backbone.backbone.blocks.1.attn.project.0.bias [192]
        backbone.backbone.blocks.1.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.1.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.1.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.1.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.1.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.1.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.1.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.1.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.1.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.1.mlp.0.weight [768,192]
        backbone.backbone.blocks.1.mlp.0.bias [768]
        backbone.backbone.blocks.1.mlp.3.weight [192,768]
        backbone.backbone.blocks.1.mlp.3.bias [192]
        backbone.backbone.blocks.1.project.weight [192,96]
        backbone.backbone.blocks.1.project.bias [192]
        backbone.backbone.blocks.2.norm1.weight [192]
        backbone.backbone.blocks.2.norm1.bias [192]
        backbone.backbone.blocks.2.norm2.weight [192]
        backbone.backbone.blocks.2.norm2.bias [192]
        backbone.backbone.blocks.2.attn.rel_pos_h [55,96]
        backbone.backbone.blocks.2.attn.rel_pos_w [55,96]
        backbone.backbone.blocks.2.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.2.attn.qkv.weight [576,192]
        backbone.backbone.blocks.2.attn.qkv.bias [576]
        backbone.backbone.blocks.2.attn.project.0.weight [192,192]
        backbone.backbone.blocks.2.attn.project.0.bias [192]
        backbone.backbone.blocks.2.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.2.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.2.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.2.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.2.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.2.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.2.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.2.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.2.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.2.mlp.0.weight [768,192]
        backbone.backbone.blocks.2.mlp.0.bias [768]
        backbone.backbone.blocks.2.mlp.3.weight [192,768]
        backbone.backbone.blocks.2.mlp.3.bias [192]
        backbone.backbone.blocks.3.norm1.weight [192]
        backbone.backbone.blocks.3.norm1.bias [192]
        backbone.backbone.blocks.3.norm2.weight [384]
        backbone.backbone.blocks.3.norm2.bias [384]
        backbone.backbone.blocks.3.attn.rel_pos_h [27,96]
        backbone.backbone.blocks.3.attn.rel_pos_w [27,96]
        backbone.backbone.blocks.3.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.3.attn.qkv.weight [1152,192]
        backbone.backbone.blocks.3.attn.qkv.bias [1152]
        backbone.backbone.blocks.3.attn.project.0.weight [384,384]
        backbone.backbone.blocks.3.attn.project.0.bias [384]
        backbone.backbone.blocks.3.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.3.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.3.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.3.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.3.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.3.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.3.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.3.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.3.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.3.mlp.0.weight [1536,384]
        backbone.backbone.blocks.3.mlp.0.bias [1536]
        backbone.backbone.blocks.3.mlp.3.weight [384,1536]
        backbone.backbone.blocks.3.mlp.3.bias [384]
        backbone.backbone.blocks.3.project.weight [384,192]
        backbone.backbone.blocks.3.project.bias [384]
        backbone.backbone.blocks.4.norm1.weight [384]
        backbone.backbone.blocks.4.norm1.bias [384]
        backbone.backbone.blocks.4.norm2.weight [384]
        backbone.backbone.blocks.4.norm2.bias [384]
        backbone.backbone.blocks.4.attn.rel_pos_h [27,96]
        backbone.backbone.blocks.4.attn.rel_pos_w [27,96]
        backbone.backbone.blocks.4.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.4.attn.qkv.weight [1152,384]
        backbone.backbone.blocks.4.attn.qkv.bias [1152]
        backbone.backbone.blocks.4.attn.project.0.weight [384,384]
        backbone.backbone.blocks.4.attn.project.0.bias [384]
        backbone.backbone.blocks.4.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.4.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.4.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.4.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.4.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.4.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.4.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.4.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.4.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.4.mlp.0.weight [1536,384]
        backbone.backbone.blocks.4.mlp.0.bias [1536]
        backbone.backbone.blocks.4.mlp.3.weight [384,1536]
        backbone.backbone.blocks.4.mlp.3.bias [384]
        backbone.backbone.blocks.5.norm1.weight [384]
        backbone.backbone.blocks.5.norm1.bias [384]
        backbone.backbone.blocks.5.norm2.weight [384]
        backbone.backbone.blocks.5.norm2.bias [384]
        backbone.backbone.blocks.5.attn.rel_pos_h [27,96]
        backbone.backbone.blocks.5.attn.rel_pos_w [27,96]
        backbone.backbone.blocks.5.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.5.attn.qkv.weight [1152,384]
        backbone.backbone.blocks.5.attn.qkv.bias [1152]
        backbone.backbone.blocks.5.attn.project.0.weight [384,384]
        backbone.backbone.blocks.5.attn.project.0.bias [384]
        backbone.backbone.blocks.5.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.5.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.5.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.5.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.5.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.5.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.5.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.5.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.5.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.5.mlp.0.weight [1536,384]
        backbone.backbone.blocks.5.mlp.0.bias [1536]
        backbone.backbone.blocks.5.mlp.3.weight [384,1536]
        backbone.backbone.blocks.5.mlp.3.bias [384]
        backbone.backbone.blocks.6.norm1.weight [384]
        backbone.backbone.blocks.6.norm1.bias [384]
        backbone.backbone.blocks.6.norm2.weight [384]
        backbone.backbone.blocks.6.norm2.bias [384]
        backbone.backbone.blocks.6.attn.rel_pos_h [27,96]
        backbone.backbone.blocks.6.attn.rel_pos_w [27,96]
        backbone.backbone.blocks.6.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.6.attn.qkv.weight [1152,384]
        backbone.backbone.blocks.6.attn.qkv.bias [1152]
        backbone.backbone.blocks.6.attn.project.0.weight [384,384]
        backbone.backbone.blocks.6.attn.project.0.bias [384]
        backbone.backbone.blocks.6.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.6.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.6.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.6.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.6.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.6.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.6.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.6.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.6.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.6.mlp.0.weight [1536,384]
        backbone.backbone.blocks.6.mlp.0.bias [1536]
        backbone.backbone.blocks.6.mlp.3.weight [384,1536]
        backbone.backbone.blocks.6.mlp.3.bias [384]
        backbone.backbone.blocks.7.norm1.weight [384]
        backbone.backbone.blocks.7.norm1.bias [384]
        backbone.backbone.blocks.7.norm2.weight [384]
        backbone.backbone.blocks.7.norm2.bias [384]
        backbone.backbone.blocks.7.attn.rel_pos_h [27,96]
        backbone.backbone.blocks.7.attn.rel_pos_w [27,96]
        backbone.backbone.blocks.7.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.7.attn.qkv.weight [1152,384]
        backbone.backbone.blocks.7.attn.qkv.bias [1152]
        backbone.backbone.blocks.7.attn.project.0.weight [384,384]
        backbone.backbone.blocks.7.attn.project.0.bias [384]
        backbone.backbone.blocks.7.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.7.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.7.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.7.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.7.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.7.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.7.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.7.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.7.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.7.mlp.0.weight [1536,384]
        backbone.backbone.blocks.7.mlp.0.bias [1536]
        backbone.backbone.blocks.7.mlp.3.weight [384,1536]
        backbone.backbone.blocks.7.mlp.3.bias [384]
        backbone.backbone.blocks.8.norm1.weight [384]
        backbone.backbone.blocks.8.norm1.bias [384]
        backbone.backbone.blocks.8.norm2.weight [768]
        backbone.backbone.blocks.8.norm2.bias [768]
        backbone.backbone.blocks.8.attn.rel_pos_h [27,96]
        backbone.backbone.blocks.8.attn.rel_pos_w [27,96]
        backbone.backbone.blocks.8.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.8.attn.qkv.weight [2304,384]
        backbone.backbone.blocks.8.attn.qkv.bias [2304]
        backbone.backbone.blocks.8.attn.project.0.weight [768,768]
        backbone.backbone.blocks.8.attn.project.0.bias [768]
        backbone.backbone.blocks.8.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.8.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.8.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.8.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.8.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.8.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.8.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.8.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.8.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.8.mlp.0.weight [3072,768]
        backbone.backbone.blocks.8.mlp.0.bias [3072]
        backbone.backbone.blocks.8.mlp.3.weight [768,3072]
        backbone.backbone.blocks.8.mlp.3.bias [768]
        backbone.backbone.blocks.8.project.weight [768,384]
        backbone.backbone.blocks.8.project.bias [768]
        backbone.backbone.blocks.9.norm1.weight [768]
        backbone.backbone.blocks.9.norm1.bias [768]
        backbone.backbone.blocks.9.norm2.weight [768]
        backbone.backbone.blocks.9.norm2.bias [768]
        backbone.backbone.blocks.9.attn.rel_pos_h [13,96]
        backbone.backbone.blocks.9.attn.rel_pos_w [13,96]
        backbone.backbone.blocks.9.attn.rel_pos_t [15,96]
        backbone.backbone.blocks.9.attn.qkv.weight [2304,768]
        backbone.backbone.blocks.9.attn.qkv.bias [2304]
        backbone.backbone.blocks.9.attn.project.0.weight [768,768]
        backbone.backbone.blocks.9.attn.project.0.bias [768]
        backbone.backbone.blocks.9.attn.pool_q.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.9.attn.pool_q.norm_act.0.weight [96]
        backbone.backbone.blocks.9.attn.pool_q.norm_act.0.bias [96]
        backbone.backbone.blocks.9.attn.pool_k.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.9.attn.pool_k.norm_act.0.weight [96]
        backbone.backbone.blocks.9.attn.pool_k.norm_act.0.bias [96]
        backbone.backbone.blocks.9.attn.pool_v.pool.weight [96,1,3,3,3]
        backbone.backbone.blocks.9.attn.pool_v.norm_act.0.weight [96]
        backbone.backbone.blocks.9.attn.pool_v.norm_act.0.bias [96]
        backbone.backbone.blocks.9.mlp.0.weight [3072,768]
        backbone.backbone.blocks.9.mlp.0.bias [3072]
        backbone.backbone.blocks.9.mlp.3.weight [768,3072]
        backbone.backbone.blocks.9.mlp.3.bias [768]
        backbone.backbone.norm.weight [768]
        backbone.backbone.norm.bias [768]
        backbone.PANLayer.0.weight [384,384,3,3]
        backbone.CatConv.weight [768,1152,1,1]
        backbone.WaveLifts.spatial_pos [49,768]
        backbone.WaveLifts.temporal_pos [8,768]
        backbone.WaveLifts.class_pos [768]
        backbone.WaveLifts.q_d.weight [768,768]
        backbone.WaveLifts.q_d.bias [768]
        backbone.WaveLifts.kv_a.weight [1536,768]
        backbone.WaveLifts.kv_a.bias [1536]
        backbone.WaveLifts.q_a.weight [768,768]
        backbone.WaveLifts.q_a.bias [768]
        backbone.WaveLifts.kv_d.weight [1536,768]
        backbone.WaveLifts.kv_d.bias [1536]
        backbone.WaveLifts.project_d.0.weight [768,768]
        backbone.WaveLifts.project_d.0.bias [768]
        backbone.WaveLifts.project_a.0.weight [768,768]
        backbone.WaveLifts.project_a.0.bias [768]
        backbone.WaveLifts.adapt_split.index_even [4]
        backbone.WaveLifts.adapt_split.index_odd [4]
        backbone.WaveLifts.adapt_split.dim_project.0.weight [7,768,1,1]
        backbone.WaveLifts.adapt_split.dim_project.0.bias [7]
        backbone.WaveLifts.adapt_split.time_project.0.weight [8,8]
        backbone.WaveLifts.adapt_split.time_project.0.bias [8]
        backbone.WaveLifts.adapt_split.time_project.2.weight [1,8]
        backbone.WaveLifts.adapt_split.time_project.2.bias [1]
        backbone.WaveLifts.adapt_split.offset_project_approx.0.weight [4,64]
        backbone.WaveLifts.adapt_split.offset_project_detail.0.weight [4,64]
        backbone.WaveLifts.xa_norm.weight [768]
        backbone.WaveLifts.xa_norm.bias [768]
        backbone.WaveLifts.xd_norm.weight [768]
        backbone.WaveLifts.xd_norm.bias [768]
        backbone.WaveLifts.out_norm1.weight [768]
        backbone.WaveLifts.out_norm1.bias [768]
        backbone.WaveLifts.out_norm2.weight [768]
        backbone.WaveLifts.out_norm2.bias [768]
        backbone.WaveLifts.qkv.weight [2304,768]
        backbone.WaveLifts.qkv.bias [2304]
        backbone.WaveLifts.project.0.weight [768,768]
        backbone.WaveLifts.project.0.bias [768]
        backbone.WaveLifts.mlp.0.weight [3072,768]
        backbone.WaveLifts.mlp.0.bias [3072]
        backbone.WaveLifts.mlp.3.weight [768,3072]
        backbone.WaveLifts.mlp.3.bias [768]
        backbone.WaveLifts.project_compress.weight [1,196]
        head.head.1.weight [7,768]
        head.head.1.bias [7]
        """;
}

/// <summary>The embedded key listing itself: 297 entries, the spec's parameter count.</summary>
[TestFixture]
public sealed class IfddShapesTests
{
    [Test]
    public void Listing_HasThe297EntriesAndTheSpecsParameterCount()
    {
        Assert.That(IfddShapes.All, Has.Count.EqualTo(297));
        Assert.That(IfddShapes.All.Select(e => e.Name).Distinct().Count(), Is.EqualTo(297));
        long parameters = IfddShapes.All
            .Where(e => !e.Name.Contains("index_", StringComparison.Ordinal))
            .Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        Assert.That(parameters, Is.EqualTo(37_577_123));
    }
}
