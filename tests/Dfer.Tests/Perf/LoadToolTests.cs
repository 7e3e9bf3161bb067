extern alias load;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Histogram = load::Dfer.Load.Histogram;
using HistogramDiff = load::Dfer.Load.HistogramDiff;
using Loopback = load::Dfer.Load.Loopback;
using LoopbackRefusedException = load::Dfer.Load.LoopbackRefusedException;
using MemoryResult = load::Dfer.Load.MemoryResult;
using MemoryRun = load::Dfer.Load.MemoryRun;
using OutputTensor = load::Dfer.Load.OutputTensor;
using Payloads = load::Dfer.Load.Payloads;
using PrometheusText = load::Dfer.Load.PrometheusText;
using RawHttp = load::Dfer.Load.RawHttp;
using Stats = load::Dfer.Load.Stats;

namespace Dfer.Tests.Perf;

/// <summary>
/// perf/Dfer.Load (dfer-load, perf/Dfer.Load/README.md) without a server: its percentiles and stabilisation rule on
/// hand-made numbers, its Prometheus text parser and histogram diff on a hand-written exposition, its loopback rule,
/// and the binary tensor extension's layout against bytes written out by hand.
/// </summary>
[TestFixture]
public sealed class LoadToolTests
{
    [Test]
    public void PercentilesAreNearestRank()
    {
        // Five values: rank ⌈p/100·5⌉; 30 % → rank 2, 50 % → rank 3 (2.5 rounded up), 100 % → rank 5.
        double[] five = [15, 20, 35, 40, 50];
        Assert.That(Stats.Percentile(five, 30), Is.EqualTo(20));
        Assert.That(Stats.Percentile(five, 40), Is.EqualTo(20));
        Assert.That(Stats.Percentile(five, 50), Is.EqualTo(35));
        Assert.That(Stats.Percentile(five, 100), Is.EqualTo(50));
        Assert.That(Stats.Percentile(five, 0), Is.EqualTo(15));

        double[] hundred = Enumerable.Range(1, 100).Select(i => (double)i).ToArray();
        Assert.That(Stats.Percentile(hundred, 50), Is.EqualTo(50));
        Assert.That(Stats.Percentile(hundred, 90), Is.EqualTo(90));
        Assert.That(Stats.Percentile(hundred, 99), Is.EqualTo(99));
        Assert.That(Stats.Percentile(hundred, 99.5), Is.EqualTo(100));

        // Ten values: 90 % is exactly rank 9; 99 % is rank ⌈9.9⌉ = 10, the maximum.
        double[] ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1000];
        Assert.That(Stats.Percentile(ten, 90), Is.EqualTo(9));
        Assert.That(Stats.Percentile(ten, 99), Is.EqualTo(1000));

