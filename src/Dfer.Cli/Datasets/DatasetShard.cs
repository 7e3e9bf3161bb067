using System.CommandLine;
using System.Globalization;
using Dfer.Runtime;

namespace Dfer.Cli.Datasets;

/// <summary>
/// <c>--shard I/N</c> of <c>dfer infer --dataset</c>: part <paramref name="Index"/> of <paramref name="Count"/> of a
/// dataset run, so that N machines (a Kubernetes Indexed Job, docs/deploy.md) score one dataset between them and
/// <c>dfer merge</c> puts their results files back together.
/// </summary>
/// <remarks>
/// The split: the dataset's items are taken in the order the run lists them (a folder's by the number in their names,
/// a CSV's by its rows: <see cref="Dataset"/>), numbered k = 0, 1, 2, ...; item k goes to shard k mod N. I is 0-based,
/// 0 &lt;= I &lt; N. Every item is in exactly one shard, shards differ in size by at most one item, and neighbouring
/// videos (often of one length or one class in a split file) are spread over all shards. A shard may be empty (more
/// shards than items): it writes a results file of no rows.
/// </remarks>
internal sealed record DatasetShard(int Index, int Count)
{
    /// <summary>The most shards: a CSV lists at most this many videos, so more shards would all be empty.</summary>
    public const int MaxCount = Dataset.MaxCsvRows;

    /// <summary>As typed: <c>I/N</c>.</summary>
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>The items of this shard: those at positions Index, Index + Count, Index + 2 Count, ...</summary>
    public IReadOnlyList<T> Select<T>(IReadOnlyList<T> all)
    {
        var mine = new List<T>((all.Count + Count - 1) / Count);
        for (long k = Index; k < all.Count; k += Count) mine.Add(all[(int)k]);
        return mine;
    }

    /// <summary>How many of <paramref name="datasetItems"/> items this shard holds.</summary>
    public int ItemsOf(int datasetItems) => Index >= datasetItems ? 0 : (datasetItems - 1 - Index) / Count + 1;

    /// <summary>Reads <c>I/N</c>; false with what is wrong (for a message after the option and the text).</summary>
    public static bool TryParse(string text, out DatasetShard? shard, out string problem)
    {
        shard = null;
        int slash = text.IndexOf('/');
        const NumberStyles Digits = NumberStyles.None;
        if (slash < 0 || !long.TryParse(text.AsSpan(0, slash), Digits, CultureInfo.InvariantCulture, out long i)
            || !long.TryParse(text.AsSpan(slash + 1), Digits, CultureInfo.InvariantCulture, out long n))
        {
            problem = "not I/N (shard I of N, I counted from 0: 0/4, 1/4, 2/4 and 3/4 split a run in four)";
            return false;
        }
        if (n < 1)
        {
            problem = "N, the number of shards, must be at least 1";
            return false;
        }
        if (n > MaxCount)
        {
            problem = $"at most {MaxCount} shards (as many as a CSV may list videos)";
            return false;
        }
        if (i >= n)
        {
            problem = $"I counts from 0, so it must be less than N: 0/{n} to {n - 1}/{n}";
            return false;
        }
        shard = new DatasetShard((int)i, (int)n);
        problem = "";
        return true;
    }

    /// <summary>The <c>--shard I/N</c> option; null when absent.</summary>
    public static Option<DatasetShard?> CreateOption()
    {
        var option = new Option<DatasetShard?>("--shard")
        {
            HelpName = "I/N",
            Description = "Score only shard I of N of the --dataset (I from 0 to N-1): item k of the dataset, in its "
                + "listed order, goes to shard k mod N; 'dfer merge' joins the shards' --output files (docs/deploy.md)",
        };
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return null;
            string text = result.Tokens[^1].Value;
            if (TryParse(text, out DatasetShard? shard, out string problem)) return shard;
            string shown = text.Length == 0 ? "''" : text.Length <= 40 ? text : text[..40] + "…";
            result.AddError($"--shard {shown}: {problem}");
            return null;
        };
        return option;
    }
}
