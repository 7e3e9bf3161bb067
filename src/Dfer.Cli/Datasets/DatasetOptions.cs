using System.CommandLine;
using Dfer.Cli.Commands;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Cli.Datasets;

/// <summary>The options that describe a dataset run, as <c>infer</c> and <c>eval</c> share them.</summary>
/// <param name="DecodeThreads">--decode-threads; null: <see cref="DatasetRunner.DefaultDecodeThreads"/>.</param>
/// <param name="Shard">--shard I/N (infer only); null: the whole dataset.</param>
internal sealed record DatasetOptions(string? Source, string? Root, string ClipFolder, string? Output,
    DatasetRunner.Existing Existing,
    int? DecodeThreads = null, DatasetShard? Shard = null)
{
    /// <summary>The items this run scores: with --shard, its shard of <paramref name="all"/>
    /// (<see cref="DatasetShard.Select{T}"/>); else all of them.</summary>
    public IReadOnlyList<DatasetItem> Select(IReadOnlyList<DatasetItem> all) => Shard?.Select(all) ?? all;

    /// <summary>Lists the dataset's videos; a CSV needs --root.</summary>
    public IReadOnlyList<DatasetItem> List(IModel model) => List(model.Classes.Count);

    /// <summary>Lists the dataset's videos for a model of <paramref name="classes"/> classes; a CSV needs --root.
    /// </summary>
    public IReadOnlyList<DatasetItem> List(int classes)
    {
        string source = Source ?? throw new InvalidOperationException("no --dataset");
        if (Directory.Exists(source))
        {
            if (Root is not null)
                throw new DferException(
                    "--root applies to a CSV --dataset; a folder --dataset lists its videos itself");
            return Dataset.FromDirectory(source);
        }
        if (!File.Exists(source)) throw DferException.ForFile(source, "no such file or folder (--dataset)");
        if (!source.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            throw DferException.ForFile(source, "--dataset takes a folder of videos or a .csv split file");
        if (Root is null)
            throw new DferException(
                $"--dataset {source} is a CSV: give --root, the folder that holds {Dataset.DfewClipFolder}");
        return Dataset.FromCsv(source, Root, classes, ClipFolder);
    }

    /// <summary>Refuses dataset-only options given without --dataset.</summary>
    public void CheckUnused()
    {
        if (Root is not null || Output is not null || Existing != DatasetRunner.Existing.Refuse
            || DecodeThreads is not null || Shard is not null)
            throw new DferException(
                "--root, --output, --resume, --overwrite, --decode-threads and --shard belong to a --dataset run");
    }

    /// <summary>Declares the options on a command and reads them back.</summary>
    /// <param name="shardable">Declare --shard too (infer: every video is scored on its own; eval's metrics need all
    /// of them in one run).</param>
    public sealed class Parser(bool required, string outputDescription, bool shardable = false)
    {
        private readonly Option<string?> _dataset = SharedOptions.Dataset(required);
        private readonly Option<string?> _root = SharedOptions.Root();
        private readonly Option<string> _clipFolder = SharedOptions.ClipFolder();
        private readonly Option<string?> _output = SharedOptions.ResultsOutput(outputDescription);
        private readonly Option<bool> _resume = SharedOptions.Resume();
        private readonly Option<bool> _overwrite = SharedOptions.Overwrite();
        private readonly Option<int?> _decodeThreads = SharedOptions.DecodeThreads();
        private readonly Option<DatasetShard?>? _shard = shardable ? DatasetShard.CreateOption() : null;

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { _dataset, _root, _clipFolder, _output, _resume, _overwrite,
                _decodeThreads })
                command.Options.Add(option);
            if (_shard is not null) command.Options.Add(_shard);
        }

        public DatasetOptions Get(ParseResult parsed)
        {
            bool resume = parsed.GetValue(_resume), overwrite = parsed.GetValue(_overwrite);
            if (resume && overwrite)
                throw new DferException("--resume and --overwrite contradict each other: pick one");
            string? output = parsed.GetValue(_output);
            if (resume && output is null)
                throw new DferException("--resume continues the run recorded in --output: give --output FILE");
            var existing = resume ? DatasetRunner.Existing.Resume : overwrite ? DatasetRunner.Existing.Overwrite
                : DatasetRunner.Existing.Refuse;
            return new DatasetOptions(parsed.GetValue(_dataset), parsed.GetValue(_root), parsed.GetValue(_clipFolder)!,
                output, existing,
                parsed.GetValue(_decodeThreads), _shard is null ? null : parsed.GetValue(_shard));
        }
    }
}