        Assert.That(Stats.Percentile([7.5], 99), Is.EqualTo(7.5));
        Assert.That(Stats.Percentile([], 50), Is.NaN);
        Assert.Throws<ArgumentOutOfRangeException>(() => Stats.Percentile(five, 101));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stats.Percentile(five, -1));
    }

    [Test]
    public void StableMeansTheLastThreeWindowsWithinTenPercentOfTheirMean()
    {
        Assert.That(Stats.IsStable([100, 105, 95]), Is.True);
        // Only the last three count: an early slow window does not matter.
        Assert.That(Stats.IsStable([20, 60, 100, 105, 95]), Is.True);
        // Mean 100, each at most 10 away: the boundary is stable.
        Assert.That(Stats.IsStable([90, 100, 110]), Is.True);
        // Mean 100, 11 away: not.
        Assert.That(Stats.IsStable([89, 100, 111]), Is.False);
        // Mean 108.33, 125 is 15.4 % above it.
        Assert.That(Stats.IsStable([100, 100, 125]), Is.False);
        // Stable once, then a slow window breaks it.
        Assert.That(Stats.IsStable([100, 100, 100, 50]), Is.False);
        Assert.That(Stats.IsStable([100, 100]), Is.False);
        Assert.That(Stats.IsStable([0, 0, 0]), Is.False);
        // Other counts and tolerances: mean 100, 4 away is within 5 %, 6 away is not.
        Assert.That(Stats.IsStable([96, 100, 104, 100], windows: 4, tolerance: 0.05), Is.True);
        Assert.That(Stats.IsStable([94, 100, 106, 100], windows: 4, tolerance: 0.05), Is.False);
    }

    private const string Before = """
        # HELP dfer_batch_size Clips per forward pass.
        # TYPE dfer_batch_size histogram
        dfer_batch_size_bucket{model="m3dfel",le="1"} 3
        dfer_batch_size_bucket{model="m3dfel",le="2"} 5
        dfer_batch_size_bucket{model="m3dfel",le="4"} 6
        dfer_batch_size_bucket{model="m3dfel",le="8"} 6
        dfer_batch_size_bucket{model="m3dfel",le="+Inf"} 6
        dfer_batch_size_sum{model="m3dfel"} 13
        dfer_batch_size_count{model="m3dfel"} 6
        dfer_batch_size_bucket{model="ifdd",le="1"} 100
        dfer_batch_size_bucket{model="ifdd",le="2"} 200
        dfer_batch_size_bucket{model="ifdd",le="4"} 300
        dfer_batch_size_bucket{model="ifdd",le="8"} 400
        dfer_batch_size_bucket{model="ifdd",le="+Inf"} 500
        dfer_batch_size_sum{model="ifdd"} 9999
        dfer_batch_size_count{model="ifdd"} 500
        # HELP process_resident_memory_bytes Resident memory size in bytes.
        # TYPE process_resident_memory_bytes gauge
        process_resident_memory_bytes 1.5e+08
        http_requests_total{path="a\"b\\c\nd" , code="200",} 7 1700000000000
        """;

    // m3dfel after: one more pass of 1 clip, four of 2, four of 3 or 4, one of 5 to 8 (sum 1 + 8 + 14 + 5 = 28).
    private const string After = """
        dfer_batch_size_bucket{model="m3dfel",le="1"} 4
        dfer_batch_size_bucket{model="m3dfel",le="2"} 10
        dfer_batch_size_bucket{model="m3dfel",le="4"} 15
        dfer_batch_size_bucket{model="m3dfel",le="8"} 16
        dfer_batch_size_bucket{model="m3dfel",le="+Inf"} 16
        dfer_batch_size_sum{model="m3dfel"} 41
        dfer_batch_size_count{model="m3dfel"} 16
        dfer_batch_size_bucket{model="ifdd",le="1"} 1000
        dfer_batch_size_bucket{model="ifdd",le="2"} 2000
        dfer_batch_size_bucket{model="ifdd",le="4"} 3000
        dfer_batch_size_bucket{model="ifdd",le="8"} 4000
        dfer_batch_size_bucket{model="ifdd",le="+Inf"} 5000
        dfer_batch_size_sum{model="ifdd"} 99999
        dfer_batch_size_count{model="ifdd"} 5000
        process_resident_memory_bytes 2.25E8
        """;

    private static readonly Dictionary<string, string> M3dfel = new() { ["model"] = "m3dfel" };

    [Test]
    public void PrometheusTextIsParsedSampleBySample()
    {
        var samples = PrometheusText.Parse(Before);
        Assert.That(samples, Has.Count.EqualTo(16));
        Assert.That(PrometheusText.Gauge(samples, "process_resident_memory_bytes"), Is.EqualTo(150_000_000));
        Assert.That(PrometheusText.Gauge(samples, "no_such_metric"), Is.Null);
        var http = samples.Single(s => s.Name == "http_requests_total");
        Assert.That(http.Labels["path"], Is.EqualTo("a\"b\\c\nd"));
        Assert.That(http.Labels["code"], Is.EqualTo("200"));
        Assert.That(http.Value, Is.EqualTo(7));
        Assert.That(PrometheusText.Histogram(samples, "no_such_histogram", M3dfel), Is.Null);

        Histogram h = PrometheusText.Histogram(samples, "dfer_batch_size", M3dfel)!;
        Assert.That(h.Buckets.Select(b => b.UpperBound),
            Is.EqualTo(new[] { 1, 2, 4, 8, double.PositiveInfinity }));
        Assert.That(h.Buckets.Select(b => b.Cumulative), Is.EqualTo(new double[] { 3, 5, 6, 6, 6 }));
        Assert.That(h.Sum, Is.EqualTo(13));
        Assert.That(h.Count, Is.EqualTo(6));
    }

    [Test]
    public void HistogramDiffGivesEachBucketsObservationsInTheWindow()
    {
        Histogram before = PrometheusText.Histogram(PrometheusText.Parse(Before), "dfer_batch_size", M3dfel)!;
        Histogram after = PrometheusText.Histogram(PrometheusText.Parse(After), "dfer_batch_size", M3dfel)!;
        HistogramDiff d = after.Minus(before);
        // Cumulative differences 1, 5, 9, 10, 10: per bucket 1, 4, 4, 1, 0.
        Assert.That(d.Buckets.Select(b => b.Count), Is.EqualTo(new long[] { 1, 4, 4, 1, 0 }));
        Assert.That(d.Count, Is.EqualTo(10));
        Assert.That(d.Sum, Is.EqualTo(28));
        Assert.That(d.Mean, Is.EqualTo(2.8).Within(1e-12));
        Assert.That(d.Describe(), Is.EqualTo("<=1:1 2:4 3-4:4 5-8:1"));
        // Batch sizes are at least 1: with the floor 0 the first bucket reads as the size it holds.
        Assert.That(d.Describe(floor: 0), Is.EqualTo("1:1 2:4 3-4:4 5-8:1"));
        Assert.That(HistogramDiff.Label(8, double.PositiveInfinity), Is.EqualTo(">8"));
        Assert.That(HistogramDiff.Label(0.5, 2.5), Is.EqualTo("(0.5, 2.5]"));

        // Backwards (a restarted server) and different buckets cannot be diffed.
        Assert.Throws<FormatException>(() => before.Minus(after));
        var other = new Histogram([(1, 3), (16, 6), (double.PositiveInfinity, 6)], 13, 6);
        Assert.Throws<FormatException>(() => after.Minus(other));
    }

    [Test]
    public void MalformedMetricsLinesAreNamedByNumber()
    {
        var ex = Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x gauge\nx 1\nx{le=\"1} 2\n"));
        Assert.That(ex!.Message, Does.StartWith("metrics line 3: not a sample"));
        Assert.Throws<FormatException>(() => PrometheusText.Parse("x one"));
        Assert.Throws<FormatException>(() => PrometheusText.Parse("x{a=\"1\",a=\"2\"} 1"));
        Assert.Throws<FormatException>(() => PrometheusText.Parse("9x 1"));
        Assert.Throws<FormatException>(() => PrometheusText.Parse("x{a=\"\\q\"} 1"));
        Assert.That(PrometheusText.Parse("x +Inf\ny NaN\n")[0].Value, Is.EqualTo(double.PositiveInfinity));
    }

    [TestCase("127.0.0.1", true)]
    [TestCase("127.255.255.254", true)]
    [TestCase("127.1", true)]
    [TestCase("localhost", true)]
    [TestCase("LocalHost", true)]
    [TestCase("[::1]", true)]
    [TestCase("::1", true)]
    [TestCase("[::ffff:127.0.0.1]", true)]
    [TestCase("128.0.0.1", false)]
    [TestCase("126.255.255.255", false)]
    [TestCase("10.0.0.1", false)]
    [TestCase("0.0.0.0", false)]
    [TestCase("[::]", false)]
    [TestCase("[::2]", false)]
    [TestCase("[::ffff:10.0.0.1]", false)]
    [TestCase("example.com", false)]
    [TestCase("localhost.example.com", false)]
    [TestCase("", false)]
    public void OnlyLoopbackHostsAreAccepted(string host, bool accepted) =>
        Assert.That(Loopback.IsLoopbackHost(host), Is.EqualTo(accepted));

    [Test]
    public void TargetsAreReadOrRefusedWithOneLine()
    {
        Assert.That(Loopback.ParseTarget("--url", "http://127.0.0.1:8080", false, out _)!.Port, Is.EqualTo(8080));
        Assert.That(Loopback.ParseTarget("--grpc", "127.0.0.1:8081", true, out _)!.Port, Is.EqualTo(8081));
        Assert.That(Loopback.ParseTarget("--grpc", "[::1]:8081", true, out _)!.Host, Is.EqualTo("[::1]"));
        foreach (var (text, problem) in new[]
        {
            ("http://10.1.2.3:80", "not a loopback address"),
            ("http://127.0.0.1@example.com:80", "not a loopback address"),
            ("http://localhost.example.com:80", "not a loopback address"),
            ("https://127.0.0.1:8443", "only http://"),
            ("http://127.0.0.1:8080/v2", "no path"),
            ("http://127.0.0.1", "needs a port"),
            ("127.0.0.1:8080", "not a URL"),
        })
        {
            Assert.That(Loopback.ParseTarget("--url", text, false, out string? error), Is.Null, text);
            Assert.That(error, Does.StartWith($"--url {text}: ").And.Contain(problem).And.Not.Contain("\n"), text);
        }
    }

    [Test]
    public async Task ConnectionsGoOnlyToLoopbackAddresses()
    {
        // Refused before any packet: a literal outside 127/8 (TEST-NET-1, which would otherwise time out).
        var refused = Assert.ThrowsAsync<LoopbackRefusedException>(
            () => Loopback.ConnectAsync("192.0.2.1", 80, CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain("not a loopback address"));

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using Socket socket = await Loopback.ConnectAsync("127.0.0.1", port, CancellationToken.None);
        using Socket accepted = await listener.AcceptSocketAsync();
        Assert.That(((IPEndPoint)socket.RemoteEndPoint!).Port, Is.EqualTo(port));
    }

    [Test]
    public void ChunkedAnswersAreReadOnceTheLastChunkIsIn()
    {
        // "{\"error\":\"big\"}" in two chunks of 5 (0x5) and 10 (0xa) bytes, then the last chunk.
        byte[] wire = Encoding.ASCII.GetBytes("5\r\n{\"err\r\na;ext=1\r\nor\":\"big\"}\r\n0\r\n\r\n");
        Assert.That(RawHttp.TryDechunk(wire, out byte[]? data), Is.True);
        Assert.That(Encoding.ASCII.GetString(data!), Is.EqualTo("{\"error\":\"big\"}"));
        // Without the last chunk, or cut inside a chunk, it is not complete yet.
        Assert.That(RawHttp.TryDechunk(wire[..^5], out _), Is.False);
        Assert.That(RawHttp.TryDechunk(wire[..8], out _), Is.False);
        Assert.That(RawHttp.TryDechunk(Encoding.ASCII.GetBytes("zz\r\n"), out _), Is.False);
    }

    [Test]
    public void BinaryRequestsAreTheJsonHeaderThenLittleEndianBytes()
    {
        const string header = "{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[1,2],"
            + "\"parameters\":{\"binary_data_size\":8}}],\"outputs\":[{\"name\":\"logits\","
            + "\"parameters\":{\"binary_data\":true}}]}";
        // 1.0f is 0x3F800000 and -2.0f is 0xC0000000, least significant byte first.
        byte[] raw = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0];
        var (body, headerLength) = Payloads.Binary("clips", "FP32", [1, 2], raw, binaryOutputs: ["logits"]);
        Assert.That(headerLength, Is.EqualTo(header.Length));
        Assert.That(Encoding.UTF8.GetString(body, 0, headerLength), Is.EqualTo(header));
        Assert.That(body[headerLength..], Is.EqualTo(raw));

        // The answer in the same layout reads back as [1, -2].
        byte[] answerHeader = Encoding.UTF8.GetBytes("{\"outputs\":[{\"name\":\"logits\",\"datatype\":\"FP32\","
            + "\"shape\":[1,2],\"parameters\":{\"binary_data_size\":8}}]}");
        List<OutputTensor> outputs = Payloads.ReadBinary([.. answerHeader, .. raw], answerHeader.Length);
        Assert.That(outputs.Single().Data, Is.EqualTo(new[] { 1f, -2f }));
        Assert.That(Payloads.Check(outputs, 1, ["logits"]), Is.Null);
        Assert.That(Payloads.Check(outputs, 2, ["logits"]), Does.Contain("shape [1,2]"));
        Assert.That(Payloads.Check(outputs, 1, ["probabilities"]), Is.EqualTo("no output probabilities"));
        Assert.Throws<FormatException>(() => Payloads.ReadBinary([.. answerHeader, .. raw[..4]], answerHeader.Length));
        Assert.Throws<FormatException>(() => Payloads.ReadBinary([.. answerHeader, .. raw], answerHeader.Length + 9));
    }

    /// <summary>--memory-run judges memory after the run (once idle) against memory after the warm-up; the moment
    /// the load stopped is reported beside it, not judged.</summary>
    [Test]
    public void TheMemoryRatioIsAfterTheSettleOverAfterTheWarmup()
    {
        const double MiB = 1 << 20;
        MemoryResult Result(double settled, double? limit, int fails = 0) => new(10, 30, 1600 * MiB, 1920 * MiB, 60,
            settled * MiB, 2250 * MiB, [(30, 1600 * MiB), (600, 1920 * MiB), (660, settled * MiB)], 3450,
            new Dictionary<string, long>(), [("flood of 256 gRPC requests", 5, fails)], limit);

        MemoryResult ok = Result(1680, 1.10);
        Assert.That(ok.Ratio, Is.EqualTo(1.05).Within(1e-12));
        Assert.That(ok.EndRatio, Is.EqualTo(1.2).Within(1e-12));
        Assert.That(ok.Pass, Is.True, "1.05 is within 1.10; the 1.2 when the load stopped is not judged");
        Assert.That(Result(1792, 1.10).Pass, Is.False, "1.12 is over 1.10");
        Assert.That(Result(1792, null).Pass, Is.True, "no limit given");
        Assert.That(Result(1680, 1.10, fails: 1).Pass, Is.False, "a failed fault check fails the run");

        var text = new StringWriter();
        MemoryRun.Write(text, ok);
        Assert.That(text.ToString(), Does.Contain("PASS  flood of 256 gRPC requests: 5 passed, 0 failed"));
        Assert.That(text.ToString(), Does.Contain("server RSS: 1600.0 MiB after warm-up, 1920.0 MiB when the load "
            + "stopped (ratio 1.200), 1680.0 MiB after 60 s idle, max 2250.0 MiB; ratio 1.050 (limit 1.1)"));
    }
}
