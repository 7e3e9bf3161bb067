using System.CommandLine;
using Dfer.Cli.Scoring;
using Dfer.Tensors;

namespace Dfer.Cli.Commands;

/// <summary>
/// The options of a command that scores videos with a model (infer, eval): which model, weights,
/// backend, precision and batch, how results are printed, and the frame-jitter seed. Scores of
/// generated weights look like real ones, so a DFER model scores with them only when asked to
/// (<see cref="GeneratedWeights"/>, <c>--generated-weights</c>); without that or --weights the
/// command stops before reading anything (<see cref="CheckWeights"/>).
/// </summary>
internal sealed record ScoringOptions(string Model, string? Weights, string? Key, string Backend, int Threads,
    int Batch,
    string Format, long? JitterSeed, Precision Precision = Precision.Fp32, bool GeneratedWeights = false,
    Dfer.Models.ClassOrder Classes = Dfer.Models.ClassOrder.Dfew)
{
    /// <summary>The model named by --model, labelling in the --classes order.</summary>
    public Dfer.Models.IModel ResolveModel() => Dfer.Models.ModelRegistry.Get(Model, Classes);

    /// <summary>
    /// Refuses a DFER model with neither --weights nor --generated-weights, and both together
    /// (usage errors, exit code 2). <c>--model expression</c> has weights of its own and its own checks.
    /// </summary>
    public void CheckWeights()
    {
        if (ExpressionInferCommand.Handles(Model)) return;
        if (Weights is null && !GeneratedWeights)
            throw new DferException(
                $"--model {Model} needs --weights FILE (trained weights); to score with deterministic generated "
                + $"weights for testing, add {SharedOptions.GeneratedWeightsOption}");
        if (Weights is not null && GeneratedWeights)
            throw new DferException(
                $"{SharedOptions.GeneratedWeightsOption} and --weights exclude each other: the scores come from one or "
                + "the other");
    }

    /// <summary>Loads the model as these options say (see <see cref="LoadedModel.Open"/>), after
    /// <see cref="CheckWeights"/>.</summary>
    public LoadedModel Open(CliConsole console, string generatedNote)
    {
        CheckWeights();
        var loaded = LoadedModel.Open(Model, Weights, Key, Backend, Threads, console, generatedNote, Precision,
            Classes);
        try
        {
            loaded.CheckBatch(Batch);
            return loaded;
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>Declares the options on a command and reads them back.</summary>
    /// <param name="expression">Whether the command also takes <c>--model expression</c> (infer).</param>
    public sealed class Parser(bool expression = false)
    {
        private readonly Option<string> _model = SharedOptions.Model(expression);
        private readonly Option<string?> _weights = SharedOptions.Weights(generatedByDefault: false);
        private readonly Option<bool> _generated = SharedOptions.GeneratedWeights();
        private readonly Option<string?> _key = SharedOptions.Key();
        private readonly Option<string> _backend = SharedOptions.Backend();
        private readonly Option<int> _threads = SharedOptions.Threads();
        private readonly Option<int> _batch = SharedOptions.Batch(8);
        private readonly Option<string> _format = SharedOptions.Format();
        private readonly Option<long?> _jitter = SharedOptions.JitterSeed();
        private readonly Option<string> _precision = SharedOptions.Precision();
        private readonly Option<string> _classes = SharedOptions.Classes();

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { _model, _weights, _generated, _key, _backend, _precision, _threads,
                _batch, _format, _jitter, _classes })
                command.Options.Add(option);
        }

        /// <summary>The parsed options; a DFER model without --weights or --generated-weights is refused here, before
        /// any input is read.</summary>
        public ScoringOptions Get(ParseResult parsed)
        {
            var options = new ScoringOptions(
                parsed.GetValue(_model)!, parsed.GetValue(_weights), parsed.GetValue(_key), parsed.GetValue(_backend)!,
                parsed.GetValue(_threads), parsed.GetValue(_batch), parsed.GetValue(_format)!, parsed.GetValue(_jitter),
                SharedOptions.GetPrecision(parsed, _precision), parsed.GetValue(_generated),
                Dfer.Models.EmotionClasses.ParseOrder(parsed.GetValue(_classes)!));
            options.CheckWeights();
            return options;
        }
    }
}
