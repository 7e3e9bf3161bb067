using System.CommandLine;
using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Cli.Commands;

/// <summary>Options more than one command takes, spelled and described the same everywhere.</summary>
internal static class SharedOptions
{
    /// <summary>Seed of the stand-in weights used without --weights; fixed so that runs are comparable.</summary>
    public const ulong GeneratedWeightsSeed = 1;

    /// <summary>
    /// Every model <c>dfer</c> runs, as help and messages list them: the registry's DFER models, which
    /// every command takes, then <c>infer</c>'s face-api expression pipeline. The one list of model names.
    /// </summary>
    public static IReadOnlyList<string> ModelNames => [.. ModelRegistry.Names, ExpressionInferCommand.ModelName];

    /// <summary>The models a command takes, as its help and errors list them.</summary>
    public static string ModelList(bool expression) => expression
        ? string.Join(", ", ModelNames)
        : $"{string.Join(", ", ModelRegistry.Names)} ({ExpressionInferCommand.ModelName}: 'dfer infer' and "
            + "'dfer features' only)";

    /// <summary>
    /// <c>--model NAME</c>, checked when parsing against <see cref="ModelNames"/>; <paramref name="expression"/>:
    /// the command also runs <c>--model expression</c> (infer).
    /// </summary>
    public static Option<string> Model(bool expression = false)
        => ModelOption(new Option<string>("--model") { Required = true }, expression,
        "Model to run: ");

