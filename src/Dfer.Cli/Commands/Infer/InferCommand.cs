using System.CommandLine;
using Dfer.Cli.Datasets;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer infer</c>: one command line, three programs. The options are declared once
/// (<see cref="InferOptions"/>); after parsing, the parsed <c>--model</c> and <c>--dataset</c> values
/// pick the mode, which refuses the options of the other modes:
/// <list type="bullet">
/// <item><c>--model expression INPUT...</c>: <see cref="ExpressionInferCommand"/>, face-api's detector and expression
/// net.</item>
/// <item><c>--model m3dfel|ifdd --dataset DIR|CSV</c>: <see cref="DatasetInferCommand"/>, a results row per
/// video.</item>
/// <item><c>--model m3dfel|ifdd INPUT...</c>: <see cref="ClipInferCommand"/>, .npy clips, frame folders and
/// videos.</item>
/// </list>
/// </summary>
internal static class InferCommand
{
    /// <summary>What the warning about generated weights adds, in the clip and dataset modes.</summary>
    public const string GeneratedWeightsNote = "the scores are meaningless (pass --weights FILE for real predictions)";

    public static Command Create(CliConsole console)
    {
        var options = new InferOptions();
        var command = new Command("infer",
            "Score face videos: the 7 emotion logits and probabilities of every clip, frame folder or video (--model "
            + "expression: face-api's pretrained face detector and expression net on any video, frame folder or "
            + "image)");
        options.AddTo(command);
        command.SetAction(parsed => Run(options, parsed, console));
        return command;
    }

    /// <summary>Runs the mode that the parsed <c>--model</c> and <c>--dataset</c> pick.</summary>
    private static int Run(InferOptions options, ParseResult parsed, CliConsole console)
    {
        // A DFER model without --weights or --generated-weights is refused first, whatever the mode.
        ScoringOptions scoring = options.Scoring.Get(parsed);
        string[] inputs = parsed.GetValue(options.Inputs)!;
        if (ExpressionInferCommand.Handles(scoring.Model))
        {
            DatasetOptions unused = options.Dataset.Get(parsed);
            if (unused.Source is not null)
                throw new DferException(
                    $"--dataset does not apply to --model {ExpressionInferCommand.ModelName}; give the videos as "
                    + "INPUT");
            unused.CheckUnused();
            FaceSettings expressionFace = options.Face.Get(parsed);
            return ExpressionInferCommand.Run(scoring, inputs, options.Expression.Get(parsed), expressionFace, console);
        }
        options.Expression.CheckUnused(parsed);
        DatasetOptions dataset = options.Dataset.Get(parsed);
        FaceSettings face = options.Face.Get(parsed);
        return dataset.Source is null
            ? ClipInferCommand.Run(scoring, inputs, dataset, face, console)
            : DatasetInferCommand.Run(scoring, inputs, dataset, face, console);
    }
}
