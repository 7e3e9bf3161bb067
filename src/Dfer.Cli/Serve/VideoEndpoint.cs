using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfer.Cli.Commands;
using Dfer.Cli.Json;
using Dfer.Cli.Scoring;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Pipelines;
using Dfer.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Dfer.Cli.Serve;

/// <summary>
/// Dfer's video extension of the protocol ("dfer_video"): <c>POST /v2/models/{name}/video</c> with a whole video, as
/// the raw body (Content-Type <c>video/*</c> or <c>application/octet-stream</c>) or as the one file part of a
/// <c>multipart/form-data</c> body, answered with the JSON <c>dfer infer --model NAME VIDEO --format json</c> prints
/// for that video.
/// </summary>
/// <remarks>
/// <para>The body is counted while it is read (413 past --max-body-mb, whatever Content-Length says) into a temporary
/// file, deleted when the request ends however it ends. Decoding and the face stage run on a pool of
/// <see cref="ServeSettings.VideoWorkers"/> workers of its own; at most four times as many videos wait for one
/// (counted from their arrival, uploads included, which also bounds the temporary files), more are refused at once
/// with 429.</para>
/// <para>A DFER model's clips, made by the CLI's face stage (<see cref="FaceInputs"/>, --face auto), go through the
/// model's <see cref="DynamicBatcher"/>, in batches with the tensor requests. Two fields are added to the CLI's JSON
/// for the web page: each result's <c>per_clip</c> (every clip's source frames, logits, probabilities and label: the
/// video's scores are their mean) and <c>video</c> (<c>fps</c>, null when unknown, and <c>analysis_side</c>, the
/// longest side of the frames the face boxes are in). The expression model runs its pipeline, one video at a time
/// (its compiled networks keep their buffers between calls).</para>
/// <para>Errors are one <c>{"error"}</c> line naming the input "the uploaded video", never the temporary path: 400 for
/// a video that cannot be decoded or has no face, 404 for an unknown model, 413, 415 for another Content-Type, 429,
/// 503 while the model is not ready, 504 past --timeout-ms waiting for a worker.</para>
/// </remarks>
internal sealed class VideoEndpoint : IDisposable
{
    /// <summary>The protocol label of the metrics.</summary>
    public const string Protocol = "video";

    /// <summary>How messages and the JSON's <c>input</c> name the video (the client's file name, where the multipart
    /// body gives one, stands in the JSON).</summary>
    public const string UploadName = "the uploaded video";

    /// <summary>The temporary files are <c>dfer-video-GUID.EXT</c> in the system's temporary folder.</summary>
    public const string TempPrefix = "dfer-video-";

    /// <summary>Videos that may wait for a worker, per worker.</summary>
    public const int WaitingPerWorker = 4;

    private readonly InferenceCore _core;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _workers;
    private readonly SemaphoreSlim _expression = new(1, 1);
    private readonly Places _waiting;
    private readonly FaceInputs _faces;

    private VideoEndpoint(InferenceCore core, ILogger log)
    {
        _core = core;
        _log = log;
        _workers = new SemaphoreSlim(core.Settings.VideoWorkers, core.Settings.VideoWorkers);
        _waiting = new Places(core.Settings.VideoWorkers * WaitingPerWorker);
        // The CLI's default face stage (--face auto: detect on a video file); the detector loads on first use.
        var face = new FaceSettings(FaceMode.Auto, new FaceStageOptions(), ModeGiven: false);
        _faces = new FaceInputs(face, core.Settings.Backend, core.Settings.Threads, Silent);
    }

    private static CliConsole Silent => new(TextWriter.Null, TextWriter.Null, showProgress: false);

    public static void Map(WebApplication app, InferenceCore core)
    {
        var endpoint = new VideoEndpoint(core,
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("dfer.serve.video"));
        app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(endpoint.Dispose);
        foreach (string prefix in new[] { "/v2/models/{name}", "/v2/models/{name}/versions/{version}" })
            app.MapPost(prefix + "/video", (HttpContext http, string name, string? version) =>
                endpoint.HandleAsync(http, name, version));
    }

