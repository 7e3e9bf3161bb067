using System.Buffers.Binary;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dfer.Cli;
using Dfer.Cli.Serve;
using Dfer.Tensors;

namespace Dfer.Tests.Serve;

/// <summary>A `dfer serve` started in-process on free loopback ports, for one test fixture.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(DferServer server, StringWriter log)
    {
        Server = server;
        Log = log;
        Http = new HttpClient { BaseAddress = server.HttpAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    public DferServer Server { get; }
    public StringWriter Log { get; }
    public HttpClient Http { get; }

    /// <summary>Starts the server on generated weights (seed 1, as --generated-weights) and waits until it is ready.
    /// </summary>
    public static async Task<TestServer> StartAsync(ServeSettings settings)
    {
        var log = new StringWriter();
        var console = new CliConsole(log, log, showProgress: false);
        var server = await DferServer.StartAsync(settings with { HttpPort = 0, GrpcPort = 0 }, console);
        var test = new TestServer(server, log);
        await server.Loaded.WaitAsync(TimeSpan.FromMinutes(3));
        return test;
    }

    public static ServeSettings Settings(params string[] models) =>
        new(models.Select(m => new ServedModelSpec(m, null)).ToList(), Threads: 2, GeneratedWeights: true);

    /// <summary>The JSON body of an infer request for <paramref name="clips"/> [n, 16, 3, 112, 112].</summary>
    public static string JsonRequest(float[] clips, int n, string? id = null, string? outputs = null)
    {
        var sb = new StringBuilder("{");
        if (id is not null) sb.Append("\"id\":\"").Append(id).Append("\",");
        sb.Append("\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[").Append(n)
            .Append(",16,3,112,112],\"data\":[");
        for (int i = 0; i < clips.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(clips[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        }
        sb.Append("]}]");
        if (outputs is not null) sb.Append(",\"outputs\":").Append(outputs);
        return sb.Append('}').ToString();
    }

    /// <summary>A binary-extension request: the JSON header, then the clips' little-endian bytes.</summary>
    public static HttpContent BinaryRequest(float[] clips, int n, bool binaryOutputs)
    {
        string header = "{\"inputs\":[{\"name\":\"clips\",\"datatype\":\"FP32\",\"shape\":[" + n
            + ",16,3,112,112],\"parameters\":{\"binary_data_size\":" + clips.Length * 4 + "}}]"
            + (binaryOutputs ? ",\"outputs\":[{\"name\":\"logits\",\"parameters\":{\"binary_data\":true}},"
                + "{\"name\":\"probabilities\"}]" : "") + "}";
        byte[] head = Encoding.UTF8.GetBytes(header);
        var body = new byte[head.Length + clips.Length * 4];
        head.CopyTo(body, 0);
        for (int i = 0; i < clips.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(body.AsSpan(head.Length + i * 4), clips[i]);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", head.Length.ToString());
        return content;
    }

    public async Task<(int Status, JsonElement Body)> PostJsonAsync(string path, string json)
    {
        using var response = await Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await Body(response));
    }

    public async Task<(int Status, JsonElement Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return ((int)response.StatusCode, await Body(response));
    }

    public static async Task<JsonElement> Body(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    /// <summary>An output's "data" as floats.</summary>
    public static float[] Data(JsonElement response, string output) =>
        response.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == output)
            .GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();

    public static int[] Bits(IEnumerable<float> values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>Fresh clips in [0, 1).</summary>
    public static float[] Clips(int n, ulong seed) =>
        new DeterministicRandom(seed).Uniform(n * 16L * 3 * 112 * 112, 0, 1);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}
