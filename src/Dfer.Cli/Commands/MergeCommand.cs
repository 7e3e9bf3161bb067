using System.CommandLine;
using Dfer.Cli.Datasets;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer merge OUTPUT SHARD...</c>: the results files of the N shards of one <c>dfer infer --dataset ... --shard
/// I/N</c> run (docs/deploy.md) joined into the one file the whole run would have written.
/// </summary>
/// <remarks>
/// <para>Checked first, each problem one line naming the file: every SHARD is a results file of a shard (its metadata
/// has <c>shard</c>, <see cref="ResultsMetadata.ShardOf"/>); all come from the same run (every other metadata field
/// equal: model, weights, precision, protocol, dataset, backend, dfer version, and the shard count and dataset size);
/// no shard is given twice and none is missing (0/N to N-1/N); each holds exactly the rows of its share of the
/// dataset (<see cref="DatasetShard.ItemsOf"/>: fewer is a shard left unfinished); no video has two scores. Nothing is
/// written unless all of that holds.</para>
/// <para>The rows go out in the dataset's order: row j of shard I is dataset item j N + I, so the shards are dealt
/// back in turn, as the whole run writes them (a shard continued with <c>--resume</c> wrote the rows it kept first;
/// they stay in the order it wrote them, as in a whole run resumed). The metadata is the shards' without
/// <c>shard</c>: the whole run's. OUTPUT's extension picks its format, as <c>--output</c>'s does; the shards may be
/// of either.</para>
/// </remarks>
internal static class MergeCommand
{
    public static Command Create(CliConsole console)
    {
        var output = new Argument<string>("OUTPUT")
        {
            Description = "The merged results file: .jsonl or .csv (the extension picks the format)",
        };
        var shards = new Argument<string[]>("SHARD")
        {
            Description = "The results files (.jsonl or .csv) of every shard of one 'dfer infer --dataset --shard I/N' "
                + "run, 0/N to N-1/N, in any order",
            Arity = ArgumentArity.OneOrMore,
        };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace OUTPUT if it exists" };
        var command = new Command("merge",
            "Join the results files of the shards of a 'dfer infer --dataset --shard I/N' run into one, as the whole "
            + "run would have written it, after checking that they are all there and from the same run")
        {
            output, shards, overwrite,
        };
        command.SetAction(parsed =>
            Run(parsed.GetValue(output)!, parsed.GetValue(shards)!, parsed.GetValue(overwrite), console));
        return command;
    }

    /// <summary>One SHARD as read: its shard, the dataset size it records, its metadata and rows.</summary>
    private sealed record ShardFile(string Path, DatasetShard Shard, int DatasetItems, ResultsMetadata Metadata,
        List<ResultRow> Rows);