    private async Task HandleAsync(HttpContext http, string name, string? version)
    {
        long started = Stopwatch.GetTimestamp();
        string counted = _core.Settings.Models.Any(m => m.Name == name) ? name : "unknown";
        var temp = new TempFile();
        string? json = null, error = null;
        int status = 200;
        try
        {
            json = await AnswerAsync(http, name, version, temp).ConfigureAwait(false);
        }
        catch (OipException ex)
        {
            (status, error) = (ex.HttpStatus, temp.Hide(ex.Message));
        }
        catch (Exception ex) when (http.RequestAborted.IsCancellationRequested
            && ex is OperationCanceledException or IOException)
        {
            // The client went away (while uploading, waiting or being scored): nobody is left to answer.
            _core.Count(counted, Protocol, started, "cancelled");
            return;
        }
        catch (IOException ex)
        {
            // The temporary file could not be written (a full disk): the server's problem, not the video's.
            _log.LogError("video endpoint: cannot store an upload: {Error}", ex.Message);
            (status, error) = (500, $"cannot store {UploadName}: {temp.Hide(CliConsole.OneLine(ex.Message))}");
        }
        finally
        {
            // Before the answer: a client that has it finds the file gone.
            temp.Delete(_log);
        }
        _core.Count(counted, Protocol, started, error is null ? null : status.ToString(CultureInfo.InvariantCulture));
        if (error is not null)
        {
            await RestApi.WriteErrorAsync(http, status, error).ConfigureAwait(false);
            return;
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json; charset=utf-8";
        try
        {
            await http.Response.WriteAsync(json!, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The client is gone.
        }
    }

    /// <summary>Checks the model, stores the upload, waits for a worker and scores: the answer's JSON.</summary>
    private async Task<string> AnswerAsync(HttpContext http, string name, string? version, TempFile temp)
    {
        ServedModel model = ReadyModel(name, version);
        if (!_waiting.TryTake())
            throw OipException.QueueFull($"{_waiting.Limit} videos are waiting for the {_core.Settings.VideoWorkers} "
                + "video worker(s); retry later");
        bool waiting = true;
        try
        {
            Upload upload = await ReceiveAsync(http, temp).ConfigureAwait(false);
            await WaitForWorkerAsync(http.RequestAborted).ConfigureAwait(false);
            _waiting.Give();
            waiting = false;
            return model.Expression is not null
                ? await ExpressionAsync(model, upload, http.RequestAborted).ConfigureAwait(false)
                : await ClipsAsync(model, upload, http.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            if (waiting) _waiting.Give();
        }
    }

    /// <summary>The model, known, ready and not shutting down (a video endpoint request takes every model).</summary>
    private ServedModel ReadyModel(string name, string? version)
    {
        ServedModel model = _core.Find(name, version);
        if (_core.Stopping) throw OipException.Unavailable("the server is shutting down");
        if (!model.Ready) throw OipException.Unavailable($"model '{name}' is not ready yet");
        return model;
    }

    private async Task WaitForWorkerAsync(CancellationToken aborted)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(_core.Settings.TimeoutMs);
        try
        {
            await _workers.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            throw OipException.Deadline($"no video worker free within {_core.Settings.TimeoutMs} ms");
        }
    }

    /// <summary>The video in its temporary file and the name the JSON gives it.</summary>
    private sealed record Upload(string Path, string Name);

    /// <summary>A request's temporary file: written without an extension, renamed with one once the body is in (so
    /// that whatever was written is at <see cref="Path"/> when the request ends, however it ends).</summary>
    private sealed class TempFile
    {
        private readonly string _stem =
            System.IO.Path.Combine(System.IO.Path.GetTempPath(), TempPrefix + Guid.NewGuid().ToString("N"));

        public TempFile() => Path = _stem;

        public string Path { get; private set; }

        /// <summary>Gives the stored file <paramref name="extension"/>; its new path.</summary>
        public string Rename(string extension)
        {
            File.Move(_stem, _stem + extension);
            return Path = _stem + extension;
        }

        /// <summary>The message with the file's path named as <see cref="UploadName"/>.</summary>
        public string Hide(string message) =>
            message.Replace(Path, UploadName, StringComparison.Ordinal)
                .Replace(_stem, UploadName, StringComparison.Ordinal);

        public void Delete(ILogger log)
        {
            try
            {
                File.Delete(Path);   // no error when it was never written
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                log.LogWarning("video endpoint: cannot delete the temporary file {Path}: {Error}", Path, ex.Message);
            }
        }
    }

    /// <summary>
    /// Stores the body (raw) or its one file part (multipart) in <paramref name="temp"/> plus an extension
    /// <see cref="MediaInput"/> decodes (the file name's, else the Content-Type's, else .mp4; FFmpeg reads the
    /// container from the bytes anyway).
    /// </summary>
    private async Task<Upload> ReceiveAsync(HttpContext http, TempFile temp)
    {
        long max = _core.Settings.MaxBodyBytes;
        if (http.Request.ContentLength > max)
            throw OipException.TooLarge(
                $"the request body is {http.Request.ContentLength} bytes, more than --max-body-mb allows ({max})");
        var feature = http.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = max;
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out MediaTypeHeaderValue? media))
            throw Unsupported(http.Request.ContentType);
        string type = media.MediaType.Value!.ToLowerInvariant();
        try
        {
            if (type == "multipart/form-data") return await ReceiveMultipartAsync(http, media, temp, max);
            if (type != "application/octet-stream" && !type.StartsWith("video/", StringComparison.Ordinal))
                throw Unsupported(http.Request.ContentType);
            await StoreAsync(http.Request.Body, temp.Path, max, http.RequestAborted).ConfigureAwait(false);
            return new Upload(temp.Rename(Extension(null, type)), UploadName);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
        {
            throw OipException.TooLarge($"the request body is more than --max-body-mb allows ({max} bytes)");
        }
        catch (BadHttpRequestException ex)
        {
            throw OipException.BadRequest($"the request body could not be read: {CliConsole.OneLine(ex.Message)}");
        }
    }

    private static OipException Unsupported(string? contentType) => new(415, Grpc.Core.StatusCode.InvalidArgument,
        $"Content-Type '{SafeText.Line(contentType ?? "", 80)}': send the video as the body (video/* or "
        + "application/octet-stream) or as the file part of multipart/form-data");

    private static async Task<Upload> ReceiveMultipartAsync(HttpContext http, MediaTypeHeaderValue media,
        TempFile temp, long max)
    {
        string boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value ?? "";
        if (boundary.Length == 0)
            throw OipException.BadRequest("the multipart/form-data Content-Type has no boundary");
        var reader = new MultipartReader(boundary, http.Request.Body);
        Upload? upload = null;
        try
        {
            while (await reader.ReadNextSectionAsync(http.RequestAborted).ConfigureAwait(false) is { } section)
            {
                bool file = ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    && disposition.IsFileDisposition();
                if (!file)
                {
                    await section.Body.CopyToAsync(Stream.Null, http.RequestAborted).ConfigureAwait(false);
                    continue;
                }
                if (upload is not null)
                    throw OipException.BadRequest("the multipart body holds more than one file; send one video");
                string fileName = Path.GetFileName(HeaderUtilities.RemoveQuotes(
                    disposition!.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value ?? "");
                await StoreAsync(section.Body, temp.Path, max, http.RequestAborted).ConfigureAwait(false);
                upload = new Upload(temp.Rename(Extension(fileName, section.ContentType?.ToLowerInvariant())),
                    fileName.Length > 0 ? SafeText.Line(fileName, 200) : UploadName);
            }
        }
        catch (InvalidDataException ex)
        {
            throw OipException.BadRequest($"the multipart body is malformed: {CliConsole.OneLine(ex.Message)}");
        }
        return upload ?? throw OipException.BadRequest(
            "the multipart body holds no file part: send the video as a file (e.g. curl -F video=@clip.mp4)");
    }

    /// <summary>A video extension for the temporary file.</summary>
    private static string Extension(string? fileName, string? contentType)
    {
        if (fileName is not null && MediaInput.HasVideoExtension(fileName))
            return Path.GetExtension(fileName).ToLowerInvariant();
        return contentType switch
        {
            "video/webm" => ".webm",
            "video/quicktime" => ".mov",
            "video/x-matroska" or "video/matroska" => ".mkv",
            "video/x-msvideo" or "video/avi" or "video/msvideo" => ".avi",
            _ => ".mp4",
        };
    }

    /// <summary>Copies <paramref name="body"/> to <paramref name="path"/>, refusing it past <paramref name="max"/>
    /// bytes and when it is empty.</summary>
    private static async Task StoreAsync(Stream body, string path, long max, CancellationToken cancel)
    {
        long total = 0;
        var chunk = new byte[1 << 16];
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16,
            FileOptions.Asynchronous))
        {
            while (true)
            {
                int n = await body.ReadAsync(chunk, cancel).ConfigureAwait(false);
                if (n == 0) break;
                total += n;
                if (total > max)
                    throw OipException.TooLarge($"the request body is more than --max-body-mb allows ({max} bytes)");
                await file.WriteAsync(chunk.AsMemory(0, n), cancel).ConfigureAwait(false);
            }
        }
        if (total == 0) throw OipException.BadRequest($"{UploadName} is empty");
    }

