using System.CommandLine;
using Dfer.Cli.Scoring;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Models;
using Dfer.Tensors;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer preprocess</c>: writes exactly the tensor a model sees for a frame folder or video, so
/// users can compare it with their own PyTorch pipeline.
/// </summary>
internal static class PreprocessCommand
{
    public static Command Create(CliConsole console)
    {
        var model = SharedOptions.Model();
        var jitter = SharedOptions.JitterSeed();
        var backend = SharedOptions.Backend();
        var threads = SharedOptions.Threads();
        var face = new FaceSettings.Parser { WithAllFaces = false };
        var input = new Argument<string>("INPUT")
        {
            Description = "A frame folder (JPEG/PNG frames ordered by the number in their names), a video file or an "
                + "image"
        };
        var output = new Option<string>("--output")
        {
            Description = "The float32 .npy to write: [clips, ...one clip], e.g. [1, 16, 3, 112, 112] for m3dfel, [N, "
                + "16, 3, 224, 224] for ifdd (one clip per 16-frame window)",
            HelpName = "OUT.npy",
            Required = true,
        };
        var crops = new Option<string?>("--crops")
        {
            Description = "With the face stage: also save the face crop of every sampled frame to this folder as "
                + "frame_NNNNNN.png (the frame's number in the video), so a person can look at them; "
                + "'infer --face none' on the folder gives the same scores",
            HelpName = "DIR",
        };
        var command = new Command("preprocess",
            "Decode a video with a model's test-time protocol (face crop, frame choice, PIL-exact resize, /255) and "
            + "save the input tensor")
        {
            model, jitter, backend, threads, input, output, crops,
        };
        face.AddTo(command);
        command.SetAction(
            parsed => Run(new Request(parsed.GetValue(model)!, parsed.GetValue(input)!, parsed.GetValue(output)!,
            parsed.GetValue(jitter), face.Get(parsed), parsed.GetValue(crops), parsed.GetValue(backend)!,
            parsed.GetValue(threads)), console));
        return command;
    }

    /// <summary>What to preprocess and how.</summary>
    public sealed record Request(string Model, string Input, string Output, long? JitterSeed, FaceSettings Face,
        string? Crops = null, string Backend = "cpu", int Threads = 0);

    public static int Run(Request r, CliConsole console)
    {
        IModel model = ModelRegistry.Get(r.Model);
        SharedOptions.CheckJitter(model, r.JitterSeed);
        string input = r.Input, output = r.Output;
        if (!output.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new DferException($"--output {output}: name an .npy file");
        if (!Directory.Exists(input) && !File.Exists(input))
            throw DferException.ForFile(input, "no such file or folder");
        FaceMode mode = r.Face.For(input);
        if (!MediaInput.IsVideoInput(input) && !(mode == FaceMode.Detect && MediaInput.HasImageExtension(input)))
            throw DferException.ForFile(input,
                "not a frame folder, video file (.mp4, .avi, .mkv, .webm, .mov) or image");
        if (r.Crops is not null && mode != FaceMode.Detect)
            throw new DferException($"--crops saves face crops; {input} is read with --face none");
        float[][] clips;
        string how;
        if (mode == FaceMode.Detect)
        {
            using var faces = new FaceInputs(r.Face, r.Backend, r.Threads, console);
            var stage = faces.Stage;
            var frames = stage.ReadFrames(input);
            var track = stage.Selected(input, stage.Find(frames))[0];
            var made = stage.Clips(input, frames, track, model.Protocol, r.JitterSeed);
            clips = made.Clips;
            how = $"face {track.Id} found by {stage.Detector.Name} in {made.SampledWithFace} of {made.Sampled.Length} "
                + "sampled frames, cropped; ";
            if (r.Crops is not null) SaveCrops(r.Crops, made, console);
        }
        else
        {
            clips = MediaInput.ReadClips(input, model.Protocol, r.JitterSeed);
            how = "";
        }
        int clipLength = model.Protocol.ClipElements;
        var data = new float[(long)clips.Length * clipLength];
        for (int c = 0; c < clips.Length; c++) clips[c].CopyTo(data, (long)c * clipLength);
        int[] shape = new[] { clips.Length }.Concat(model.ClipShape).ToArray();
        Npy.WriteFloat32(output, data, shape);
        console.Summary(
            $"wrote {Output.Shape(shape)} float32 ({model.Name} protocol: {how}{Describe(model.Protocol)}) "
            + $"to {output}");
        return ExitCodes.Ok;
    }

    private static void SaveCrops(string dir, FaceClips made, CliConsole console)
    {
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(dir, $"cannot create the crops folder: {e.Message}");
        }
        for (int i = 0; i < made.Sampled.Length; i++)
            ImageEncoder.WritePng(made.Crops[i], Path.Combine(dir, $"frame_{made.Sampled[i]:D6}.png"));
        console.Summary($"{made.Sampled.Length} face crops written to {dir}");
    }

    private static string Describe(ClipProtocol p) =>
        $"{p.Frames} frames by {(p.Sampling == FrameSampling.Spread ? "spread sampling" : "consecutive windows")}, " +
        $"PIL {p.Filter.ToString().ToLowerInvariant()} resize to {p.Size}x{p.Size}, /255";
}