    public static int Run(string output, string[] shardPaths, bool overwrite, CliConsole console)
    {
        string extension = Path.GetExtension(output).ToLowerInvariant();
        if (extension is not (".csv" or ".jsonl" or ".json" or ".ndjson"))
            throw new DferException($"OUTPUT {output}: name a .jsonl or .csv file (the extension picks the format)");
        string outputPath = SharedOptions.FullPath(output);
        if (shardPaths.FirstOrDefault(p => SharedOptions.FullPath(p) == outputPath) is { } same)
            throw new DferException($"OUTPUT {output} is also a SHARD ({same}); write the merged file elsewhere");
        if (File.Exists(output) && !overwrite)
            throw DferException.ForFile(output, "already exists: pass --overwrite to replace it");

        // Every file's metadata first: a file that is not a shard, or of another run, is refused before any rows are
        // read.
        var heads = new List<(string Path, ResultsMetadata Metadata, DatasetShard Shard, int DatasetItems)>();
        var problems = new List<string>();
        foreach (string path in shardPaths)
        {
            ResultsMetadata? metadata = ResultsFile.ReadMetadataAlone(path);
            if (metadata is null)
            {
                string where = ResultsFile.IsCsv(path)
                    ? $"no {Path.GetFileName(ResultsFile.SidecarOf(path))} beside it"
                    : $"no '{{\"{ResultsMetadata.FormatKey}\": ...}}' first line";
                problems.Add($"{path}: has {where}, so nothing says which run and which shard it is");
                continue;
            }
            if (metadata.ShardOf(path) is not { } shardOf)
            {
                problems.Add($"{path}: the results of a whole run, not of a shard (its metadata has no "
                    + $"'{ResultsMetadata.ShardKey}'); merge joins the files of a --shard I/N run");
                continue;
            }
            heads.Add((path, metadata, shardOf.Shard, shardOf.DatasetItems));
        }
        if (problems.Count > 0) throw DferException.Several(problems);

        var first = heads[0];
        foreach (var head in heads.Skip(1))
        {
            IReadOnlyList<string> differences = head.Metadata.DifferencesBesidesShard(first.Metadata);
            if (head.Shard.Count != first.Shard.Count)
                problems.Add($"{head.Path}: shard {head.Shard} of a run in {head.Shard.Count} shards, but {first.Path} "
                    + $"is shard {first.Shard} of one in {first.Shard.Count}: not the same run");
            else if (head.DatasetItems != first.DatasetItems)
                problems.Add($"{head.Path}: its run listed {head.DatasetItems} videos, but {first.Path}'s listed "
                    + $"{first.DatasetItems}: not the same run (the dataset changed in between)");
            else if (differences.Count > 0)
                problems.Add($"{head.Path}: not from the same run as {first.Path} ({string.Join("; ", differences)})");
        }
        if (problems.Count > 0) throw DferException.Several(problems);

        int count = first.Shard.Count, datasetItems = first.DatasetItems;
        var byIndex = new Dictionary<int, string>();
        foreach (var head in heads)
            if (!byIndex.TryAdd(head.Shard.Index, head.Path))
                problems.Add($"{head.Path}: shard {head.Shard} again (also {byIndex[head.Shard.Index]}); give each "
                    + "shard once");
        var missing = Enumerable.Range(0, count).Where(i => !byIndex.ContainsKey(i)).ToList();
        if (missing.Count > 0)
            problems.Add($"shard{(missing.Count == 1 ? "" : "s")} {Listed(missing, count)} of {count} missing: "
                + $"merge needs the file of every shard, 0/{count} to {count - 1}/{count}");
        if (problems.Count > 0) throw DferException.Several(problems);

        IReadOnlyList<string> classes = first.Metadata.Classes
            ?? throw DferException.ForFile(first.Path, "its metadata has no list of class names ('classes')");
        var files = new List<ShardFile>();
        foreach (var head in heads.OrderBy(h => h.Shard.Index))
        {
            List<ResultRow> rows = ResultsFile.Read(head.Path, classes);
            int expected = head.Shard.ItemsOf(datasetItems);
            if (rows.Count != expected)
                problems.Add($"{head.Path}: {rows.Count} row{(rows.Count == 1 ? "" : "s")}, but shard {head.Shard} of "
                    + $"{datasetItems} videos has {expected}: "
                    + (rows.Count < expected ? "the shard did not finish (continue it with --resume)"
                        : "rows were added"));
            files.Add(new ShardFile(head.Path, head.Shard, head.DatasetItems, head.Metadata, rows));
        }
        problems.AddRange(ScoredTwice(files));
        if (problems.Count > 0) throw DferException.Several(problems);

        // Dealt back in turn: row j of shard I is item j N + I of the dataset.
        var merged = new List<ResultRow>(datasetItems);
        for (int j = 0; merged.Count < datasetItems; j++)
            foreach (ShardFile file in files)
                if (j < file.Rows.Count) merged.Add(file.Rows[j]);
        ResultsFile.Create(output, classes, merged, first.Metadata.WithoutShard()).Dispose();
        int failed = merged.Count(r => !r.Ok);
        console.Summary($"merged {count} shard{(count == 1 ? "" : "s")} into {output}: {merged.Count} videos, "
            + $"{merged.Count - failed} scored{(failed > 0 ? $", {failed} failed" : "")}");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// A video with a score in two rows (of two files, or of one): one line each. A video listed twice by the dataset
    /// itself has one score and an error row saying so; that pair is the whole run's too, so it is kept.
    /// </summary>
    private static IEnumerable<string> ScoredTwice(List<ShardFile> files)
    {
        var scoredIn = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ShardFile file in files)
            foreach (ResultRow row in file.Rows.Where(r => r.Ok))
                if (!scoredIn.TryAdd(row.Video, file.Path))
                    yield return $"{file.Path}: video {ResultsFile.Quote(row.Video)} is scored twice (also in "
                        + $"{scoredIn[row.Video]}); a shard's file was changed or mixed up";
    }

    /// <summary>"1/4", "1/4 and 3/4", "0/9, 1/9, ... and 8/9" (the first ten).</summary>
    private static string Listed(List<int> indices, int count)
    {
        var names = indices.Take(10).Select(i => $"{i}/{count}").ToList();
        if (indices.Count > 10) return string.Join(", ", names) + $" and {indices.Count - 10} more";
        return names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " and " + names[^1];
    }
}
