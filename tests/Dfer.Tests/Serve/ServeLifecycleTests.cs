using System.Diagnostics;
using System.Text.RegularExpressions;
using Dfer.Cli.Serve;
using Dfer.Cli.Serve.Protocol;
using Dfer.Tests.Cli;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dfer.Tests.Serve;

/// <summary>
/// `dfer serve` under pressure and at its edges (docs/serving.md): a full queue refuses at once, a cancelled request
/// leaves its batch, a deadline answers 504, shutdown finishes what is in flight, SIGTERM exits 0, and a bad command
/// line or checkpoint is one line and exit code 2.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ServeLifecycleTests
{
    private static ServeSettings OneAtATime(int queue, int timeoutMs = 60_000) =>
        TestServer.Settings("m3dfel") with { MaxBatch = 1, MaxDelayMs = 0, MaxQueue = queue, TimeoutMs = timeoutMs };

    [Test]
    public async Task AFullQueueRefusesAtOnceAndTheRestAreServed()
    {
        await using var server = await TestServer.StartAsync(OneAtATime(queue: 1));
        float[] clip = TestServer.Clips(1, 11);
        string body = TestServer.JsonRequest(clip, 1);
        var answers = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(_ => server.PostJsonAsync("/v2/models/m3dfel/infer", body)));
        int refused = answers.Count(a => a.Status == 429), served = answers.Count(a => a.Status == 200);
        Assert.That(refused + served, Is.EqualTo(8), string.Join("; ", answers.Select(a => a.Body.ToString())));
        Assert.That(refused, Is.GreaterThan(0), "eight at once against a queue of one");
        Assert.That(served, Is.GreaterThan(0));
        Assert.That(answers.First(a => a.Status == 429).Body.GetProperty("error").GetString(),
            Does.Contain("queue is full"));
        int[] first = TestServer.Bits(TestServer.Data(answers.First(a => a.Status == 200).Body, "logits"));
        foreach (var a in answers.Where(a => a.Status == 200))
            Assert.That(TestServer.Bits(TestServer.Data(a.Body, "logits")), Is.EqualTo(first));
        var (after, _) = await server.PostJsonAsync("/v2/models/m3dfel/infer", body);
        Assert.That(after, Is.EqualTo(200));
        string metrics = await server.Http.GetStringAsync("/metrics");
        Assert.That(metrics,
            Does.Contain("dfer_request_errors_total{model=\"m3dfel\",protocol=\"rest\",status=\"429\"} " + refused));
    }

    /// <summary>
    /// gRPC reads a message whole before the service runs, so the server admits calls before their message is read:
    /// with --max-queue 1 and --max-batch 1 it holds two calls at once, and of eight sent together at least six are
    /// refused RESOURCE_EXHAUSTED from their headers alone (GrpcAdmission); the answered ones have the same bits.
    /// </summary>
    [Test]
    public async Task GrpcCallsBeyondTheQueueAreRefusedBeforeTheirMessageIsRead()
    {
        await using var server = await TestServer.StartAsync(OneAtATime(queue: 1));
        Assert.That(server.Server.Core.MessageLimit, Is.EqualTo(2));
        using var channel = GrpcChannel.ForAddress(server.Server.GrpcAddress,
            new GrpcChannelOptions { MaxSendMessageSize = 64 << 20 });
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var request = new ModelInferRequest { ModelName = "m3dfel" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "clips", Datatype = "FP32" };
        input.Shape.AddRange([1, 16, 3, 112, 112]);
        request.Inputs.Add(input);
        float[] clip = TestServer.Clips(1, 14);
        byte[] raw = new byte[clip.Length * 4];
        Buffer.BlockCopy(clip, 0, raw, 0, raw.Length);
        request.RawInputContents.Add(ByteString.CopyFrom(raw));

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            try
            {
                var reply = await client.ModelInferAsync(request);
                return (Status: StatusCode.OK, Detail: "", Logits: reply.RawOutputContents[0].ToByteArray());
            }
            catch (RpcException ex)
            {
                return (Status: ex.StatusCode, Detail: ex.Status.Detail, Logits: Array.Empty<byte>());
            }
        }));
        var refused = answers.Where(a => a.Status == StatusCode.ResourceExhausted).ToList();
        var served = answers.Where(a => a.Status == StatusCode.OK).ToList();
        Assert.That(refused.Count + served.Count, Is.EqualTo(8),
            string.Join("; ", answers.Select(a => $"{a.Status} {a.Detail}")));
        Assert.That(served, Is.Not.Empty);
        // At most two get past the headers; of those, the batcher may still find its queue of one taken.
        const string unreadRefusal = "the server holds 2 inference calls, as many as its queues admit; retry later";
        Assert.That(refused.Count(a => a.Detail == unreadRefusal), Is.GreaterThanOrEqualTo(6));
        Assert.That(refused.Select(a => a.Detail), Is.All.StartsWith("the server holds 2 inference calls")
            .Or.Contains("queue is full"));
        foreach (var a in served) Assert.That(a.Logits, Is.EqualTo(served[0].Logits));
        int unread = refused.Count(a => a.Detail.StartsWith("the server holds", StringComparison.Ordinal));
        string metrics = await server.Http.GetStringAsync("/metrics");
        Assert.That(metrics, Does.Contain(
            "dfer_request_errors_total{model=\"-\",protocol=\"grpc\",status=\"ResourceExhausted\"} " + unread));
        // The next call is served: the refused ones left nothing behind.
        var after = await client.ModelInferAsync(request);
        Assert.That(after.RawOutputContents[0].ToByteArray(), Is.EqualTo(served[0].Logits));
        Assert.That(server.Server.TransportPools.Created, Is.GreaterThan(0), "Kestrel takes its pools from Dfer's");
    }

    /// <summary>--classes ferv39k labels the outputs in FERV39k's order, as `infer --classes` does.</summary>
    [Test]
    public async Task ClassesFerv39kIsTheMetadatasOrder()
    {
        await using var server = await TestServer.StartAsync(OneAtATime(queue: 1) with
        {
            Classes = Dfer.Models.ClassOrder.Ferv39k,
        });
        var (status, meta) = await server.GetAsync("/v2/models/m3dfel");
        Assert.That(status, Is.EqualTo(200));
        Assert.That(meta.GetProperty("properties").GetProperty("classes").GetString(),
            Is.EqualTo("angry,disgust,fear,happy,neutral,sad,surprise"));
    }

    [Test]
    public async Task ACancelledRequestLeavesItsBatch()
    {
        await using var server = await TestServer.StartAsync(OneAtATime(queue: 16));
        string body = TestServer.JsonRequest(TestServer.Clips(1, 12), 1);
        var running = server.PostJsonAsync("/v2/models/m3dfel/infer", body);
        using var cancel = new CancellationTokenSource();
        var abandoned = Enumerable.Range(0, 3).Select(_ => server.Http.PostAsync("/v2/models/m3dfel/infer",
            new StringContent(body, System.Text.Encoding.UTF8, "application/json"), cancel.Token)).ToArray();
        await Task.Delay(30);
        cancel.Cancel();
        foreach (var t in abandoned)
            Assert.CatchAsync<OperationCanceledException>(async () => await t);
        Assert.That((await running).Status, Is.EqualTo(200));
        var (after, _) = await server.PostJsonAsync("/v2/models/m3dfel/infer", body);
        Assert.That(after, Is.EqualTo(200));
        // The warm-up runs outside the batcher: the two answered requests, and not all three abandoned ones.
        string metrics = await server.Http.GetStringAsync("/metrics");
        var count = Regex.Match(metrics, "dfer_batch_size_count\\{model=\"m3dfel\"\\} (\\d+)");
        Assert.That(int.Parse(count.Groups[1].Value), Is.LessThan(5), metrics);
    }

    /// <summary>Twelve requests one clip at a time against a 200 ms deadline: an M3DFEL pass is 86 GFLOP, so no
    /// machine finishes all twelve in time; the late ones are 504, the others served.</summary>
    [Test]
    public async Task ADeadlinePassedIs504()
    {
        await using var server = await TestServer.StartAsync(OneAtATime(queue: 16, timeoutMs: 200));
        string body = TestServer.JsonRequest(TestServer.Clips(1, 13), 1);
        var answers = await Task.WhenAll(Enumerable.Range(0, 12)
            .Select(_ => server.PostJsonAsync("/v2/models/m3dfel/infer", body)));
        Assert.That(answers.Select(a => a.Status), Is.All.AnyOf(200, 504));
        var late = answers.Where(a => a.Status == 504).ToArray();
        Assert.That(late, Is.Not.Empty);
        Assert.That(late[0].Body.GetProperty("error").GetString(), Does.Contain("no result within 200 ms"));
        var (live, _) = await server.GetAsync("/v2/health/live");
        Assert.That(live, Is.EqualTo(200));
    }

    [Test]
    public async Task ShutdownFinishesTheRequestsInFlight()
    {
        var server = await TestServer.StartAsync(OneAtATime(queue: 16));
        string body = TestServer.JsonRequest(TestServer.Clips(2, 14), 2);
        var inFlight = Enumerable.Range(0, 3).Select(_ => server.PostJsonAsync("/v2/models/m3dfel/infer", body))
            .ToArray();
        await Task.Delay(50);
        var stopping = server.Server.DisposeAsync().AsTask();
        Assert.That(server.Server.Core.Ready, Is.False, "not ready once shutdown begins");
        var answers = await Task.WhenAll(inFlight);
        await stopping;
        Assert.That(answers.Select(a => a.Status), Is.All.EqualTo(200),
            string.Join("; ", answers.Select(a => a.Body.ToString())));
        Assert.CatchAsync<HttpRequestException>(async () => await server.Http.GetAsync("/v2/health/live"));
        server.Http.Dispose();
    }

    /// <summary>Live at once, not ready (503, also for inference) until the model is compiled and warm.</summary>
    [Test]
    public async Task NotReadyUntilTheModelsAreWarm()
    {
        var log = new StringWriter();
        var server = await DferServer.StartAsync(TestServer.Settings("rdfer") with { HttpPort = 0, GrpcPort = 0 },
            new Dfer.Cli.CliConsole(log, log, showProgress: false));
        try
        {
            using var http = new HttpClient { BaseAddress = server.HttpAddress };
            // RDFER's ResNet-50 takes seconds to build and warm: these requests arrive before that.
            using var live = await http.GetAsync("/v2/health/live");
            using var ready = await http.GetAsync("/v2/health/ready");
            using var infer = await http.PostAsync("/v2/models/rdfer/infer", new StringContent("{}"));
            Assert.That(server.Loaded.IsCompleted, Is.False, "RDFER was warm before the three requests were answered");
            Assert.That((int)live.StatusCode, Is.EqualTo(200));
            Assert.That((int)ready.StatusCode, Is.EqualTo(503));
            Assert.That((int)infer.StatusCode, Is.EqualTo(503));
            await server.Loaded;
            using var after = await http.GetAsync("/v2/health/ready");
            Assert.That((int)after.StatusCode, Is.EqualTo(200));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Test]
    public void SigtermStopsTheProcessWithExitCodeZero()
    {
        string dfer = typeof(ServeCommand).Assembly.Location;
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dfer, "serve", "--model", "m3dfel", "--generated-weights", "--http-port", "0",
                "--grpc-port", "0", "--threads", "1", "--log-json" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        var stderr = new System.Text.StringBuilder();
        var ready = new TaskCompletionSource<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            var m = Regex.Match(e.Data, "REST and the web page on (http://\\S+?)/?,");
            if (m.Success) ready.TrySetResult(m.Groups[1].Value);
            if (e.Data == "dfer: ready") ready.TrySetResult("ready");
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            Assert.That(ready.Task.Wait(TimeSpan.FromSeconds(60)), Is.True, () => stderr.ToString());
            string address = ready.Task.Result;
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline
                && http.GetAsync("/v2/health/ready").Result.StatusCode != System.Net.HttpStatusCode.OK)
                Thread.Sleep(100);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) kill.WaitForExit();
            Assert.That(process.WaitForExit(TimeSpan.FromSeconds(30)), Is.True, () => stderr.ToString());
            Assert.That(process.ExitCode, Is.EqualTo(0), () => stderr.ToString());
            Assert.That(stderr.ToString(), Does.Contain("shutting down"));
            // --log-json: the server's log events are JSON objects, one per line.
            var events = stderr.ToString().Split('\n').Where(l => l.StartsWith('{')).ToArray();
            Assert.That(events, Is.Not.Empty, () => stderr.ToString());
            foreach (string e in events)
            {
                using var doc = System.Text.Json.JsonDocument.Parse(e);
                Assert.That(doc.RootElement.TryGetProperty("LogLevel", out _), e);
            }
            Assert.That(events.Any(e => e.Contains("model m3dfel ready", StringComparison.Ordinal)), stderr.ToString);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [TestCase(new[] { "serve" }, "--model")]
    [TestCase(new[] { "serve", "--model", "m3dfel" }, "--generated-weights")]
    [TestCase(new[] { "serve", "--model", "nope=x.pth" }, "no model 'nope'")]
    [TestCase(new[] { "serve", "--model", "expression=x.pth" }, "without a checkpoint")]
    [TestCase(new[] { "serve", "--model", "m3dfel", "--model", "m3dfel", "--generated-weights" }, "already served")]
    [TestCase(new[] { "serve", "--model", "m3dfel", "--generated-weights", "--host", "nowhere" }, "not an IP address")]
    [TestCase(new[] { "serve", "--model", "m3dfel", "--generated-weights", "--max-batch", "0" }, "--max-batch")]
    public void BadCommandLinesAreOneLineAndExitTwo(string[] args, string message)
    {
        CliRun run = CliHarness.Run(args);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        // One error line (a usage error adds the house hint "Run 'dfer serve --help' for usage.").
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error:", StringComparison.Ordinal)).ToArray();
        Assert.That(errors, Has.Length.EqualTo(1), run.ToString());
        Assert.That(errors[0], Does.Contain(message));
        Assert.That(run.Stderr, Does.Not.Contain("   at "));
    }

    [Test]
    public void ABadCheckpointStopsTheServerWithOneLine()
    {
        using var harness = new CliHarness();
        string bad = harness.PathOf("broken.safetensors");
        File.WriteAllBytes(bad, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        CliRun run = CliHarness.Run("serve", "--model", $"m3dfel={bad}", "--http-port", "0", "--grpc-port", "0");
        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error:", StringComparison.Ordinal)).ToArray();
        Assert.That(errors, Has.Length.EqualTo(1), run.ToString());
        Assert.That(errors[0], Does.Contain("broken.safetensors"));
        Assert.That(run.Stderr, Does.Not.Contain("   at "));
    }
}