    /// <summary>Checks an option naming a model, and gives it its description listing the models.</summary>
    public static Option<T> ModelOption<T>(Option<T> option, bool expression, string description)
    {
        option.Description = description + ModelList(expression);
        option.HelpName = "NAME";
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0) return;
            string name = result.Tokens[^1].Value;
            if (ModelRegistry.Names.Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase))) return;
            if (ExpressionInferCommand.Handles(name))
            {
                if (!expression)
                    result.AddError(
                        $"{option.Name} {name}: the face-api pipeline of 'dfer infer' and 'dfer features' only; "
                        + $"this command takes {string.Join(", ", ModelRegistry.Names)}");
                return;
            }
            result.AddError($"{option.Name} {name}: unknown model; available: {ModelList(expression)}");
        });
        return option;
    }

    /// <param name="generatedByDefault">Whether the command runs generated weights without --weights (bench, profile,
    /// validate) or asks for --generated-weights (infer, eval).</param>
    public static Option<string?> Weights(bool generatedByDefault = true) => new("--weights")
    {
        Description = "Checkpoint: a PyTorch torch.save file (.pth, .pt, .ckpt, .tar) or .safetensors. "
            + (generatedByDefault
            ? "Without it, generated stand-in weights are used (timings are representative, scores are not)"
            : $"Required for --model {string.Join(", ", ModelRegistry.Names)} unless {GeneratedWeightsOption} is "
                + "given"),
        HelpName = "FILE",
    };

    /// <summary>Name of the flag that lets infer and eval score with generated weights.</summary>
    public const string GeneratedWeightsOption = "--generated-weights";

    /// <summary><c>--generated-weights</c>: score with deterministic generated weights, for testing (infer,
    /// eval).</summary>
    public static Option<bool> GeneratedWeights() => new(GeneratedWeightsOption)
    {
        Description = $"Without --weights: score with deterministic generated weights (seed {GeneratedWeightsSeed}), "
            + "for testing only; the scores mean nothing",
    };

    public static Option<string?> Key() => new("--key")
    {
        Description = "Entry of a PyTorch checkpoint that holds the state dict (default: found automatically: the file "
            + "itself, 'state_dict' or 'model')",
        HelpName = "NAME",
    };

    public static Option<long?> JitterSeed()
    {
        var option = NumberOptions.Optional("--jitter-seed", long.MinValue, long.MaxValue);
        option.Description = "Use the official loader's random frame jitter, drawn as Python's random.seed(SEED) would "
            + "for each video (default: the deterministic frame choice)";
        option.HelpName = "SEED";
        return option;
    }

    public static Option<string?> Dataset(bool required) => new("--dataset")
    {
        Description = "Many videos: a folder of frame folders and video files, or a DFEW split CSV (rows "
            + "'video_name,label'; needs --root)",
        HelpName = "DIR|CSV",
        Required = required,
    };

    public static Option<string?> Root() => new("--root")
    {
        Description = $"Dataset root for a CSV: video N is the frame folder <root>/{Runtime.Dataset.DfewClipFolder}/<N "
            + "zero-padded to 5 digits>",
        HelpName = "DIR",
    };

    public static Option<string> ClipFolder() => new("--clip-folder")
    {
        Description = "Where a CSV's videos lie under --root",
        HelpName = "PATH",
        DefaultValueFactory = _ => Runtime.Dataset.DfewClipFolder,
    };

    public static Option<string?> ResultsOutput(string what) => new("--output")
    {
        Description = what,
        HelpName = "FILE",
    };

    public static Option<bool> Resume() => new("--resume")
    {
        Description = "Continue an interrupted run: keep the videos already in --output and score only the rest",
    };

    public static Option<bool> Overwrite() => new("--overwrite")
    {
        Description = "Replace an existing --output instead of refusing",
    };

    /// <summary><c>--decode-threads N</c>; null (not given) lets <see cref="Datasets.DatasetRunner"/> choose.</summary>
    public static Option<int?> DecodeThreads()
    {
        var option = NumberOptions.Optional("--decode-threads", 0, Limits.MaxDecodeThreads);
        option.Description = $"Threads that decode videos of a --dataset run while the forward pass runs, at most two "
            + $"batches' worth of clips ahead; 0 decodes each video on the main thread between forward passes "
            + $"(default: 1, or 2 with 4 or more logical cores; at most {Limits.MaxDecodeThreads})";
        return option;
    }

    public static Option<string> Backend() => new("--backend")
    {
        Description = $"Backend to run on: {string.Join(", ", BackendRegistry.Names)} (see 'dfer devices')",
        HelpName = "NAME",
        DefaultValueFactory = _ => "cpu",
    };

    /// <summary>
    /// <c>--precision fp32|tf32|bf16|fp16</c>: what the backend computes in. Spelling is checked when
    /// parsing; whether the backend computes in it is checked when the backend is created
    /// (<see cref="BackendRegistry.CheckPrecision"/>), both usage errors (exit code 2).
    /// </summary>
    public static Option<string> Precision(string? description = null)
    {
        var option = new Option<string>("--precision")
        {
            Description = description
                ?? "Arithmetic of the backend: fp32 (exact), tf32 (fp32 with TF32-rounded multiplication operands), "
                    + "bf16 or fp16 (16-bit operands and activations); fp32 accumulation in every mode. Only --backend "
                    + "cuda computes in anything but fp32 (its convolutions; its other ops stay fp32)",
            HelpName = "fp32|tf32|bf16|fp16",
            DefaultValueFactory = _ => "fp32",
        };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0) return;
            try { PrecisionExtensions.Parse(result.Tokens[^1].Value); }
            catch (DferException ex) { result.AddError($"--precision: {ex.Message}"); }
        });
        return option;
    }

    /// <summary>The parsed value of a <see cref="Precision(string?)"/> option.</summary>
    public static Precision GetPrecision(ParseResult parsed, Option<string> option)
        => PrecisionExtensions.Parse(parsed.GetValue(option) ?? "fp32");

    public static Option<int> Threads()
    {
        var option = NumberOptions.Int("--threads", 0, 0, Limits.MaxThreads,
            $"(this machine has {Environment.ProcessorCount} cores)");
        option.Description = $"Worker threads of the cpu backend, at most {Limits.MaxThreads}; 0 means one per logical "
            + $"core ({Environment.ProcessorCount} here)";
        return option;
    }

    public static Option<int> Batch(int defaultValue)
    {
        var option = NumberOptions.Int("--batch", defaultValue, 1, Limits.MaxBatch);
        option.Description = $"Clips per forward pass (at most {Limits.MaxBatch})";
        return option;
    }

    /// <summary><c>--classes dfew|ferv39k</c>: the order of a DFER checkpoint's outputs.</summary>
    public static Option<string> Classes() => OneOf(new Option<string>("--classes")
    {
        Description = "The dataset the checkpoint was trained on, which fixes the order of its seven outputs: dfew "
            + "(happy, sad, neutral, angry, surprise, disgust, fear) or ferv39k (angry, disgust, fear, happy, neutral, "
            + "sad, surprise); a checkpoint does not record it",
        DefaultValueFactory = _ => "dfew",
    }, "dfew", "ferv39k");

    public static Option<string> Format() => OneOf(new Option<string>("--format")
    {
        Description = "Output format on stdout",
        DefaultValueFactory = _ => Output.Table,
    }, Output.Table, Output.Json);

    /// <summary>
    /// Accepts only <paramref name="values"/> (exactly as spelt), with the house-style message
    /// "--format xml: not one of table, json" where System.CommandLine's AcceptOnlyFromAmong has its own.
    /// </summary>
    public static Option<string> OneOf(Option<string> option, params string[] values)
    {
        option.HelpName = string.Join('|', values);
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0) return;
            string value = result.Tokens[^1].Value;
            if (!values.Contains(value, StringComparer.Ordinal))
                result.AddError(
                    $"{option.Name} {(value.Length == 0 ? "''" : value)}: not one of {string.Join(", ", values)}");
        });
        return option;
    }

    /// <summary>
    /// <see cref="Path.GetFullPath(string)"/> of a path the user gave, with its failures (a NUL
    /// character, an empty path) as one-line usage errors instead of ArgumentException.
    /// </summary>
    public static string FullPath(string path)
    {
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException
            or System.Security.SecurityException)
        {
            throw DferException.ForFile(path.Length == 0 ? "''" : path,
                path.Contains('\0') ? "not a valid path (it holds a NUL character)" : "not a valid path");
        }
    }

    /// <summary>Refuses --jitter-seed for a model whose protocol has no random frame choice.</summary>
    public static void CheckJitter(IModel model, long? seed)
    {
        if (seed is not null && model.Protocol.Sampling != Media.FrameSampling.Spread)
            throw new DferException(
                $"--jitter-seed: {model.Name} takes consecutive frame windows, with no random frame choice to "
                + "reproduce");
    }
}