    /// <summary>A DFER model: the face stage makes the clips on this worker, which is free again before they go
    /// through the model's batcher.</summary>
    private async Task<string> ClipsAsync(ServedModel model, Upload upload, CancellationToken cancel)
    {
        IReadOnlyList<ScoreJob> jobs;
        double? fps;
        try
        {
            (jobs, fps) = await Task.Run(() => (_faces.Read(upload.Path, model.Loaded!.Model, null, Silent),
                FrameRate.Probe(upload.Path)), cancel).ConfigureAwait(false);
        }
        finally
        {
            _workers.Release();
        }
        Refuse(jobs.FirstOrDefault(j => j.Error is not null && j.Internal) ?? (jobs.All(j => j.Error is not null)
            ? jobs[0] : null));
        int length = model.Loaded!.Session.ClipLength;
        foreach (ScoreJob job in jobs.Where(j => j.Error is null))
        {
            var clips = new float[(long)job.ClipCount * length];
            for (int c = 0; c < job.ClipCount; c++) job.Clip(c).CopyTo(clips.AsSpan(c * length, length));
            ClipResult[] results = await _core.InferAsync(model, clips, job.ClipCount, cancel).ConfigureAwait(false);
            for (int c = 0; c < results.Length; c++) job.SetResult(c, results[c]);
        }
        Refuse(jobs.FirstOrDefault(j => j.Error is not null && j.Internal));

        var infer = InferJson.From(model.Loaded, jobs);
        infer = infer with
        {
            Results = infer.Results.Select(r => r with { Input = upload.Name }).ToList(),
            Errors = infer.Errors.Select(e => new InputErrorJson(upload.Name, e.Error)).ToList(),
        };
        var root = JsonSerializer.SerializeToNode(infer, DferJson.Default.InferJson)!.AsObject();
        var scored = jobs.Where(j => j.Error is null).ToList();
        var answers = root["results"]!.AsArray();
        for (int i = 0; i < scored.Count; i++) answers[i]!.AsObject()["per_clip"] = PerClip(scored[i]);
        root["video"] = new JsonObject
        {
            ["fps"] = fps is double f ? Math.Round(f, 3) : null,
            ["analysis_side"] = new FaceStageOptions().AnalysisSide,
        };
        return root.ToJsonString(JsonOptions);
    }

