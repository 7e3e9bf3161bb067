using System.CommandLine;
using Dfer.Cli.Datasets;

namespace Dfer.Cli.Commands;

/// <summary>
/// The command line of <c>dfer infer</c>, declared once for its three modes (<see cref="InferCommand"/>):
/// the scoring options every mode reads, INPUT (clips and expression), the dataset options and the
/// expression options, in the order <c>dfer infer --help</c> lists them.
/// </summary>
internal sealed class InferOptions
{
    /// <summary>--model, --weights, --backend, --batch, --format, ...: every mode reads them.</summary>
    public ScoringOptions.Parser Scoring { get; } = new(expression: true);

    /// <summary>--dataset and the options of a dataset run (<see cref="DatasetInferCommand"/>).</summary>
    public DatasetOptions.Parser Dataset { get; } = new(required: false,
        "Results file of a --dataset run, one row per video: .jsonl or .csv (default: JSON Lines on stdout)",
        shardable: true);

    /// <summary>--timeline, --overlay, --window, --frames, --detector-size
    /// (<see cref="ExpressionInferCommand"/>).</summary>
    public ExpressionInferCommand.Parser Expression { get; } = new();

    /// <summary>--face, --detector, --detector-size, --face-margin, --max-missing, --all-faces
    /// (<see cref="FaceSettings"/>).</summary>
    public FaceSettings.Parser Face { get; } = new();

    /// <summary>INPUT...: what the clip and expression modes score.</summary>
    public Argument<string[]> Inputs { get; } = CreateInputs();

    public void AddTo(Command command)
    {
        command.Arguments.Add(Inputs);
        Scoring.AddTo(command);
        Dataset.AddTo(command);
        Face.AddTo(command);
        Expression.AddTo(command);
    }

    private static Argument<string[]> CreateInputs()
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "What to score: .npy clip batches (float32 [B, 16, 3, 112, 112] for m3dfel, [B, 16, 3, 224, "
                + "224] for ifdd, or one clip; values in [0, 1]), frame folders (JPEG/PNG frames ordered by the number "
                + "in their names), video files (.mp4 .avi .mkv .webm .mov, decoded with FFmpeg) or images",
            Arity = ArgumentArity.ZeroOrMore,
        };
        // A string argument swallows a mistyped option ("--batchsize 4") as a file name; catch it here
        // so it is a usage error like any unknown option. "./-odd.npy" still names such a file.
        inputs.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-' && !File.Exists(token.Value)
                    && !Directory.Exists(token.Value))
                    result.AddError($"{token.Value}: not an option of 'dfer infer'");
        });
        return inputs;
    }
}
