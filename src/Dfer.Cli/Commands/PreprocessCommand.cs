using System.CommandLine;
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
        var input = new Argument<string>("INPUT")
        {
            Description = "A frame folder (JPEG/PNG frames ordered by the number in their names) or a video file"
        };
        var output = new Option<string>("--output")
        {
            Description = "The float32 .npy to write: [clips, ...one clip], e.g. [1, 16, 3, 112, 112] for m3dfel, [N, "
                + "16, 3, 224, 224] for ifdd (one clip per 16-frame window)",
            HelpName = "OUT.npy",
            Required = true,
        };
        var command = new Command("preprocess",
            "Decode a video with a model's test-time protocol (frame choice, PIL-exact resize, /255) and save the "
            + "input tensor")
        {
            model, jitter, input, output,
        };
        command.SetAction(
            parsed => Run(parsed.GetValue(model)!, parsed.GetValue(input)!, parsed.GetValue(output)!,
            parsed.GetValue(jitter), console));
        return command;
    }

    public static int Run(string modelName, string input, string output, long? jitterSeed, CliConsole console)
    {
        IModel model = ModelRegistry.Get(modelName);
        SharedOptions.CheckJitter(model, jitterSeed);
        if (!output.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new DferException($"--output {output}: name an .npy file");
        if (!MediaInput.IsVideoInput(input))
            throw DferException.ForFile(input, Directory.Exists(input) || File.Exists(input)
                ? "not a frame folder or video file (.mp4, .avi, .mkv, .webm, .mov)"
                : "no such file or folder");
        float[][] clips = MediaInput.ReadClips(input, model.Protocol, jitterSeed);
        int clipLength = model.Protocol.ClipElements;
        var data = new float[(long)clips.Length * clipLength];
        for (int c = 0; c < clips.Length; c++) clips[c].CopyTo(data, (long)c * clipLength);
        int[] shape = new[] { clips.Length }.Concat(model.ClipShape).ToArray();
        Npy.WriteFloat32(output, data, shape);
        console.Summary(
            $"wrote {Output.Shape(shape)} float32 ({model.Name} protocol: {Describe(model.Protocol)}) to {output}");
        return ExitCodes.Ok;
    }

    private static string Describe(ClipProtocol p) =>
        $"{p.Frames} frames by {(p.Sampling == FrameSampling.Spread ? "spread sampling" : "consecutive windows")}, " +
        $"PIL {p.Filter.ToString().ToLowerInvariant()} resize to {p.Size}x{p.Size}, /255";
}
