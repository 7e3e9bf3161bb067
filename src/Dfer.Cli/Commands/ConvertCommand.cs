using System.CommandLine;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer convert</c>: a PyTorch checkpoint's state dict as a .safetensors file (names without
/// DataParallel's <c>module.</c>, every tensor contiguous, dtypes kept), read without running any
/// of the checkpoint's code.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create(CliConsole console)
    {
        var input = new Argument<string>("IN")
        {
            Description = "PyTorch checkpoint written by torch.save (.pth, .pt, .ckpt, .tar)"
        };
        var output = new Argument<string>("OUT") { Description = "The .safetensors file to write" };
        var key = SharedOptions.Key();
        var command = new Command("convert",
            "Convert a PyTorch checkpoint to .safetensors (its state dict only; nothing in it is executed)")
        {
            input, output, key,
        };
        command.SetAction(
            parsed => Run(parsed.GetValue(input)!, parsed.GetValue(output)!, parsed.GetValue(key), console));
        return command;
    }

    public static int Run(string input, string output, string? key, CliConsole console)
    {
        if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new DferException($"OUT {output}: name a .safetensors file");
        if (Directory.Exists(input)) throw DferException.ForFile(input, "is a directory, not a file");
        if (!File.Exists(input)) throw DferException.ForFile(input, "no such file");
        if (!TorchCheckpoint.LooksLikeTorchFile(input))
            throw DferException.ForFile(input, "not a PyTorch torch.save file (neither a zip archive nor a pickle)");
        if (SharedOptions.FullPath(input) == SharedOptions.FullPath(output))
            throw new DferException($"OUT {output} is the input file; write somewhere else");
        console.Progress($"reading {input}");
        IReadOnlyList<RawTensor> tensors = TorchCheckpoint.ReadStateDict(input, key);
        if (tensors.Count == 0) throw DferException.ForFile(input, "its state dict holds no tensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["converted_by"] = "dfer convert" };
        SafetensorsWriter.Write(output, tensors.Select(t => (t.Name, t.DType, t.Shape, t.Data)), metadata);
        long bytes = tensors.Sum(t => (long)t.Data.Length);
        var dtypes = tensors.GroupBy(t => t.DType).OrderByDescending(g => g.Count())
            .Select(g => $"{g.Count()} {g.Key.SafetensorsName()}");
        console.Summary(
            $"wrote {tensors.Count} tensors ({string.Join(", ", dtypes)}; {bytes / 1048576.0:F1} MiB) to {output}");
        return ExitCodes.Ok;
    }
}
