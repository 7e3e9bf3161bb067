using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

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
    /// <exception cref="DferException">ffmpeg is missing, the file does not decode, or it has no video frames.</exception>
    public static VideoDecoder Read(string path, Func<RgbImage, RgbImage> prepare, long rawBudgetBytes = RawBudgetBytes)
    {
        (int width, int height) = Probe(path);
        try
        {
            return Decode(path, width, height, prepare, rawBudgetBytes, "-fps_mode");
        }
        catch (FfmpegOptionUnknown)
        {
            return Decode(path, width, height, prepare, rawBudgetBytes, "-vsync");
        }
    }

    private static (int Width, int Height) Probe(string path)
    {
        (int exit, string stdout, string lastError) = RunToEnd("ffprobe", path,
            ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path]);
        if (exit != 0) throw DecodeFailure(path, lastError);
        string[] parts = stdout.Trim().Split(',');
        if (parts.Length < 2 ||
            !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int width) ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int height))
        {
            throw DferException.ForFile(path, "cannot decode video: no video stream");
        }
        if (width <= 0 || height <= 0) throw DferException.ForFile(path, $"cannot decode video: invalid frame size {width}x{height}");
        return (width, height);
    }

    private static VideoDecoder Decode(string path, int width, int height, Func<RgbImage, RgbImage> prepare, long rawBudgetBytes, string passthroughOption)
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
            int frameBytes = checked(width * height * 3);
            long rawBytes = 0;
            bool eager = false;
            while (true)
            {
                var pixels = new byte[frameBytes];
                int got = stdout.ReadAtLeast(pixels, frameBytes, throwOnEndOfStream: false);
                if (got == 0) break;
                if (got < frameBytes)
                {
                    // A frame cut short means ffmpeg failed (or the frame size changed mid-stream);
                    // let its own message, read below, say which.
                    process.WaitForExit();
                    throw process.ExitCode != 0
                        ? Failure(path, stderr, passthroughOption)
                        : DferException.ForFile(path, $"cannot decode video: ffmpeg's output ended inside a frame (does the frame size change from {width}x{height}?)");
                }
                var frame = new RgbImage(width, height, pixels);
                if (!eager && rawBytes + frameBytes > rawBudgetBytes)
                {
                    eager = true;
                    for (int i = 0; i < frames.Count; i++)
                    {
                        frames[i] = prepare(frames[i]);
                        prepared[i] = true;
                    }
                }
                frames.Add(eager ? prepare(frame) : frame);
                prepared.Add(eager);
                rawBytes += frameBytes;
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

    private static Exception Failure(string path, StderrTail stderr, string passthroughOption)
    {
        string last = stderr.LastLine;
        if (passthroughOption == "-fps_mode" && stderr.Contains("fps_mode")) return new FfmpegOptionUnknown();
        return DecodeFailure(path, last);
    }

    private static DferException DecodeFailure(string path, string ffmpegLine)
    {
        // ffmpeg starts its messages with the input's name; ours already does.
        string line = ffmpegLine.StartsWith(path + ": ", StringComparison.Ordinal) ? ffmpegLine[(path.Length + 2)..] : ffmpegLine;
        return DferException.ForFile(path, line.Length == 0 ? "cannot decode video" : $"cannot decode video: {line}");
    }

    /// <summary>Runs a short-lived tool and collects its whole stdout.</summary>
    private static (int Exit, string Stdout, string LastError) RunToEnd(string tool, string path, string[] args)
    {
        var stderr = new StderrTail();
        using Process process = Start(tool, path, args, stderr);
        try
        {
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout, stderr.LastLine);
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
            throw new DferException($"{path}: cannot decode video: {tool} was not found (install FFmpeg, e.g. apt-get install ffmpeg)", ex);
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

    /// <summary>ffmpeg rejected <c>-fps_mode</c> (older than 5.1): retried with <c>-vsync</c>.</summary>
    private sealed class FfmpegOptionUnknown : Exception;
}
