using Dfer.Cli;
using Dfer.Cli.Datasets;
using Dfer.Tests.Media;

namespace Dfer.Tests.Cli;

/// <summary>
/// <c>dfer infer --dataset ... --shard I/N</c> and <c>dfer merge</c> (docs/deploy.md): the split covers every item
/// once, the merged shards are the whole run's file, and files that do not make up one run are refused.
/// </summary>
[TestFixture]
public class ShardMergeTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    [Test]
    public void Split_PutsItemKInShardKModN_EveryItemInExactlyOneShard()
    {
        // By hand: seven items in three shards.
        var seven = Enumerable.Range(0, 7).ToList();
        Assert.That(new DatasetShard(0, 3).Select(seven), Is.EqualTo(new[] { 0, 3, 6 }));
        Assert.That(new DatasetShard(1, 3).Select(seven), Is.EqualTo(new[] { 1, 4 }));
        Assert.That(new DatasetShard(2, 3).Select(seven), Is.EqualTo(new[] { 2, 5 }));

        for (int m = 0; m <= 23; m++)
            for (int n = 1; n <= 9; n++)
            {
                var items = Enumerable.Range(0, m).Select(k => $"video{k}").ToList();
                var seen = new List<string>();
                for (int i = 0; i < n; i++)
                {
                    var shard = new DatasetShard(i, n);
                    IReadOnlyList<string> mine = shard.Select(items);
                    Assert.That(mine, Is.EqualTo(items.Where((_, k) => k % n == i)), $"shard {i}/{n} of {m}");
                    Assert.That(shard.ItemsOf(m), Is.EqualTo(mine.Count), $"count of shard {i}/{n} of {m}");
                    Assert.That(mine.Count, Is.EqualTo(m / n + (i < m % n ? 1 : 0)), $"size of shard {i}/{n} of {m}");
                    seen.AddRange(mine);
                }
                Assert.That(seen, Is.EquivalentTo(items), $"{n} shards of {m} items cover each once");
            }
    }

    [TestCase("3/3", "I counts from 0")]
    [TestCase("7/3", "I counts from 0")]
    [TestCase("-1/3", "not I/N")]
    [TestCase("1/0", "at least 1")]
    [TestCase("a/b", "not I/N")]
    [TestCase("1", "not I/N")]
    [TestCase("1/2/3", "not I/N")]
    [TestCase("", "not I/N")]
    [TestCase("0/500001", "at most 500000 shards")]
    public void BadShard_IsOneLineAndExitCode2(string value, string phrase)
    {
        string dir = BuildDataset();

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--shard", value);

        CliAssert.FailsWith(run, ExitCodes.Usage, "--shard", phrase);
    }

    [Test]
    public void Shard_WithoutDataset_IsRefused()
    {
        string clip = _files.WriteClips("a.npy", CliHarness.Clips(1, 7));

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--shard", "0/2", clip);

        CliAssert.FailsWith(run, ExitCodes.Usage, "--shard", "belong to a --dataset run");
    }

    /// <summary>
    /// Five videos (two scored, three failing) in three shards, JSON Lines, and in two shards, CSV: each merge, with
    /// the shards given in any order, is byte for byte the file of the whole run (its rows in the dataset's order, its
    /// metadata without "shard"). --batch 1 makes each forward pass one clip in both runs.
    /// </summary>
    [TestCase(".jsonl", 3)]
    [TestCase(".csv", 2)]
    public void MergedShards_AreTheWholeRunsFile(string extension, int count)
    {
        string dir = BuildDataset();
        string whole = Infer(dir, "whole" + extension);
        var shards = Enumerable.Range(0, count).Select(i => Infer(dir, $"shard{i}{extension}", $"{i}/{count}"))
            .ToList();
        Assert.That(File.ReadAllText(MetadataOf(shards[0])), Does.Contain($"\"shard\":{{\"index\":0,\"count\":{count},"
            + "\"dataset_items\":5}"));
        string merged = _files.PathOf("merged" + extension);

        CliRun run = CliHarness.Run(["merge", merged, .. Enumerable.Reverse(shards)]);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stderr, Does.Contain($"merged {count} shards into {merged}: 5 videos, 2 scored, 3 failed"));
        Assert.That(File.ReadAllText(merged), Is.EqualTo(File.ReadAllText(whole)));
        Assert.That(File.ReadAllText(MetadataOf(merged)), Is.EqualTo(File.ReadAllText(MetadataOf(whole))));
        Assert.That(ResultsFile.Read(merged, CliHarness.Model.Classes).Select(r => r.Video),
            Is.EqualTo(new[] { "1", "2", "3", "4", "5" }));
    }

    [Test]
    public void Merge_RefusesFilesThatAreNotOneWholeRun()
    {
        string dir = BuildDataset();
        string whole = Infer(dir, "whole.jsonl");
        string[] shards = Enumerable.Range(0, 3).Select(i => Infer(dir, $"shard{i}.jsonl", $"{i}/3")).ToArray();
        string output = _files.PathOf("merged.jsonl");
        CliRun Merge(params string[] inputs) => CliHarness.Run(["merge", output, .. inputs]);
        string Copy(string path, string name, Func<string, string> change)
        {
            string text = File.ReadAllText(path), changed = change(text);
            Assert.That(changed, Is.Not.EqualTo(text), $"{name}: the change applies");
            File.WriteAllText(_files.PathOf(name), changed);
            return _files.PathOf(name);
        }

        CliAssert.FailsWith(Merge(shards[0], shards[2]), ExitCodes.Usage, "shard 1/3 of 3 missing", "0/3 to 2/3");
        CliAssert.FailsWith(Merge(shards[0], shards[1], shards[2], shards[1]), ExitCodes.Usage, shards[1],
            "shard 1/3 again");
        string otherWeights = Copy(shards[1], "other-weights.jsonl",
            t => t.Replace("\"weights_sha256\":\"generated (seed 1)\"", "\"weights_sha256\":\"abc\""));
        CliAssert.FailsWith(Merge(shards[0], otherWeights, shards[2]), ExitCodes.Usage, otherWeights,
            "not from the same run");
        Assert.That(Merge(shards[0], otherWeights, shards[2]).Stderr, Does.Contain("weights_sha256 \"abc\""));
        string twoShards = Copy(shards[1], "of-two.jsonl", t => t.Replace("\"count\":3", "\"count\":2"));
        CliAssert.FailsWith(Merge(shards[0], twoShards, shards[2]), ExitCodes.Usage, twoShards, "in 2 shards");
        // Shard 0 holds videos 1 (scored) and 4 (failed); cut short after video 1.
        string[] lines = File.ReadAllLines(shards[0]);
        Assert.That(lines, Has.Length.EqualTo(3));
        string unfinished = _files.PathOf("unfinished.jsonl");
        File.WriteAllLines(unfinished, lines[..2]);
        CliAssert.FailsWith(Merge(unfinished, shards[1], shards[2]), ExitCodes.Usage, unfinished,
            "1 row, but shard 0/3 of 5 videos has 2: the shard did not finish");
        // Shard 1 holds videos 2 (scored) and 5; video 2's score relabelled as video 1's, which shard 0 scored.
        string twice = Copy(shards[1], "twice.jsonl", t => t.Replace("\"video\":\"2\"", "\"video\":\"1\""));
        CliAssert.FailsWith(Merge(shards[0], twice, shards[2]), ExitCodes.Usage, twice,
            $"video '1' is scored twice (also in {shards[0]})");
        CliAssert.FailsWith(Merge(shards[0], whole, shards[2]), ExitCodes.Usage, whole, "not of a shard");
        CliAssert.FailsWith(Merge(shards[0], output, shards[2]), ExitCodes.Usage, output, "is also a SHARD");
        Assert.That(File.Exists(output), Is.False, "nothing is written when the shards are refused");

        // The three files: merged once; a second time only with --overwrite.
        Assert.That(Merge(shards).ExitCode, Is.EqualTo(ExitCodes.Ok));
        CliAssert.FailsWith(Merge(shards), ExitCodes.Usage, output, "--overwrite");
        CliRun again = CliHarness.Run(["merge", "--overwrite", output, .. shards]);
        Assert.That(again.ExitCode, Is.EqualTo(ExitCodes.Ok), again.ToString());
        Assert.That(File.ReadAllText(output), Is.EqualTo(File.ReadAllText(whole)));
    }

    /// <summary>Five frame folders in dataset order 1..5: the first two scored, then two empty and one
    /// corrupt.</summary>
    private string BuildDataset()
    {
        string dir = _files.PathOf("videos");
        if (Directory.Exists(dir)) return dir;
        var frames = Directory.GetFiles(MediaFixtures.PathOf("frames"), "*.jpg").Order(StringComparer.Ordinal).ToList();
        foreach (var (name, count) in new[] { ("1", 9), ("2", 5) })
        {
            Directory.CreateDirectory(Path.Combine(dir, name));
            foreach (string f in frames.Take(count)) File.Copy(f, Path.Combine(dir, name, Path.GetFileName(f)));
        }
        Directory.CreateDirectory(Path.Combine(dir, "3"));
        Directory.CreateDirectory(Path.Combine(dir, "4"));
        Directory.CreateDirectory(Path.Combine(dir, "5"));
        byte[] jpeg = File.ReadAllBytes(frames[0]);
        File.WriteAllBytes(Path.Combine(dir, "5", "00001.jpg"), jpeg.AsSpan(0, jpeg.Length / 2).ToArray());
        return dir;
    }

    /// <summary>Runs infer on the dataset (a shard of it when <paramref name="shard"/> is given) into a file.</summary>
    private string Infer(string dir, string name, string? shard = null)
    {
        string output = _files.PathOf(name);
        string[] args = ["infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir, "--face", "none",
            "--batch", "1", "--output", output];
        CliRun run = CliHarness.Run(shard is null ? args : [.. args, "--shard", shard]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
        return output;
    }

    /// <summary>The file that holds a results file's metadata: itself (JSON Lines) or its sidecar (CSV).</summary>
    private static string MetadataOf(string path) => path.EndsWith(".csv") ? ResultsFile.SidecarOf(path) : path;
}
