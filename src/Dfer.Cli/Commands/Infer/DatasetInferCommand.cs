using Dfer.Cli.Datasets;
using Dfer.Cli.Scoring;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer infer --model m3dfel|ifdd --dataset DIR|CSV</c>, the dataset mode of <see cref="InferCommand"/>:
/// scores every video of a dataset with <see cref="DatasetRunner"/> (decoding ahead of the forward
/// passes) and writes one results row per video, to --output or as JSON Lines on stdout.
/// </summary>
internal static class DatasetInferCommand
{
    /// <summary>Lists the dataset, loads the model, scores every video and disposes the model.</summary>
    /// <param name="inputs">INPUT files, which must be none: a dataset run takes its videos from --dataset.</param>
    public static int Run(ScoringOptions scoring, string[] inputs, DatasetOptions dataset, FaceSettings face,
        CliConsole console)
    {
        if (inputs.Length > 0) throw new DferException("give either INPUT files or --dataset, not both");
        if (face.Stage.AllFaces)
            throw new DferException("--all-faces scores INPUT videos one track at a time; a dataset run scores the "
                + "main face of each video");
        IModel model = scoring.ResolveModel();
        SharedOptions.CheckJitter(model, scoring.JitterSeed);
        IReadOnlyList<DatasetItem> all = dataset.List(model);
        IReadOnlyList<DatasetItem> items = dataset.Select(all);

        using LoadedModel loaded = scoring.Open(console, InferCommand.GeneratedWeightsNote);
        using var faces = new FaceInputs(face, scoring.Backend, scoring.Threads, console);
        DatasetOutcome outcome = DatasetRunner.Run(loaded.Session, items, scoring.Batch, scoring.JitterSeed,
            dataset.Output, dataset.Existing, dataset.DecodeThreads,
            ResultsMetadata.Describe(loaded.Model, loaded.Precision, loaded.Backend.Name, scoring.Weights, scoring.Key,
            scoring.JitterSeed, dataset, face.Describe(), all.Count),
            console, item => faces.ReadVideo(item.Path, loaded.Model, scoring.JitterSeed));
        return outcome.ExitCode;
    }
}
