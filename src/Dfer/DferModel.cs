extern alias engine;
using System.Runtime.InteropServices;
using engine::Dfer.Faces;
using engine::Dfer.Media;
using EngineError = engine::Dfer.DferException;
using EngineFaceMode = engine::Dfer.Faces.FaceMode;

namespace Dfer;

/// <summary>
/// A model loaded and compiled on a backend, ready to score videos, decoded frames or clips (docs/library.md).
/// Expensive to create (it reads the checkpoint and compiles every kernel), cheap to call, and it holds native and
/// device memory until <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// <para><b>Threads</b>: every member may be called from any thread. Scoring calls on one instance take turns (one
/// compiled model is one set of buffers), so calls from several threads are safe but not parallel; a call waiting for
/// its turn still honours its cancellation token. For parallel scoring, a server for example, use
/// <see cref="DferModelPool"/>, which holds several instances.</para>
/// <para><b>Errors</b>: a problem with an input or an option is a <see cref="DferException"/> naming it, in one line;
/// nothing is written anywhere and the model stays usable.</para>
/// <para><b>Cancellation</b> is checked between the steps of a call (decoding, face detection, each batch of
/// clips); a step under way finishes first.</para>
/// </remarks>
public sealed class DferModel : IDisposable
{
    /// <summary>Clips scored per forward pass (bounds the memory of a long video's IFDD clips).</summary>
    private const int Batch = 4;

    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly ModelRuntime _runtime;
    private bool _disposed;

    private DferModel(ModelRuntime runtime) { _runtime = runtime; }

    /// <summary>The models the library loads: "m3dfel", "ifdd", "rdfer" (DFER models: a checkpoint in, clips scored)
    /// and "expression" (face-api's per-frame expression net with the bundled pretrained weights).</summary>
    public static IReadOnlyList<string> Models => ModelRuntime.Names;

    /// <summary>
    /// Loads <paramref name="model"/> with the weights in <paramref name="checkpoint"/> and compiles it.
    /// </summary>
    /// <param name="model">One of <see cref="Models"/>.</param>
    /// <param name="checkpoint">A PyTorch checkpoint (torch.save: .pth, .pth.tar, .pt) or a .safetensors file with the
    /// model's original state dict; null for "expression", which uses the face-api weights.</param>
    /// <param name="options">Backend, precision, threads, class order, face stage; null for the defaults.</param>
    /// <exception cref="DferException">An unknown model or option, a missing or unreadable checkpoint, a state dict
    /// that is not the model's, the face-api weights not fetched, or a backend that is not available.</exception>
    public static DferModel Load(string model, string? checkpoint = null, DferOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new DferModel(Guard(checkpoint, () => ModelRuntime.Open(model, checkpoint, options ?? new())));
    }

