using System.CommandLine;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Weights;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer export --onnx OUT.onnx</c>: a model's graph with its weights (BatchNorm folded, as the engine
/// runs it) as an ONNX model of standard ops, input "clips" [B, T, 3, H, W] and outputs "logits" and
/// "probabilities" [B, classes] (README.md, "ONNX export"). M3DFEL, IFDD and RDFER are exported; a model with an
/// op that has no ONNX form yet is refused in one line.
/// </summary>
internal static class ExportCommand
{
    public const string Dynamic = "dynamic";

    public static Command Create(CliConsole console)
    {
        var onnx = new Option<string>("--onnx")
        {
            Required = true,
            HelpName = "OUT",
            Description = "The .onnx file to write",
        };
        var model = SharedOptions.ModelOption(new Option<string>("--model") { Required = true }, false,
            "Model to export: ");
        var weights = SharedOptions.Weights(generatedByDefault: false);
        var generated = SharedOptions.GeneratedWeights();
        generated.Description = $"Without --weights: export deterministic generated weights (seed "
            + $"{SharedOptions.GeneratedWeightsSeed}), for testing only";
        var key = SharedOptions.Key();
        var classes = SharedOptions.Classes();
        var batch = new Option<string>("--batch")
        {
            HelpName = "dynamic|N",
            Description = $"The batch dimension: '{Dynamic}' (a symbolic 'batch', the default) or a fixed size N "
                + $"(1 to {Limits.MaxBatch})",
            DefaultValueFactory = _ => Dynamic,
        };
        batch.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0) return;
            string value = result.Tokens[^1].Value;
            if (ParseBatch(value) is null && value != Dynamic)
                result.AddError($"--batch {(value.Length == 0 ? "''" : value)}: not '{Dynamic}' or an integer from 1 "
                    + $"to {Limits.MaxBatch}");
        });
        var opset = NumberOptions.Int("--opset", OnnxExport.DefaultOpset, OnnxExport.MinOpset, OnnxExport.MaxOpset);
        opset.Description = $"The ONNX opset (ai.onnx) to write, {OnnxExport.MinOpset} to {OnnxExport.MaxOpset}";
        var command = new Command("export",
            "Export a model with its weights as an ONNX file of standard ops (verified with ONNX Runtime)")
        {
            onnx, model, weights, generated, key, classes, batch, opset,
        };
        command.SetAction(parsed => Run(parsed.GetValue(onnx)!, parsed.GetValue(model)!, parsed.GetValue(weights),
            parsed.GetValue(generated), parsed.GetValue(key), EmotionClasses.ParseOrder(parsed.GetValue(classes)!),
            parsed.GetValue(batch)!, parsed.GetValue(opset), console));
        return command;
    }

    private static int? ParseBatch(string value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
            out int n) && n is >= 1 and <= Limits.MaxBatch ? n : null;

    public static int Run(string output, string modelName, string? weightsPath, bool generated, string? key,
        ClassOrder classes, string batch, int opset, CliConsole console)
    {
        if (!output.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            throw new DferException($"--onnx {output}: name a .onnx file");
        if (Directory.Exists(output)) throw DferException.ForFile(output, "is a directory, not a file");
        string? folder = Path.GetDirectoryName(SharedOptions.FullPath(output));
        if (folder is not null && !Directory.Exists(folder))
            throw DferException.ForFile(output, $"no such folder {folder}");
        if (weightsPath is null && !generated)
            throw new DferException($"--model {modelName} needs --weights FILE (trained weights); to export "
                + $"deterministic generated weights for testing, add {SharedOptions.GeneratedWeightsOption}");
        if (weightsPath is not null && generated)
            throw new DferException($"{SharedOptions.GeneratedWeightsOption} and --weights exclude each other");
        if (key is not null && weightsPath is null)
            throw new DferException("--key names an entry of the --weights checkpoint; give --weights too");
        if (weightsPath is not null && SharedOptions.FullPath(weightsPath) == SharedOptions.FullPath(output))
            throw new DferException($"--onnx {output} is the --weights file; write somewhere else");

        IModel model = ModelRegistry.Get(modelName, classes);
        StateDict state;
        if (weightsPath is null)
        {
            state = model.GenerateWeights(SharedOptions.GeneratedWeightsSeed);
            console.Warning($"no --weights given: exporting {state.Source}, not a trained checkpoint");
        }
        else
        {
            console.Progress($"loading {weightsPath}");
            state = StateDict.Load(weightsPath, key);
        }
        int? fixedBatch = batch == Dynamic ? null : ParseBatch(batch);
        console.Progress($"exporting {model.Name} to ONNX (opset {opset}, batch {batch})");
        byte[] bytes = OnnxExport.Write(model, state, fixedBatch, opset);
        try
        {
            File.WriteAllBytes(output, bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(output, $"cannot write: {ex.Message}");
        }
        console.Summary($"wrote {model.Name} ({bytes.Length / 1048576.0:F1} MiB, opset {opset}, batch {batch}; "
            + $"input {OnnxExport.InputName} [{batch}, {string.Join(", ", model.ClipShape)}], outputs logits and "
            + $"probabilities [{batch}, {model.Classes.Count}]) to {output}");
        return ExitCodes.Ok;
    }
}
