using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using Dfer.Backends.Cpu;
using Dfer.Cli.Commands;
using Dfer.Cli.Serve;
using Dfer.Cli.Serve.Protocol;
using Dfer.Models;
using Dfer.Runtime;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dfer.Tests.Serve;

/// <summary>
/// `dfer serve` with m3dfel over both transports of the Open Inference Protocol (docs/serving.md): health, metadata,
/// inference with JSON, binary and gRPC tensors (a client generated from grpc_predict_v2.proto), concurrent requests
/// batched, and the errors each bad request gets. Logits are compared bit for bit with the engine's own session on the
/// same generated weights, each clip run alone.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenInferenceProtocolTests
{
    private TestServer _server = null!;
    private GrpcChannel _channel = null!;
    private GRPCInferenceService.GRPCInferenceServiceClient _grpc = null!;
    private CpuBackend _cpu = null!;
    private Session _reference = null!;

    [OneTimeSetUp]
    public async Task SetUp()
    {
        _server = await TestServer.StartAsync(TestServer.Settings("m3dfel") with
        {
            MaxBatch = 4,
            MaxDelayMs = 200,
            MaxQueue = 32,
            MaxBodyMb = 48,
        });
        _channel = GrpcChannel.ForAddress(_server.Server.GrpcAddress,
            new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
        _grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        IModel model = ModelRegistry.Get("m3dfel");
        _cpu = new CpuBackend(2);
        _reference = new Session(model, model.GenerateWeights(SharedOptions.GeneratedWeightsSeed), _cpu);
    }

    [OneTimeTearDown]
    public async Task TearDown()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
        _reference.Dispose();
        _cpu.Dispose();
    }

    /// <summary>Each clip alone through the engine: the logits a request must get bit for bit.</summary>
    private float[][] Alone(float[] clips, int n) => Enumerable.Range(0, n)
        .Select(i => _reference.Run(clips.AsSpan(i * _reference.ClipLength, _reference.ClipLength), 1)[0].Logits)
        .ToArray();

    [Test]
    public async Task HealthAndMetadataOverRest()
    {
        var (status, live) = await _server.GetAsync("/v2/health/live");
        Assert.That((status, live.GetProperty("live").GetBoolean()), Is.EqualTo((200, true)));
        var (readyStatus, ready) = await _server.GetAsync("/v2/health/ready");
        Assert.That((readyStatus, ready.GetProperty("ready").GetBoolean()), Is.EqualTo((200, true)));
        var (_, server) = await _server.GetAsync("/v2");
        Assert.That(server.GetProperty("name").GetString(), Is.EqualTo("dfer"));
        Assert.That(server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()),
            Does.Contain("binary_tensor_data"));
        var (metaStatus, meta) = await _server.GetAsync("/v2/models/m3dfel");
        Assert.That(metaStatus, Is.EqualTo(200));
        var input = meta.GetProperty("inputs")[0];
        Assert.That(input.GetProperty("name").GetString(), Is.EqualTo("clips"));
        Assert.That(input.GetProperty("datatype").GetString(), Is.EqualTo("FP32"));
        Assert.That(input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()),
            Is.EqualTo(new long[] { -1, 16, 3, 112, 112 }));
        Assert.That(meta.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()),
            Is.EqualTo(new[] { "logits", "probabilities" }));
        var (modelReady, mr) = await _server.GetAsync("/v2/models/m3dfel/versions/1/ready");
        Assert.That((modelReady, mr.GetProperty("ready").GetBoolean()), Is.EqualTo((200, true)));
        var (unknown, error) = await _server.GetAsync("/v2/models/nope");
        Assert.That(unknown, Is.EqualTo(404));
        Assert.That(error.GetProperty("error").GetString(), Does.Contain("nope"));
        var (badVersion, _) = await _server.GetAsync("/v2/models/m3dfel/versions/7");
        Assert.That(badVersion, Is.EqualTo(404));
    }

    [Test]
    public async Task JsonInferMatchesTheEngineBitForBit()
    {
        float[] clips = TestServer.Clips(2, TestSeed.UseFresh());
        var (status, body) = await _server.PostJsonAsync("/v2/models/m3dfel/infer",
            TestServer.JsonRequest(clips, 2, id: "req-7"));
        Assert.That(status, Is.EqualTo(200), body.ToString());
        Assert.That(body.GetProperty("id").GetString(), Is.EqualTo("req-7"));
        Assert.That(body.GetProperty("model_name").GetString(), Is.EqualTo("m3dfel"));
        float[][] alone = Alone(clips, 2);
        Assert.That(TestServer.Bits(TestServer.Data(body, "logits")),
            Is.EqualTo(TestServer.Bits(alone.SelectMany(l => l))));
        float[] p = TestServer.Data(body, "probabilities");
        Assert.That(p.Take(7).Sum(), Is.EqualTo(1).Within(1e-5));
        Assert.That(p.Skip(7).Sum(), Is.EqualTo(1).Within(1e-5));
        var shape = body.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt32());
        Assert.That(shape, Is.EqualTo(new[] { 2, 7 }));
    }

    [Test]
    public async Task BinaryInferMatchesTheEngineBitForBit()
    {
        float[] clips = TestServer.Clips(1, TestSeed.UseFresh());
        using var response = await _server.Http.PostAsync("/v2/models/m3dfel/infer",
            TestServer.BinaryRequest(clips, 1, binaryOutputs: true));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        byte[] body = await response.Content.ReadAsByteArrayAsync();
        int headerLength = int.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single());
        using var header = JsonDocument.Parse(body.AsMemory(0, headerLength));
        var logits = header.RootElement.GetProperty("outputs")[0];
        Assert.That(logits.GetProperty("name").GetString(), Is.EqualTo("logits"));
        Assert.That(logits.GetProperty("parameters").GetProperty("binary_data_size").GetInt32(), Is.EqualTo(28));
        // probabilities was asked for without binary_data: it comes back as JSON data.
        Assert.That(header.RootElement.GetProperty("outputs")[1].GetProperty("data").GetArrayLength(), Is.EqualTo(7));
        Assert.That(body.Length, Is.EqualTo(headerLength + 28));
        var got = Enumerable.Range(0, 7)
            .Select(i => BinaryPrimitives.ReadSingleLittleEndian(body.AsSpan(headerLength + 4 * i))).ToArray();
        Assert.That(TestServer.Bits(got), Is.EqualTo(TestServer.Bits(Alone(clips, 1)[0])));
    }

    [Test]
    public async Task GrpcHealthMetadataAndInfer()
    {
        Assert.That((await _grpc.ServerLiveAsync(new ServerLiveRequest())).Live, Is.True);
        Assert.That((await _grpc.ServerReadyAsync(new ServerReadyRequest())).Ready, Is.True);
        Assert.That((await _grpc.ModelReadyAsync(new ModelReadyRequest { Name = "m3dfel" })).Ready, Is.True);
        var server = await _grpc.ServerMetadataAsync(new ServerMetadataRequest());
        Assert.That((server.Name, server.Extensions.Contains("binary_tensor_data")), Is.EqualTo(("dfer", true)));
        var meta = await _grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "m3dfel" });
        Assert.That(meta.Inputs.Single().Shape, Is.EqualTo(new long[] { -1, 16, 3, 112, 112 }));
        Assert.That(meta.Properties["classes"].Split(','), Has.Length.EqualTo(7));

        float[] clips = TestServer.Clips(2, TestSeed.UseFresh());
        float[][] alone = Alone(clips, 2);
        // Typed contents in, typed contents out.
        var typed = Request(2);
        typed.Inputs[0].Contents = new InferTensorContents();
        typed.Inputs[0].Contents.Fp32Contents.AddRange(clips);
        var reply = await _grpc.ModelInferAsync(typed);
        Assert.That(reply.Id, Is.EqualTo("g1"));
        Assert.That(reply.Outputs.Select(o => o.Name), Is.EqualTo(new[] { "logits", "probabilities" }));
        Assert.That(reply.Outputs[0].Shape, Is.EqualTo(new long[] { 2, 7 }));
        Assert.That(TestServer.Bits(reply.Outputs[0].Contents.Fp32Contents),
            Is.EqualTo(TestServer.Bits(alone.SelectMany(l => l))));
        // Raw bytes in, raw bytes out; only the output asked for.
        var raw = Request(2);
        raw.RawInputContents.Add(ByteString.CopyFrom(Bytes(clips)));
        raw.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "logits" });
        var rawReply = await _grpc.ModelInferAsync(raw);
        Assert.That(rawReply.RawOutputContents, Has.Count.EqualTo(1));
        var bytes = rawReply.RawOutputContents[0].ToByteArray();
        var logits = Enumerable.Range(0, 14).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i)));
        Assert.That(TestServer.Bits(logits), Is.EqualTo(TestServer.Bits(alone.SelectMany(l => l))));
    }

    private static ModelInferRequest Request(int n, string model = "m3dfel", long[]? shape = null,
        string datatype = "FP32")
    {
        var request = new ModelInferRequest { ModelName = model, Id = "g1" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "clips", Datatype = datatype };
        input.Shape.AddRange(shape ?? [n, 16, 3, 112, 112]);
        request.Inputs.Add(input);
        return request;
    }

    private static byte[] Bytes(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    [Test]
    public async Task GrpcErrorsAreStatusCodes()
    {
        async Task<StatusCode> Code(ModelInferRequest r)
        {
            var ex = Assert.ThrowsAsync<RpcException>(async () => await _grpc.ModelInferAsync(r));
            return await Task.FromResult(ex!.StatusCode);
        }
        Assert.That(await Code(Request(1, model: "nope")), Is.EqualTo(StatusCode.NotFound));
        var wrongShape = Request(1, shape: [1, 16, 3, 64, 64]);
        wrongShape.RawInputContents.Add(ByteString.CopyFrom(new byte[16 * 3 * 64 * 64 * 4]));
        Assert.That(await Code(wrongShape), Is.EqualTo(StatusCode.InvalidArgument));
        var wrongType = Request(1, datatype: "FP16");
        wrongType.RawInputContents.Add(ByteString.CopyFrom(new byte[16]));
        Assert.That(await Code(wrongType), Is.EqualTo(StatusCode.InvalidArgument));
        var shortData = Request(1);
        shortData.RawInputContents.Add(ByteString.CopyFrom(new byte[400]));
        Assert.That(await Code(shortData), Is.EqualTo(StatusCode.InvalidArgument));
        float[] nan = TestServer.Clips(1, 5);
        nan[1234] = float.NaN;
        var withNan = Request(1);
        withNan.RawInputContents.Add(ByteString.CopyFrom(Bytes(nan)));
        var ex = Assert.ThrowsAsync<RpcException>(async () => await _grpc.ModelInferAsync(withNan));
        Assert.That(ex!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(ex.Status.Detail, Does.Contain("NaN").And.Contain("clips"));
    }

    [Test]
    public async Task MalformedProtobufIsInvalidArgument()
    {
        // The method's bytes sent as they are: not a ModelInferRequest.
        var raw = new Method<byte[], byte[]>(MethodType.Unary, "inference.GRPCInferenceService", "ModelInfer",
            Marshallers.Create<byte[]>(b => b, b => b), Marshallers.Create<byte[]>(b => b, b => b));
        var invoker = _channel.CreateCallInvoker();
        var ex = Assert.ThrowsAsync<RpcException>(async () =>
            await invoker.AsyncUnaryCall(raw, null, new CallOptions(), [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]));
        Assert.That(ex!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), ex.Status.Detail);
        Assert.That(ex.Status.Detail, Does.Contain("not a valid protobuf message"));
        await StillServes();
    }

    [TestCase("{not json", 400, "not valid JSON")]
    [TestCase("[1,2]", 400, "not a JSON object")]
    [TestCase("{\"inputs\":[]}", 400, "0 inputs")]
    [TestCase("{\"inputs\":[{\"name\":\"video\",\"datatype\":\"FP32\",\"shape\":[1,16,3,112,112],\"data\":[]}]}", 400,
        "has one input, 'clips'")]
    [TestCase("{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"INT8\",\"shape\":[1,16,3,112,112],\"data\":[]}]}", 400,
        "datatype 'INT8', expected FP32")]
    [TestCase("{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[1,16,3,112],\"data\":[]}]}", 400,
        "4 dimensions")]
    [TestCase("{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[0,16,3,112,112],\"data\":[]}]}", 400,
        "holds no clip")]
    [TestCase("{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[1000000000,16,3,112,112],"
        + "\"data\":[]}]}", 413, "more than the request can hold")]
    [TestCase("{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[1,16,3,112,112],\"data\":[\"a\"]}]}",
        400, "not an FP32 number")]
    [TestCase("{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[1,16,3,112,112],\"data\":[1,2,3]}]}",
        400, "holds 3 values")]
    public async Task BadRestRequestsGetOneErrorLine(string body, int status, string message)
    {
        var (got, error) = await _server.PostJsonAsync("/v2/models/m3dfel/infer", body);
        Assert.That(got, Is.EqualTo(status), error.ToString());
        string text = error.GetProperty("error").GetString()!;
        Assert.That(text, Does.Contain(message));
        Assert.That(text, Does.Not.Contain("\n").And.Not.Contain("   at "));
        await StillServes();
    }

    [Test]
    public async Task NaNAndOversizedBodiesAreRefused()
    {
        // JSON has no NaN or Infinity; binary tensors do.
        float[] clips = TestServer.Clips(2, 9);
        clips[602112 + 602111] = float.PositiveInfinity;
        using (var inf = await _server.Http.PostAsync("/v2/models/m3dfel/infer",
            TestServer.BinaryRequest(clips, 2, false)))
        {
            Assert.That((int)inf.StatusCode, Is.EqualTo(400));
            Assert.That((await TestServer.Body(inf)).GetProperty("error").GetString(),
                Does.Contain("clip 1 holds Inf (value 602111"));
        }
        var (status, error) = await _server.PostJsonAsync("/v2/models/m3dfel/infer",
            TestServer.JsonRequest(TestServer.Clips(1, 9), 1).Replace("[0.", "[NaN,0.", StringComparison.Ordinal));
        Assert.That(status, Is.EqualTo(400));
        Assert.That(error.GetProperty("error").GetString(), Does.Contain("not valid JSON"));
        // 49 MiB against --max-body-mb 48: refused with 413, whatever the JSON would have said.
        // Expect: 100-continue, so the client waits for the answer instead of writing 49 MiB into a closed connection.
        var big = new ByteArrayContent(new byte[49 << 20]);
        big.Headers.ContentType = new("application/json");
        using var post = new HttpRequestMessage(HttpMethod.Post, "/v2/models/m3dfel/infer") { Content = big };
        post.Headers.ExpectContinue = true;
        using var response = await _server.Http.SendAsync(post);
        Assert.That((int)response.StatusCode, Is.EqualTo(413));
        Assert.That((await TestServer.Body(response)).GetProperty("error").GetString(), Does.Contain("--max-body-mb"));
        await StillServes();
    }

    /// <summary>Six single-clip requests at once, the first waiting up to 200 ms for partners: fewer than six forward
    /// passes, each request still the bits of its clip alone.</summary>
    [Test]
    public async Task ConcurrentRequestsAreBatchedWithTheirOwnResults()
    {
        ulong seed = TestSeed.UseFresh();
        float[][] clips = Enumerable.Range(0, 6).Select(i => TestServer.Clips(1, seed + (ulong)i)).ToArray();
        double batchesBefore = await Counter("dfer_batch_size_count{model=\"m3dfel\"}");
        var calls = clips.Select((c, i) => i % 2 == 0
            ? _server.PostJsonAsync("/v2/models/m3dfel/infer", TestServer.JsonRequest(c, 1))
                .ContinueWith(t => TestServer.Data(t.Result.Body, "logits"))
            : _grpc.ModelInferAsync(GrpcRaw(c)).ResponseAsync
                .ContinueWith(t => t.Result.Outputs[0].Contents?.Fp32Contents.ToArray()
                    ?? Floats(t.Result.RawOutputContents[0].ToByteArray()))).ToArray();
        float[][] got = await Task.WhenAll(calls);
        for (int i = 0; i < 6; i++)
            Assert.That(TestServer.Bits(got[i]), Is.EqualTo(TestServer.Bits(Alone(clips[i], 1)[0])), $"request {i}");
        double batches = await Counter("dfer_batch_size_count{model=\"m3dfel\"}") - batchesBefore;
        Assert.That(batches, Is.LessThan(6).And.GreaterThanOrEqualTo(2), "forward passes for six requests");
    }

    private static ModelInferRequest GrpcRaw(float[] clip)
    {
        var r = Request(1);
        r.RawInputContents.Add(ByteString.CopyFrom(Bytes(clip)));
        return r;
    }

    private static float[] Floats(byte[] bytes) => Enumerable.Range(0, bytes.Length / 4)
        .Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i))).ToArray();

    /// <summary>A sample's value from /metrics, 0 when absent.</summary>
    private async Task<double> Counter(string series)
    {
        string text = await _server.Http.GetStringAsync("/metrics");
        string? line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? 0
            : double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task MetricsCountRequestsErrorsAndBatches()
    {
        await StillServes();
        await _server.PostJsonAsync("/v2/models/m3dfel/infer", "{oops");
        string text = await _server.Http.GetStringAsync("/metrics");
        Assert.That(text, Does.Contain("dfer_requests_total{model=\"m3dfel\",protocol=\"rest\"}"));
        Assert.That(text, Does.Contain("dfer_request_errors_total{model=\"m3dfel\",protocol=\"rest\",status=\"400\"}"));
        Assert.That(text, Does.Contain("dfer_request_duration_seconds_bucket{model=\"m3dfel\",protocol=\"rest\""));
        Assert.That(text, Does.Contain("dfer_batch_size_bucket{model=\"m3dfel\",le=\"4\"}"));
        Assert.That(text, Does.Contain("dfer_queue_depth{model=\"m3dfel\"} 0"));
        Assert.That(text, Does.Contain("process_resident_memory_bytes "));
    }

    /// <summary>One clip scores right after whatever the test did: the server is still healthy.</summary>
    private async Task StillServes()
    {
        float[] clip = TestServer.Clips(1, 77);
        var (status, body) = await _server.PostJsonAsync("/v2/models/m3dfel/infer", TestServer.JsonRequest(clip, 1));
        Assert.That(status, Is.EqualTo(200), body.ToString());
        Assert.That(TestServer.Bits(TestServer.Data(body, "logits")), Is.EqualTo(TestServer.Bits(Alone(clip, 1)[0])));
    }
}
