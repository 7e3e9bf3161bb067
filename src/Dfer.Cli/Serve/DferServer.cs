using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Dfer.Cli.Serve;

/// <summary>
/// <c>dfer serve</c>'s process (docs/serving.md): Kestrel with the REST API, the web page and <c>/metrics</c> on
/// --http-port and the gRPC API on --grpc-port; the models load, compile and warm up after the ports open (live at
/// once, ready once every model is warm; a model that cannot load stops the server with exit code 2 and one line).
/// SIGTERM or Ctrl+C: not ready at once, no new connections, in-flight requests finished, then exit 0.
/// </summary>
internal sealed class DferServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Task _loading;

    private DferServer(WebApplication app, InferenceCore core, Task loading)
    {
        _app = app;
        Core = core;
        _loading = loading;
    }

    public InferenceCore Core { get; }

    /// <summary>The REST base address, e.g. http://127.0.0.1:8080 (the real port when --http-port was 0).</summary>
    public Uri HttpAddress { get; private set; } = null!;

    /// <summary>What makes Kestrel's buffer pools.</summary>
    internal BoundedBlockPool.Factory TransportPools { get; private set; } = null!;

    /// <summary>The gRPC address.</summary>
    public Uri GrpcAddress { get; private set; } = null!;

    /// <summary>Done when every model is loaded and warm; faults with the <see cref="DferException"/> of a model that
    /// cannot load.</summary>
    public Task Loaded => _loading;

    /// <summary>Runs the server until a shutdown signal or <paramref name="cancel"/>; the exit code.</summary>
    public static async Task<int> RunAsync(ServeSettings settings, CliConsole console, CancellationToken cancel)
    {
        await using DferServer server = await StartAsync(settings, console, cancel, log: true).ConfigureAwait(false);
        console.Summary($"serving {string.Join(", ", settings.Models.Select(m => m.Name))}: REST and the web page on "
            + $"{server.HttpAddress}, gRPC on {server.GrpcAddress}; ready once the models are warm");
        var stopped = new TaskCompletionSource();
        var lifetime = server._app.Services.GetRequiredService<IHostApplicationLifetime>();
        using var onStop = lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
        using var onCancel = cancel.Register(() => stopped.TrySetResult());
        try
        {
            await server._loading.ConfigureAwait(false);
            console.Summary("ready");
        }
        catch (DferException ex)
        {
            console.Error(ex.Message);
            return ExitCodes.Usage;
        }
        await stopped.Task.ConfigureAwait(false);
        console.Summary("shutting down: not ready, finishing the requests in flight");
        return ExitCodes.Ok;
    }

    /// <summary>Opens the ports and starts loading the models (see <see cref="Loaded"/>); <paramref name="log"/>:
    /// the server's log on stderr (text or --log-json), else none (a server inside tests).</summary>
    public static async Task<DferServer> StartAsync(ServeSettings settings, CliConsole console,
        CancellationToken cancel = default, bool log = false)
    {
        var metrics = new ServerMetrics(settings.MaxBatch);
        var core = new InferenceCore(settings, metrics);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        if (log && settings.JsonLogs) builder.Logging.AddJsonConsole(o => o.IncludeScopes = false);
        else if (log) builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(
            o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(
            Math.Min(settings.TimeoutMs + 5_000, 120_000)));
        IPAddress address = ParseHost(settings.Host);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
            k.Limits.MaxConcurrentConnections = 4096;
            // A gRPC call beyond admission is refused unread (GrpcAdmission), but each open stream may have a flow-
            // control window of its message buffered: fewer streams per connection keep that near what admission
            // holds (more calls wait in the client).
            k.Limits.Http2.MaxStreamsPerConnection = Math.Max(16, settings.MaxQueue + settings.MaxBatch);
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(120);
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
            // HTTP/2 without TLS needs prior knowledge, which browsers and REST clients do not use: HTTP/1.1 here.
            k.Listen(address, settings.HttpPort, o => o.Protocols = HttpProtocols.Http1);
            k.Listen(address, settings.GrpcPort, o => o.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = (int)Math.Min(settings.MaxBodyBytes, int.MaxValue);
            o.MaxSendMessageSize = null;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddSingleton(core);
        var pools = new BoundedBlockPool.Factory(TransportPoolBytes);
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>>(pools);
        var app = builder.Build();
        RestApi.Map(app, core);
        VideoEndpoint.Map(app, core);
        WebPage.Map(app);
        GrpcAdmission.Use(app, core);
        app.MapGrpcService<GrpcInferenceApi>();
        app.MapMetrics("/metrics", metrics.Registry);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("dfer.serve");
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() =>
        {
            core.Stopping = true;
            logger.LogInformation("shutdown: not ready; finishing the requests in flight");
        });
        try
        {
            await app.StartAsync(cancel).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new DferException($"--host {settings.Host}: cannot listen on ports {settings.HttpPort} and "
                + $"{settings.GrpcPort}: {ex.Message}");
        }
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a)).ToList();
        var server = new DferServer(app, core, Task.Run(() => LoadModels(core, settings, console, logger, lifetime)));
        server._trimming = Task.Run(() => TrimAsync(lifetime.ApplicationStopping, logger));
        server.TransportPools = pools;
        server.HttpAddress = Address(addresses[0]);
        server.GrpcAddress = Address(addresses[1]);
        return server;
    }

    private Task _trimming = Task.CompletedTask;

    /// <summary>The slab of each of Kestrel's buffer pools, all such a pool keeps (<see cref="BoundedBlockPool"/>).
    /// </summary>
    internal const long TransportPoolBytes = 16L << 20;

    /// <summary>How much the managed heap may grow past what was live after the last full collection before
    /// <see cref="TrimAsync"/> collects.</summary>
    internal const long TrimThresholdBytes = 256L << 20;

    /// <summary>How long after a collection caused by growth <see cref="TrimAsync"/> collects again.</summary>
    internal static readonly TimeSpan SettleInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Bounds the process's memory under bursts of large requests. Every request brings megabytes (a clip is 2.3 MiB),
    /// most of it dead once the request is answered, and the GC collects the large-object heap only in rare full
    /// collections, keeping the space committed meanwhile: a flood's garbage would stay in the resident memory for
    /// minutes. Every 5 s, when the managed heap holds more than <see cref="TrimThresholdBytes"/> beyond what was live
    /// after the last such collection, one aggressive full collection compacts it and returns the free memory to the
    /// system. A collection in the middle of a burst finds much of it still live (requests in flight, Kestrel's blocks
    /// past its slabs, arrays the pools will not keep), and that only leaves the process at the next full collection,
    /// which an idle server never makes. So after a collection caused by growth, one more follows every
    /// <see cref="SettleInterval"/> for as long as each frees something (at least 16 MiB). A quiet server never pays
    /// for it; under steady load it costs one collection of a few hundred megabytes every few seconds.
    /// </summary>
    private static async Task TrimAsync(CancellationToken stopping, ILogger logger)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        long live = GC.GetTotalMemory(forceFullCollection: false);
        long collected = Stopwatch.GetTimestamp();
        bool settling = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                long now = GC.GetTotalMemory(forceFullCollection: false);
                bool grown = now - live >= TrimThresholdBytes;
                if (!grown && !(settling && Stopwatch.GetElapsedTime(collected) >= SettleInterval)) continue;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                long before = live;
                live = GC.GetTotalMemory(forceFullCollection: false);
                collected = Stopwatch.GetTimestamp();
                settling = grown || before - live >= 16L << 20;
                logger.LogDebug("memory: managed heap {Before} MiB -> {After} MiB", now >> 20, live >> 20);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>http://host:port, with the wildcard host replaced by the loopback a local client reaches.</summary>
    private static Uri Address(Uri bound)
    {
        string host = bound.Host is "0.0.0.0" or "[::]" or "+" or "*" ? "127.0.0.1" : bound.Host;
        return new Uri($"http://{host}:{bound.Port}");
    }

    private static IPAddress ParseHost(string host)
    {
        if (host == "localhost") return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out IPAddress? address)) return address;
        throw new DferException($"--host {host}: not an IP address (give e.g. 127.0.0.1, 0.0.0.0 or ::1)");
    }

    private static void LoadModels(InferenceCore core, ServeSettings settings, CliConsole console, ILogger logger,
        IHostApplicationLifetime lifetime)
    {
        try
        {
            foreach (ServedModelSpec spec in settings.Models)
            {
                if (core.Stopping) return;
                ServedModel model = ServedModel.Load(spec, settings, core.Metrics, console);
                core.Add(model);
                model.Ready = !core.Stopping;
                logger.LogInformation("model {Model} ready on {Backend}", spec.Name, model.Properties["device"]);
            }
        }
        catch (DferException)
        {
            lifetime.StopApplication();
            throw;
        }
    }

    /// <summary>Stops: not ready, Kestrel drains its connections (in-flight requests finish), the batchers finish
    /// what they queued, the models are released.</summary>
    public async ValueTask DisposeAsync()
    {
        Core.Stopping = true;
        try
        {
            await _app.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            try { await _loading.ConfigureAwait(false); } catch (DferException) { }
            await _trimming.ConfigureAwait(false);
            foreach (ServedModel m in Core.Models) await m.DisposeAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