    /// <summary>Every clip of a scored video: the source frames it was made of, its scores and label.</summary>
    private static JsonArray PerClip(ScoreJob job)
    {
        var clips = new JsonArray();
        for (int c = 0; c < job.ClipCount; c++)
        {
            ClipResult r = job.ClipResults[c];
            clips.Add(new JsonObject
            {
                ["clip"] = c,
                ["frames"] = job.ClipFrames is { } frames ? new JsonArray(frames[c].Select(f => (JsonNode?)f).ToArray())
                    : null,
                ["logits"] = Floats(r.Logits),
                ["probabilities"] = Floats(r.Probabilities),
                ["label"] = r.Label,
            });
        }
        return clips;
    }

    private static JsonArray Floats(float[] values) => new(values.Select(v => (JsonNode?)v).ToArray());

    private static readonly JsonSerializerOptions JsonOptions =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A failed job as the answer: its input's fault is 400, a bug of Dfer's 500.</summary>
    private void Refuse(ScoreJob? failed)
    {
        if (failed is null) return;
        if (failed.Internal)
        {
            _log.LogError("video endpoint: {Error}", failed.Error);
            throw OipException.Internal(failed.Error!);
        }
        throw OipException.BadRequest(failed.Error!);
    }

    /// <summary>The expression model: decoding on this worker, the pipeline under its lock.</summary>
    private async Task<string> ExpressionAsync(ServedModel model, Upload upload, CancellationToken cancel)
    {
        try
        {
            var frames = await Task.Run(
                () => ExpressionPipeline.ReadFrames(upload.Path, ExpressionPipeline.AnalysisSide), cancel)
                .ConfigureAwait(false);
            await _expression.WaitAsync(cancel).ConfigureAwait(false);
            ExpressionReport report;
            try
            {
                report = await Task.Run(() => ExpressionInferCommand.Score(model.Expression!, upload.Path, frames),
                    CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _expression.Release();
            }
            var json = ExpressionJson.From(model.Name, model.Properties["backend"], model.Properties["precision"],
                ExpressionInferCommand.WeightsDescription(model.Expression!.DetectorName),
                [report with { Input = upload.Name }], []);
            return DferJson.ToLine(json, DferJson.Default.ExpressionJson);
        }
        catch (DferException ex)
        {
            throw OipException.BadRequest(ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OipException)
        {
            _log.LogError(ex, "video endpoint: internal error");
            throw OipException.Internal(ScoreJob.InternalError(UploadName, ex));
        }
        finally
        {
            _workers.Release();
        }
    }

    public void Dispose()
    {
        _faces.Dispose();
        _workers.Dispose();
        _expression.Dispose();
    }
}
