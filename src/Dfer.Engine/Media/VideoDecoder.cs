using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Dfer.Media;

/// <summary>
/// Decodes a video file with the FFmpeg command-line tools (<c>ffprobe</c> for the frame size,
/// <c>ffmpeg</c> for the frames), every frame in stream order, none dropped or duplicated.
/// </summary>
/// <remarks>
/// <para><c>ffmpeg -i FILE -map 0:v:0 -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -</c>:
/// passthrough keeps each decoded frame exactly once (the default would resample to a constant rate
/// for some containers); rotation metadata is not applied (<c>-noautorotate</c>), so frames are as
/// stored, like the frame images a dataset ships. On an ffmpeg older than 5.1 the same is spelled
/// <c>-vsync passthrough</c>, which is tried when <c>-fps_mode</c> is not recognised.</para>
/// <para>The frame count is not known in advance (containers do not all record it, and the ones that
/// do may be wrong), so frames are streamed in one pass: they are kept as decoded until they take
/// more than <see cref="RawBudgetBytes"/>; from then on each frame is shrunk to clip size by
/// <c>prepare</c> as it arrives, so memory stays at about <c>frames · Size² · 3</c> bytes.
/// Frames still held raw at the end are prepared only if a clip uses them.</para>
/// <para>stdout and stderr are read concurrently (so neither pipe can fill and stall ffmpeg), and on
/// any failure the process is killed.</para>
/// <para>What the file is comes from ffprobe, which looks at the content, not the name: an MPEG-TS
/// stream named <c>.mp4</c> decodes like any other. The frame size it reports is checked against
/// <see cref="MediaLimits.MaxImagePixels"/> and the frame count against
/// <see cref="MediaLimits.MaxVideoFrames"/> before anything is decoded; while frames arrive, their
/// number and the bytes held are bounded by <see cref="MediaLimits.MaxVideoFrames"/> and
/// <see cref="MediaLimits.MaxVideoBytes"/>.</para>
/// </remarks>
internal sealed class VideoDecoder
{
    /// <summary>Raw frames kept before switching to preparing each frame on arrival.</summary>
    internal const long RawBudgetBytes = 256L << 20;

    private readonly RgbImage[] _frames;
    private readonly bool[] _prepared;
    private readonly Func<RgbImage, RgbImage> _prepare;

    private VideoDecoder(List<RgbImage> frames, List<bool> prepared, Func<RgbImage, RgbImage> prepare)
    {
        _frames = frames.ToArray();
        _prepared = prepared.ToArray();
        _prepare = prepare;
    }

    /// <summary>Frames in the video.</summary>
    public int Count => _frames.Length;

    /// <summary>Frame <paramref name="index"/> after <c>prepare</c>.</summary>
    public RgbImage Prepared(int index)
    {
        if (!_prepared[index])
        {
            _frames[index] = _prepare(_frames[index]);
            _prepared[index] = true;
        }
        return _frames[index];
    }

    /// <summary>Decodes every frame of <paramref name="path"/>.</summary>
    /// <param name="path">The video file.</param>
    /// <param name="prepare">Shrinks a decoded frame to what a clip needs (resize and crop).</param>
    /// <param name="rawBudgetBytes">See <see cref="RawBudgetBytes"/>.</param>
    /// <param name="maxFrames">The most frames accepted (<see cref="MediaLimits.MaxVideoFrames"/>; smaller in
    /// tests).</param>
    /// <param name="maxBytes">The most bytes of frames held (<see cref="MediaLimits.MaxVideoBytes"/>; smaller in
    /// tests).</param>
    /// <exception cref="DferException">ffmpeg is missing, the file does not decode, it has no video
    /// frames, or its frames are too large or too many (<see cref="MediaLimits"/>).</exception>
    public static VideoDecoder Read(string path, Func<RgbImage, RgbImage> prepare, long rawBudgetBytes = RawBudgetBytes,
        int maxFrames = MediaLimits.MaxVideoFrames, long maxBytes = MediaLimits.MaxVideoBytes)
    {
        VideoProbe probe = Probe(path);
        var limits = new Limits(rawBudgetBytes, maxFrames, maxBytes);
        try
        {
            return Decode(path, probe.Width, probe.Height, prepare, limits, "-fps_mode");
        }
        catch (FfmpegOptionUnknown)
        {
            return Decode(path, probe.Width, probe.Height, prepare, limits, "-vsync");
        }
    }

