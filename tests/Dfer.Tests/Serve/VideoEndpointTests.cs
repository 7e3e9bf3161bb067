using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Dfer.Cli.Serve;
using Dfer.Tests.Cli;
using Dfer.Tests.Devices;

namespace Dfer.Tests.Serve;

/// <summary>The demo clip (scripts/make-demo-video.sh: a 3 s, 25 frames/s zoom onto a smiling face), made once.
/// </summary>
internal static class DemoVideo
{
    private static readonly Lazy<string> Made = new(Make);

    public static string Path => Made.Value;

    private static string Make()
    {
        string script = System.IO.Path.Combine(CudaTestSupport.RepoRoot, "scripts", "make-demo-video.sh");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string path = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        if (p.ExitCode != 0 || !File.Exists(path))
            Assert.Fail($"scripts/make-demo-video.sh failed (exit {p.ExitCode}): {stderr.Result}");
        return path;
    }
}

/// <summary>
/// The video endpoint (POST /v2/models/{name}/video) with expression and m3dfel: the demo clip, raw and multipart,
/// answered with the JSON `dfer infer --format json` prints for it (run in-process here), the DFER model's clips
/// through the batcher bit for bit; bad uploads refused with one line; the temporary files gone after every request.
/// </summary>
[TestFixture]
[NonParallelizable]
public class VideoEndpointTests
{
    private const int MaxBodyMb = 1;

    private TestServer _server = null!;
    private HashSet<string> _tempBefore = null!;
    private static readonly Lazy<JsonObject> CliExpression = new(() => Cli("expression"));
    private static readonly Lazy<JsonObject> CliM3dfel = new(() => Cli("m3dfel", "--generated-weights"));

    [OneTimeSetUp]
    public async Task SetUp()
    {
        _ = DemoVideo.Path;
        _server = await TestServer.StartAsync(
            TestServer.Settings("expression", "m3dfel") with { MaxBodyMb = MaxBodyMb });
    }

    [OneTimeTearDown]
    public async Task TearDown() => await _server.DisposeAsync();

    [SetUp]
    public void RecordTempFiles() => _tempBefore = TempFiles();

    /// <summary>Every request leaves no temporary file behind, whatever its answer.</summary>
    [TearDown]
    public void NoTempFileLeft() =>
        Assert.That(TempFiles().Except(_tempBefore), Is.Empty, "temporary files left in " + Path.GetTempPath());

    private static HashSet<string> TempFiles() =>
        Directory.EnumerateFiles(Path.GetTempPath(), VideoEndpoint.TempPrefix + "*").ToHashSet();

    /// <summary>`dfer infer --model MODEL DEMO --format json`, parsed.</summary>
    private static JsonObject Cli(string model, params string[] more)
    {
        var run = CliHarness.Run(["infer", "--model", model, DemoVideo.Path, "--format", "json", .. more]);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        return JsonNode.Parse(run.Stdout)!.AsObject();
    }

