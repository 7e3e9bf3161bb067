using Prometheus;

namespace Dfer.Cli.Serve;

/// <summary>
/// The server's Prometheus metrics (docs/serving.md, "Metrics"), exported at <c>/metrics</c> by prometheus-net (chosen
/// over OpenTelemetry's exporter, whose Prometheus part is still a pre-release; docs/dependencies.md). Every server has
/// its own registry, so servers started side by side (the tests) count apart.
/// </summary>
internal sealed class ServerMetrics
{
    private readonly Counter _requests, _errors;
    private readonly Histogram _latency, _batchSize, _inference;
    private readonly Gauge _queue;

    public ServerMetrics(int maxBatch)
    {
        Registry = Metrics.NewCustomRegistry();
        // The .NET runtime's and the process's own metrics (CPU, GC, working set), and the resident set size under
        // the name Prometheus' process collectors use, which the load tool's memory check reads.
        DotNetStats.Register(Registry);
        var factory = Metrics.WithCustomRegistry(Registry);
        var rss = factory.CreateGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
        var committed = factory.CreateGauge("dfer_gc_committed_bytes", "Memory the .NET GC has committed for the "
            + "managed heap (as of its last collection).");
        var heap = factory.CreateGauge("dfer_gc_heap_size_bytes", "The managed heap's size after its last collection, "
            + "free space inside it included.");
        var fragmented = factory.CreateGauge("dfer_gc_fragmented_bytes", "Free space inside the managed heap after its "
            + "last collection.");
        Registry.AddBeforeCollectCallback(() =>
        {
            rss.Set(Environment.WorkingSet);
            GCMemoryInfo gc = GC.GetGCMemoryInfo();
            committed.Set(gc.TotalCommittedBytes);
            heap.Set(gc.HeapSizeBytes);
            fragmented.Set(gc.FragmentedBytes);
        });
        string[] byRequest = ["model", "protocol"];
        _requests = factory.CreateCounter("dfer_requests_total", "Inference requests received, by model and protocol "
            + "(rest, grpc, video).", new CounterConfiguration { LabelNames = byRequest });
        _errors = factory.CreateCounter("dfer_request_errors_total", "Inference requests answered with an error, by "
            + "model, protocol and status (HTTP status or gRPC code name).",
            new CounterConfiguration { LabelNames = ["model", "protocol", "status"] });
        _latency = factory.CreateHistogram("dfer_request_duration_seconds", "Time from a request's arrival to its "
            + "answer, successful ones, by model and protocol.", new HistogramConfiguration
            {
                LabelNames = byRequest,
                Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),   // 1 ms to 33 s
            });
        _batchSize = factory.CreateHistogram("dfer_batch_size", "Clips per forward pass of the dynamic batcher.",
            new HistogramConfiguration
            {
                LabelNames = ["model"],
                Buckets = Enumerable.Range(1, maxBatch).Select(b => (double)b).ToArray(),
            });
        _inference = factory.CreateHistogram("dfer_inference_duration_seconds", "Time of one forward pass (a batch), "
            + "by model.", new HistogramConfiguration
            {
                LabelNames = ["model"],
                Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
            });
        _queue = factory.CreateGauge("dfer_queue_depth", "Requests waiting for a batch, by model.",
            new GaugeConfiguration { LabelNames = ["model"] });
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Declares the per-model series at zero, so a scrape lists every model before its first request.
    /// </summary>
    public void AddModel(string model)
    {
        _queue.WithLabels(model).Set(0);
        _batchSize.WithLabels(model);
        _inference.WithLabels(model);
    }

    public void Request(string model, string protocol) => _requests.WithLabels(model, protocol).Inc();

    public void Error(string model, string protocol, string status) =>
        _errors.WithLabels(model, protocol, status).Inc();

    public void Latency(string model, string protocol, double seconds) =>
        _latency.WithLabels(model, protocol).Observe(seconds);

    public void Batch(string model, int clips) => _batchSize.WithLabels(model).Observe(clips);

    public void Inference(string model, double seconds) => _inference.WithLabels(model).Observe(seconds);

    public void QueueDepth(string model, int waiting) => _queue.WithLabels(model).Set(waiting);
}