    private readonly record struct Limits(long RawBudgetBytes, int MaxFrames, long MaxBytes);

    /// <summary>The ffprobe arguments whose output <see cref="ParseProbe"/> reads: every stream (not
    /// only the video ones, so that a file without video can say what it holds) and the container.</summary>
    internal static string[] ProbeArguments(string path) =>
        ["-v", "error", "-show_entries", "format=format_name:stream=codec_type,codec_name,width,height,nb_frames",
        "-of", "json", path];

    private static VideoProbe Probe(string path)
    {
        (int exit, string stdout, string lastError) = RunToEnd("ffprobe", path, ProbeArguments(path));
        if (exit != 0) throw DecodeFailure(path, lastError);
        return ParseProbe(path, stdout);
    }

    /// <summary>
    /// Reads ffprobe's JSON report (<see cref="ProbeArguments"/>) on <paramref name="path"/>: the first
    /// video stream, which is what <c>-map 0:v:0</c> decodes. Any text at all gives either a sane
    /// result or a one-line <see cref="DferException"/>: garbage, missing or mistyped fields, sizes that
    /// are negative, zero or huge, counts that are not numbers.
    /// </summary>
    /// <param name="path">The video, named in errors.</param>
    /// <param name="report">ffprobe's standard output.</param>
    /// <exception cref="DferException">Not a report, no video stream (saying what ffprobe found
    /// instead), an invalid frame size, or a frame size or frame count over <see cref="MediaLimits"/>.</exception>
    internal static VideoProbe ParseProbe(string path, string report)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(report);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(report);
        }
        catch (JsonException)
        {
            throw DferException.ForFile(path,
                $"cannot decode video: ffprobe's report is not the JSON expected (it "
                + $"starts {SafeText.Quote(report.TrimStart(), 40)})");
        }
        using (doc)
        {
            try
            {
                return FirstVideoStream(path, doc.RootElement);
            }
            catch (InvalidOperationException)
            {
                // System.Text.Json decodes escapes only when a string or a property name is read
                // (GetString, TryGetProperty), and then refuses an escaped lone surrogate (\ud800).
                throw DferException.ForFile(path,
                    "cannot decode video: ffprobe's report holds text that is not valid Unicode (an escaped lone "
                    + "surrogate)");
            }
        }
    }

    /// <summary>The first video stream of a parsed report, or the refusal that says what the file holds
    /// instead.</summary>
    private static VideoProbe FirstVideoStream(string path, JsonElement root)
    {
        string container = root.ValueKind == JsonValueKind.Object
            && root.TryGetProperty("format", out JsonElement format)
            && format.ValueKind == JsonValueKind.Object ? Text(format, "format_name") ?? "" : "";
        var others = new List<string>();
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("streams", out JsonElement streams)
            && streams.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement stream in streams.EnumerateArray())
            {
                if (stream.ValueKind != JsonValueKind.Object) continue;
                string type = Text(stream, "codec_type") ?? "unknown";
                if (type == "video") return VideoStream(path, stream);
                string codec = Text(stream, "codec_name") ?? "";
                others.Add(codec.Length == 0 ? type : $"{type} {codec}");
            }
        }
        throw DferException.ForFile(path,
            $"cannot decode video: no video stream (ffprobe found: {Found(others, container)})");
    }

    private static VideoProbe VideoStream(string path, JsonElement stream)
    {
        long? width = Integer(stream, "width"), height = Integer(stream, "height");
        if (width is null || height is null || width <= 0 || height <= 0)
        {
            throw DferException.ForFile(path,
                $"cannot decode video: ffprobe reports no valid frame size for its video stream "
                + $"({Shown(stream, "width")}x{Shown(stream, "height")})");
        }
        ImageDecoder.CheckPixels(path, "video frame", width.Value, height.Value);
        // Containers may not record a count (Matroska does not) or record "N/A"; then it is unknown.
        long? frames = Integer(stream, "nb_frames");
        if (frames > MediaLimits.MaxVideoFrames)
        {
            throw DferException.ForFile(path,
                $"video of {frames} frames (as ffprobe reports) is longer than Dfer's limit "
                + $"of {MediaLimits.MaxVideoFrames} frames; cut it shorter (e.g. ffmpeg -i IN "
                + $"-frames:v {MediaLimits.MaxVideoFrames} OUT)");
        }
        return new VideoProbe((int)width.Value, (int)height.Value, frames is >= 0 ? frames : null);
    }

    /// <summary>"audio aac, subtitle mov_text in a mov,mp4,m4a,3gp,3g2,mj2 container", at most a few streams, all text
    /// cut and escaped.</summary>
    private static string Found(List<string> streams, string container)
    {
        const int shownStreams = 4;
        string what = streams.Count == 0 ? "no streams"
            : string.Join(", ", streams.Take(shownStreams).Select(s => SafeText.Plain(s, 40)))
              + (streams.Count > shownStreams ? $" and {streams.Count - shownStreams} more" : "");
        return container.Length == 0 ? what : $"{what} in a {SafeText.Plain(container, 60)} container";
    }

    /// <summary>A string field, or null when it is absent or not a string.</summary>
    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>An integer field, given as a JSON number or as a string of digits (ffprobe writes both); null
    /// otherwise.</summary>
    private static long? Integer(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out JsonElement v)) return null;
        if (v.ValueKind == JsonValueKind.Number) return v.TryGetInt64(out long n) ? n : null;
        if (v.ValueKind == JsonValueKind.String
            && long.TryParse(v.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
            out long parsed)) return parsed;
        return null;
    }

    /// <summary>A field as ffprobe wrote it, for a message: cut and escaped, "?" when absent.</summary>
    private static string Shown(JsonElement e, string name) =>
        !e.TryGetProperty(name, out JsonElement v) ? "?"
        : v.ValueKind == JsonValueKind.String ? SafeText.Plain(v.GetString()!, 24)
        : SafeText.Plain(v.GetRawText(), 24);

    private static VideoDecoder Decode(string path, int width, int height, Func<RgbImage, RgbImage> prepare,
        Limits limits, string passthroughOption)
    {
        var stderr = new StderrTail();
        using Process process = Start("ffmpeg", path,
            ["-nostdin", "-hide_banner", "-loglevel", "error", "-noautorotate", "-i", path,
             "-map", "0:v:0", passthroughOption, "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stderr);
        var frames = new List<RgbImage>();
        var prepared = new List<bool>();
        try
        {
            Stream stdout = process.StandardOutput.BaseStream;
            // The probe checked width·height against MediaLimits.MaxImagePixels, so this fits an int.
            int frameBytes = checked(width * height * 3);
            long rawBytes = 0, heldBytes = 0;
            bool eager = false;
            while (true)
            {
                // One byte first, so that the limits below apply only when another frame really comes.
                int first = stdout.ReadByte();
                if (first < 0) break;
                if (frames.Count == limits.MaxFrames)
                {
                    throw DferException.ForFile(path,
                        $"video has more than Dfer's limit of {limits.MaxFrames} frames; cut it shorter (e.g. ffmpeg "
                        + $"-i IN -frames:v {limits.MaxFrames} OUT)");
                }
                if (heldBytes + frameBytes > limits.MaxBytes)
                {
                    throw DferException.ForFile(path,
                        $"video's frames would take more than Dfer's limit of {Mib(limits.MaxBytes)} in memory "
                        + $"after {frames.Count} frames of {width}x{height}; cut it shorter or scale it down");
                }
                var pixels = new byte[frameBytes];
                pixels[0] = (byte)first;
                int got = 1 + stdout.ReadAtLeast(pixels.AsSpan(1), frameBytes - 1, throwOnEndOfStream: false);
                if (got < frameBytes)
                {
                    // A frame cut short means ffmpeg failed (or the frame size changed mid-stream);
                    // let its own message, read below, say which.
                    process.WaitForExit();
                    throw process.ExitCode != 0
                        ? Failure(path, stderr, passthroughOption)
                        : DferException.ForFile(path,
                        $"cannot decode video: ffmpeg's output ended inside a frame (does the frame size change "
                        + $"from {width}x{height}?)");
                }
                var frame = new RgbImage(width, height, pixels);
                if (!eager && rawBytes + frameBytes > limits.RawBudgetBytes)
                {
                    eager = true;
                    heldBytes = 0;
                    for (int i = 0; i < frames.Count; i++)
                    {
                        frames[i] = prepare(frames[i]);
                        prepared[i] = true;
                        heldBytes += frames[i].Pixels.LongLength;
                    }
                }
                frames.Add(eager ? prepare(frame) : frame);
                prepared.Add(eager);
                rawBytes += frameBytes;
                heldBytes += frames[^1].Pixels.LongLength;
            }
            process.WaitForExit();
            if (process.ExitCode != 0) throw Failure(path, stderr, passthroughOption);
        }
        catch
        {
            Kill(process);
            throw;
        }
        if (frames.Count == 0) throw DferException.ForFile(path, "cannot decode video: it has no frames");
        return new VideoDecoder(frames, prepared, prepare);
    }

    private static string Mib(long bytes) =>
        bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes} bytes";

    private static Exception Failure(string path, StderrTail stderr, string passthroughOption)
    {
        string last = stderr.LastLine;
        if (passthroughOption == "-fps_mode" && stderr.Contains("fps_mode")) return new FfmpegOptionUnknown();
        return DecodeFailure(path, last);
    }

    private static DferException DecodeFailure(string path, string ffmpegLine)
    {
        // ffmpeg starts its messages with the input's name; ours already does.
        string line = ffmpegLine.StartsWith(path + ": ", StringComparison.Ordinal) ? ffmpegLine[(path.Length + 2)..]
            : ffmpegLine;
        return DferException.ForFile(path, line.Length == 0 ? "cannot decode video" : $"cannot decode video: {line}");
    }

    /// <summary>Runs a short-lived tool and collects its stdout, at most <see cref="MediaLimits.MaxProbeOutputBytes"/>
    /// of it.</summary>
    private static (int Exit, string Stdout, string LastError) RunToEnd(string tool, string path, string[] args)
    {
        var stderr = new StderrTail();
        using Process process = Start(tool, path, args, stderr);
        try
        {
            var stdout = new StringBuilder();
            var buffer = new char[8192];
            int got;
            while ((got = process.StandardOutput.Read(buffer)) > 0)
            {
                // Characters, not bytes, but a character takes at least one byte, so this bounds both.
                if (stdout.Length + got > MediaLimits.MaxProbeOutputBytes)
                {
                    throw DferException.ForFile(path,
                        $"cannot decode video: {tool} wrote more than {MediaLimits.MaxProbeOutputBytes >> 20} MiB "
                        + "about it (a real video takes a few kilobytes)");
                }
                stdout.Append(buffer, 0, got);
            }
            process.WaitForExit();
            return (process.ExitCode, stdout.ToString(), stderr.LastLine);
        }
        catch
        {
            Kill(process);
            throw;
        }
    }

    private static Process Start(string tool, string path, string[] args, StderrTail stderr)
    {
        var info = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (string a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        process.ErrorDataReceived += (_, e) => stderr.Add(e.Data);
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new DferException(
                $"{path}: cannot decode video: {tool} was not found (install FFmpeg, e.g. apt-get install ffmpeg)", ex);
        }
        process.BeginErrorReadLine();
        return process;
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>The last non-empty lines ffmpeg wrote to stderr (it can write many; only the end matters).</summary>
    private sealed class StderrTail
    {
        private readonly Queue<string> _lines = new();
        private readonly Lock _lock = new();

        public void Add(string? line)
        {
            if (string.IsNullOrWhiteSpace(line)) return;
            lock (_lock)
            {
                _lines.Enqueue(line.Trim());
                if (_lines.Count > 20) _lines.Dequeue();
            }
        }

        public string LastLine
        {
            get { lock (_lock) return _lines.Count == 0 ? "" : _lines.Last(); }
        }

        public bool Contains(string text)
        {
            lock (_lock) return _lines.Any(l => l.Contains(text, StringComparison.Ordinal));
        }
    }

    /// <summary>What ffprobe says about a video's first video stream.</summary>
    /// <param name="Width">Frame width in pixels, positive.</param>
    /// <param name="Height">Frame height in pixels, positive; Width·Height is at most
    /// <see cref="MediaLimits.MaxImagePixels"/>.</param>
    /// <param name="FrameCount">The frame count the container records (at most
    /// <see cref="MediaLimits.MaxVideoFrames"/>), or null when it records none.</param>
    internal sealed record VideoProbe(int Width, int Height, long? FrameCount);

    /// <summary>ffmpeg rejected <c>-fps_mode</c> (older than 5.1): retried with <c>-vsync</c>.</summary>
    private sealed class FfmpegOptionUnknown : Exception;
}