    private static ByteArrayContent Raw(byte[] bytes, string type = "video/mp4")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return content;
    }

    private static MultipartFormDataContent Multipart(byte[] bytes, string fileName)
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("video/mp4");
        return new MultipartFormDataContent { { new StringContent("ignored"), "note" }, { file, "video", fileName } };
    }

    private async Task<(int Status, string Body)> PostAsync(string model, HttpContent content)
    {
        using var response = await _server.Http.PostAsync($"/v2/models/{model}/video", content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The answer with each result's input replaced by the CLI's (the CLI names the path, the server the
    /// upload) and the server's additions (per_clip, video) taken out, for comparing with the CLI.</summary>
    private static JsonObject AsCli(JsonObject answer, JsonObject cli)
    {
        var copy = answer.DeepClone().AsObject();
        copy.Remove("video");
        var results = copy["results"]!.AsArray();
        for (int i = 0; i < results.Count; i++)
        {
            results[i]!["input"] = cli["results"]![i]!["input"]!.GetValue<string>();
            results[i]!.AsObject().Remove("per_clip");
        }
        return copy;
    }

    private static void AssertSameJson(JsonObject actual, JsonObject expected) =>
        Assert.That(JsonNode.DeepEquals(actual, expected), Is.True,
            $"server:\n{Cut(actual.ToJsonString())}\nCLI:\n{Cut(expected.ToJsonString())}");

    private static string Cut(string s) => s.Length > 3000 ? s[..3000] + "…" : s;

    [Test]
    public async Task Expression_RawBody_IsHappy_AndTheCliJson()
    {
        var (status, body) = await PostAsync("expression", Raw(File.ReadAllBytes(DemoVideo.Path)));
        Assert.That(status, Is.EqualTo(200), body);
        var answer = JsonNode.Parse(body)!.AsObject();
        var result = answer["results"]![0]!;
        // The README's first command: happy 1.00 on the demo clip.
        Assert.That(result["label"]!.GetValue<string>(), Is.EqualTo("happy"));
        Assert.That(result["probabilities"]![0]!.GetValue<float>(), Is.GreaterThan(0.995f));
        Assert.That(result["input"]!.GetValue<string>(), Is.EqualTo(VideoEndpoint.UploadName));
        Assert.That(result["per_frame"]!.AsArray(), Has.Count.EqualTo(75), "3 s at 25 frames/s");
        AssertSameJson(AsCli(answer, CliExpression.Value), CliExpression.Value);
    }

    [Test]
    public async Task Expression_Multipart_NamesTheFile_AndTheCliJson()
    {
        var (status, body) = await PostAsync("expression",
            Multipart(File.ReadAllBytes(DemoVideo.Path), "smile.mp4"));
        Assert.That(status, Is.EqualTo(200), body);
        var answer = JsonNode.Parse(body)!.AsObject();
        Assert.That(answer["results"]![0]!["input"]!.GetValue<string>(), Is.EqualTo("smile.mp4"));
        Assert.That(answer["results"]![0]!["label"]!.GetValue<string>(), Is.EqualTo("happy"));
        AssertSameJson(AsCli(answer, CliExpression.Value), CliExpression.Value);
    }

    [Test]
    public async Task M3dfel_Multipart_HasTheCliLogits_AndItsClips()
    {
        var (status, body) = await PostAsync("m3dfel", Multipart(File.ReadAllBytes(DemoVideo.Path), "smile.mp4"));
        Assert.That(status, Is.EqualTo(200), body);
        var answer = JsonNode.Parse(body)!.AsObject();
        var cli = CliM3dfel.Value;
        var result = answer["results"]!.AsArray().Single()!;
        Assert.That(result["input"]!.GetValue<string>(), Is.EqualTo("smile.mp4"));
        // The batcher's logits are the CLI's bit for bit (the CPU backend is batch-invariant), and so is the rest.
        Assert.That(Bits(result["logits"]!), Is.EqualTo(Bits(cli["results"]![0]!["logits"]!)));
        AssertSameJson(AsCli(answer, cli), cli);
        // M3DFEL samples one clip of 16 frames over the video: the clip is the video's score, made of the frames the
        // face stage reports.
        var clip = result["per_clip"]!.AsArray().Single()!;
        Assert.That(Bits(clip["logits"]!), Is.EqualTo(Bits(result["logits"]!)));
        Assert.That(clip["label"]!.GetValue<string>(), Is.EqualTo(result["label"]!.GetValue<string>()));
        var frames = clip["frames"]!.AsArray().Select(f => f!.GetValue<int>()).ToArray();
        Assert.That(frames, Has.Length.EqualTo(16));
        Assert.That(frames.Distinct(), Is.EqualTo(result["face"]!["boxes"]!.AsArray()
            .Select(b => b!["frame"]!.GetValue<int>())));
        Assert.That(answer["video"]!["fps"]!.GetValue<double>(), Is.EqualTo(25));
        Assert.That(answer["video"]!["analysis_side"]!.GetValue<int>(), Is.EqualTo(640));
    }

    [Test]
    public async Task M3dfel_ChunkedRawBody_IsStoredWhileItArrives_AndDeletedAfter()
    {
        byte[] video = File.ReadAllBytes(DemoVideo.Path);
        var gate = new TaskCompletionSource();
        var content = new StreamContent(new GatedStream(video, 1 << 16, gate.Task));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var posting = PostAsync("m3dfel", content);
        // The first 64 KiB are in a temporary file while the rest has not been sent.
        var deadline = Stopwatch.StartNew();
        while (!TempFiles().Except(_tempBefore).Any() && deadline.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(20);
        var during = TempFiles().Except(_tempBefore).ToList();
        gate.SetResult();
        var (status, body) = await posting;
        Assert.That(during, Has.Count.EqualTo(1), "one temporary file while uploading");
        Assert.That(Path.GetFileName(during[0]), Does.StartWith(VideoEndpoint.TempPrefix));
        Assert.That(status, Is.EqualTo(200), body);
        Assert.That(File.Exists(during[0]), Is.False, "deleted once answered");
        var answer = JsonNode.Parse(body)!.AsObject();
        Assert.That(answer["results"]![0]!["input"]!.GetValue<string>(), Is.EqualTo(VideoEndpoint.UploadName));
        Assert.That(Bits(answer["results"]![0]!["logits"]!),
            Is.EqualTo(Bits(CliM3dfel.Value["results"]![0]!["logits"]!)));
    }

    private static int[] Bits(JsonNode array) =>
        array.AsArray().Select(v => BitConverter.SingleToInt32Bits(v!.GetValue<float>())).ToArray();

    [TestCase("expression", false)]
    [TestCase("m3dfel", true)]
    public async Task GarbageBytes_Are400_OneLineNamingTheUpload(string model, bool multipart)
    {
        var bytes = new byte[50_000];
        TestSeed.Random(7).NextBytes(bytes);
        var (status, body) = await PostAsync(model, multipart ? Multipart(bytes, "noise.mp4") : Raw(bytes));
        Assert.That(status, Is.EqualTo(400), body);
        Assert.That(body, Does.Not.Contain("\n"));
        var error = JsonNode.Parse(body)!.AsObject();
        Assert.That(error.Select(p => p.Key), Is.EqualTo(new[] { "error" }));
        Assert.That(error["error"]!.GetValue<string>(), Does.StartWith("the uploaded video: cannot decode video"));
        Assert.That(body, Does.Not.Contain(VideoEndpoint.TempPrefix).And.Not.Contain(Path.GetTempPath()));
    }

    [Test]
    public async Task OversizedBody_Is413_WithOrWithoutContentLength()
    {
        var bytes = new byte[(MaxBodyMb << 20) + (256 << 10)];
        // A declared length is refused before the body is read; Expect: 100-continue, so that the client waits for
        // the answer instead of writing the body into a connection the server closes.
        foreach (HttpContent declared in new HttpContent[] { Raw(bytes), Multipart(bytes, "big.mp4") })
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, "/v2/models/m3dfel/video") { Content = declared };
            post.Headers.ExpectContinue = true;
            using var response = await _server.Http.SendAsync(post);
            string body = await response.Content.ReadAsStringAsync();
            Assert.That((int)response.StatusCode, Is.EqualTo(413), body);
            Assert.That(body, Does.Contain("more than --max-body-mb allows"));
        }
        // Chunked, no length: counted while it is read. Just past the limit, so that the server has read all of it
        // when it answers and closes the connection (more would reset the connection under the client's writes).
        byte[] over = new byte[(MaxBodyMb << 20) + 4096];
        var chunked = new StreamContent(new GatedStream(over, over.Length, Task.CompletedTask));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("video/mp4");
        var (counted, countedBody) = await PostAsync("expression", chunked);
        Assert.That(counted, Is.EqualTo(413), countedBody);
        Assert.That(countedBody, Does.Contain("the request body is more than --max-body-mb allows"));
    }

    [Test]
    public async Task BadRequests_AreRefusedWithOneLine_AndCountedAsVideo()
    {
        string Metric(string text, string model, string status) => text.Split('\n').FirstOrDefault(l =>
            l.StartsWith($"dfer_request_errors_total{{model=\"{model}\",protocol=\"video\",status=\"{status}\"}}"))
            ?.Split(' ')[1] ?? "0";
        string before = await _server.Http.GetStringAsync("/metrics");

        var (unknown, unknownBody) = await PostAsync("nope", Raw([1, 2, 3]));
        Assert.That(unknown, Is.EqualTo(404), unknownBody);
        Assert.That(unknownBody, Does.Contain("unknown model 'nope'"));
        var (form, formBody) = await PostAsync("m3dfel", Raw([1, 2, 3], "application/x-www-form-urlencoded"));
        Assert.That(form, Is.EqualTo(415), formBody);
        Assert.That(formBody, Does.Contain("multipart/form-data"));
        var (empty, emptyBody) = await PostAsync("m3dfel", Raw([]));
        Assert.That((empty, emptyBody), Is.EqualTo((400, "{\"error\":\"the uploaded video is empty\"}")));
        var (noFile, noFileBody) = await PostAsync("m3dfel",
            new MultipartFormDataContent { { new StringContent("x"), "note" } });
        Assert.That(noFile, Is.EqualTo(400), noFileBody);
        Assert.That(noFileBody, Does.Contain("no file part"));

        string after = await _server.Http.GetStringAsync("/metrics");
        Assert.That(double.Parse(Metric(after, "unknown", "404")) - double.Parse(Metric(before, "unknown", "404")),
            Is.EqualTo(1));
        Assert.That(double.Parse(Metric(after, "m3dfel", "400")) - double.Parse(Metric(before, "m3dfel", "400")),
            Is.EqualTo(2));
        Assert.That(double.Parse(Metric(after, "m3dfel", "415")) - double.Parse(Metric(before, "m3dfel", "415")),
            Is.EqualTo(1));
    }

    [Test]
    public async Task MoreThanFourVideosPerWorkerWaiting_Are429()
    {
        // One worker (the default): four uploads held after 64 KiB (which HttpClient flushes) wait; the fifth video is
        // refused at once.
        int waiting = VideoEndpoint.WaitingPerWorker * _server.Server.Core.Settings.VideoWorkers;
        var noise = new byte[100_000];
        TestSeed.Random(11).NextBytes(noise);
        var gate = new TaskCompletionSource();
        var held = Enumerable.Range(0, waiting).Select(_ =>
        {
            var content = new StreamContent(new GatedStream(noise, 1 << 16, gate.Task));
            content.Headers.ContentType = new MediaTypeHeaderValue("video/mp4");
            return PostAsync("expression", content);
        }).ToList();
        var deadline = Stopwatch.StartNew();
        while (TempFiles().Except(_tempBefore).Count() < waiting && deadline.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(20);
        int uploading = TempFiles().Except(_tempBefore).Count();
        var (status, body) = await PostAsync("m3dfel", Raw(noise));
        gate.SetResult();
        var answers = await Task.WhenAll(held);
        Assert.That(uploading, Is.EqualTo(waiting), "the held uploads were in");
        Assert.That(status, Is.EqualTo(429), body);
        Assert.That(body, Does.Contain($"{waiting} videos are waiting for the 1 video worker(s); retry later"));
        // The held ones were taken, and each fails on its own bytes.
        Assert.That(answers.Select(a => a.Status), Is.All.EqualTo(400), string.Join("\n", answers.Select(a => a.Body)));
        // The queue is free again.
        var (after, afterBody) = await PostAsync("m3dfel", Raw(noise));
        Assert.That(after, Is.EqualTo(400), afterBody);
    }

    [Test]
    public async Task Server_AnnouncesTheExtension()
    {
        var (_, server) = await _server.GetAsync("/v2");
        Assert.That(server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()),
            Does.Contain("dfer_video"));
    }

    /// <summary>A body sent in two parts: the first <c>gateAt</c> bytes, then, once <c>gate</c> completes, the rest
    /// (no length: HttpClient sends it chunked).</summary>
    private sealed class GatedStream(byte[] data, int gateAt, Task gate) : Stream
    {
        private int _at;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancel = default)
        {
            if (_at == gateAt) await gate.WaitAsync(cancel);
            int end = _at < gateAt ? gateAt : data.Length;
            int n = Math.Min(buffer.Length, end - _at);
            data.AsMemory(_at, n).CopyTo(buffer);
            _at += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancel) =>
            ReadAsync(buffer.AsMemory(offset, count), cancel).AsTask();

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _at; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
