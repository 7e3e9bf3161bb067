using System.CommandLine;
using Dfer.Tensors;

namespace Dfer.Cli.Commands;

/// <summary>
/// The options of a command that scores videos with a model (infer, eval): which model, weights,
/// backend, precision and batch, how results are printed, and the frame-jitter seed.
/// </summary>
internal sealed record ScoringOptions(string Model, string? Weights, string? Key, string Backend, int Threads, int Batch,
    string Format, long? JitterSeed, Precision Precision = Precision.Fp32)
{
    /// <summary>Loads the model as these options say (see <see cref="LoadedModel.Open"/>).</summary>
    public LoadedModel Open(CliConsole console, string generatedNote)
    {
        var loaded = LoadedModel.Open(Model, Weights, Key, Backend, Threads, console, generatedNote, Precision);
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
    public sealed class Parser
    {
        private readonly Option<string> _model = SharedOptions.Model();
        private readonly Option<string?> _weights = SharedOptions.Weights();
        private readonly Option<string?> _key = SharedOptions.Key();
        private readonly Option<string> _backend = SharedOptions.Backend();
        private readonly Option<int> _threads = SharedOptions.Threads();
        private readonly Option<int> _batch = SharedOptions.Batch(8);
        private readonly Option<string> _format = SharedOptions.Format();
        private readonly Option<long?> _jitter = SharedOptions.JitterSeed();
        private readonly Option<string> _precision = SharedOptions.Precision();

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { _model, _weights, _key, _backend, _precision, _threads, _batch, _format, _jitter })
                command.Options.Add(option);
        }

        public ScoringOptions Get(ParseResult parsed) => new(
            parsed.GetValue(_model)!, parsed.GetValue(_weights), parsed.GetValue(_key), parsed.GetValue(_backend)!,
            parsed.GetValue(_threads), parsed.GetValue(_batch), parsed.GetValue(_format)!, parsed.GetValue(_jitter),
            SharedOptions.GetPrecision(parsed, _precision));
    }
}