    /// <summary>
    /// Loads <paramref name="model"/> with the weights read from <paramref name="checkpoint"/> (a PyTorch checkpoint
    /// or safetensors, told apart by content). The stream is read to its end into a temporary file, deleted before
    /// this returns, so memory stays bounded whatever its size; the stream is not disposed.
    /// </summary>
    /// <inheritdoc cref="Load(string, string?, DferOptions?)"/>
    public static DferModel LoadFrom(string model, Stream checkpoint, DferOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(checkpoint);
        const string name = "checkpoint stream";
        string temporary = Path.Combine(Path.GetTempPath(), $"dfer-{Guid.NewGuid():N}.checkpoint");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                checkpoint.CopyTo(file);
            return new DferModel(Guard(name,
                () => ModelRuntime.Open(model, temporary, options ?? new()), temporary, name));
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The model's name, e.g. "m3dfel".</summary>
    public string Name => _runtime.Name;

    /// <summary>The class labels, in the order of every result's probabilities.</summary>
    public IReadOnlyList<string> Classes => _runtime.Classes;

    /// <summary>The shape of one clip, e.g. [16, 3, 112, 112] for M3DFEL (frames, RGB, height, width); null for the
    /// expression model, which takes frames.</summary>
    public IReadOnlyList<int>? ClipShape => _runtime.ClipShape;

    /// <summary>The backend the model runs on, e.g. "cpu".</summary>
    public string Backend => _runtime.BackendName;

    /// <summary>What it computes in, e.g. "fp32".</summary>
    public string Precision => _runtime.Precision;

    /// <summary>The device, e.g. the CPU's name and vector ISA.</summary>
    public string Device => _runtime.Device;

    /// <summary>
    /// Scores a video file (.mp4, .avi, .mkv, .webm, .mov; decoded with FFmpeg, which must be on PATH) or a folder of
    /// frames (.jpg/.png, in file-name order), through the face stage as <see cref="DferOptions.Face"/> says.
    /// </summary>
    /// <exception cref="DferException">The input is missing, unreadable, too short for the model, or has no face
    /// (with the face stage).</exception>
    public VideoResult ScoreVideo(string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        return InTurn(path, cancellationToken, () => _runtime.ScoreVideo(path, Batch, cancellationToken));
    }

    /// <summary><see cref="ScoreVideo"/> on a thread-pool thread.</summary>
    public Task<VideoResult> ScoreVideoAsync(string path, CancellationToken cancellationToken = default) =>
        Task.Run(() => ScoreVideo(path, cancellationToken), cancellationToken);

    /// <summary>
    /// Scores a video given as decoded frames, in order: with the face stage (the default for frames) the frames are
    /// shrunk to a longer side of 640 pixels, as decoded videos are, before faces are found.
    /// </summary>
    /// <param name="frames">The frames (at least one; a DFER model needs as many as its protocol samples).</param>
    /// <param name="framesPerSecond">The frame rate, for the timeline's times; null if unknown.</param>
    /// <param name="cancellationToken">Cancels the call between its steps.</param>
    /// <exception cref="DferException">No frames, too few for the model, or no face (with the face stage).
    /// </exception>
    public VideoResult ScoreFrames(IReadOnlyList<VideoFrame> frames, double? framesPerSecond = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        return InTurn(ModelRuntime.FramesInput, cancellationToken,
            () => _runtime.ScoreFrames(ToImages(frames), framesPerSecond, Batch, cancellationToken));
    }

    /// <summary>
    /// Scores a video whose frames arrive as a stream (from a decoder or a camera), once the stream ends. Frames
    /// are converted as they arrive (and, with the face stage, shrunk to the analysis size), so the memory held is
    /// that of the converted frames, not of the source's resolution.
    /// </summary>
    /// <inheritdoc cref="ScoreFrames(IReadOnlyList{VideoFrame}, double?, CancellationToken)"/>
    public async Task<VideoResult> ScoreFramesAsync(IAsyncEnumerable<VideoFrame> frames,
        double? framesPerSecond = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var images = new List<RgbImage>();
        await foreach (var frame in frames.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            ArgumentNullException.ThrowIfNull(frame, nameof(frames));
            images.Add(_runtime.Arriving(ToImage(frame)));
        }
        return await Task.Run(() => InTurn(ModelRuntime.FramesInput, cancellationToken,
            () => _runtime.ScoreFrames(images, framesPerSecond, Batch, cancellationToken)), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// Scores clips that are ready for the model (a DFER model only): float32 values laid out as
    /// <paramref name="shape"/>, which is <see cref="ClipShape"/> for one clip or [clips, ClipShape...], RGB scaled to
    /// [0, 1] and normalised as the model's protocol does (docs/library.md).
    /// </summary>
    /// <exception cref="DferException">The expression model (it takes frames), a shape that is not the model's, a
    /// length that does not match the shape, or a NaN/Inf value (naming the clip).</exception>
    public IReadOnlyList<ClipScores> ScoreClips(ReadOnlySpan<float> clips, ReadOnlySpan<int> shape,
        CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _turn.Wait(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                return _runtime.ScoreClips(clips, shape, Batch, cancellationToken);
            }
            catch (EngineError e)
            {
                throw new DferException(e.Message, ModelRuntime.ClipsInput, e);
            }
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Frees the compiled model, its backend and the face stage. Calls after this throw
    /// <see cref="ObjectDisposedException"/>; a call under way finishes first.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _turn.Wait();
        try
        {
            if (_disposed) return;
            _disposed = true;
            _runtime.Dispose();
        }
        finally
        {
            _turn.Release();
        }
    }

    private T InTurn<T>(string input, CancellationToken cancellationToken, Func<T> call)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _turn.Wait(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return Guard(input, call);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Runs <paramref name="call"/>, turning the engine's errors into this library's, with
    /// <paramref name="hidden"/> (a temporary file) replaced by <paramref name="shown"/> in the message.</summary>
    private static T Guard<T>(string? input, Func<T> call, string? hidden = null, string? shown = null)
    {
        try
        {
            return call();
        }
        catch (EngineError e)
        {
            string message = hidden is null ? e.Message : e.Message.Replace(hidden, shown);
            throw new DferException(message, input, e);
        }
    }

    private static RgbImage[] ToImages(IReadOnlyList<VideoFrame> frames)
    {
        var images = new RgbImage[frames.Count];
        for (int i = 0; i < images.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(frames[i], nameof(frames));
            images[i] = ToImage(frames[i]);
        }
        return images;
    }

    /// <summary>The frame as the engine's image: its own array when the memory is one whole array, else a copy.
    /// </summary>
    private static RgbImage ToImage(VideoFrame frame)
    {
        byte[] pixels = MemoryMarshal.TryGetArray(frame.Rgb, out ArraySegment<byte> segment)
            && segment.Offset == 0 && segment.Count == segment.Array!.Length ? segment.Array : frame.Rgb.ToArray();
        return new RgbImage(frame.Width, frame.Height, pixels);
    }

    internal static EngineFaceMode ToEngine(FaceMode mode) => mode switch
    {
        FaceMode.Detect => EngineFaceMode.Detect,
        FaceMode.None => EngineFaceMode.None,
        _ => EngineFaceMode.Auto,
    };

    internal static FaceMode FromEngine(EngineFaceMode mode) =>
        mode == EngineFaceMode.Detect ? FaceMode.Detect : FaceMode.None;
}
