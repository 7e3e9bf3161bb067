using System.Text.Json;
using Dfer.Cli;
using Dfer.Tests.Media;

namespace Dfer.Tests.Cli;

/// <summary><c>dfer infer --dataset</c> and <c>dfer eval</c>: many videos, bad ones among them, resumed runs.</summary>
[TestFixture]
public class DatasetCommandTests
{
    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    /// <summary>A frame folder holding the first <paramref name="count"/> fixture frames.</summary>
    private static void CopyFrames(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        foreach (string f in Directory.GetFiles(MediaFixtures.PathOf("frames"), "*.jpg").Order(StringComparer.Ordinal)
            .Take(count))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
    }

    /// <summary>The rows of a JSON Lines results file, after its metadata line (checked to be there, first).</summary>
    private static List<JsonElement> JsonLines(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.That(lines[0].GetProperty("dfer_results").GetInt32(), Is.EqualTo(1), "the metadata line comes first");
        return lines.Skip(1).ToList();
    }

    /// <summary>
    /// Four videos: two good frame folders, an empty folder and a folder whose only frame is a
    /// truncated JPEG. The good ones are scored, the bad ones get rows with their reasons.
    /// </summary>
    private string BuildFolderDataset()
    {
        string dir = _files.PathOf("videos");
        CopyFrames(Path.Combine(dir, "1"), 20);
        CopyFrames(Path.Combine(dir, "2"), 7);
        Directory.CreateDirectory(Path.Combine(dir, "3"));
        Directory.CreateDirectory(Path.Combine(dir, "4"));
        byte[] jpeg = File.ReadAllBytes(MediaFixtures.PathOf("frames", "00001.jpg"));
        File.WriteAllBytes(Path.Combine(dir, "4", "00001.jpg"), jpeg.AsSpan(0, jpeg.Length / 2).ToArray());
        return dir;
    }

    [Test]
    public void FolderDataset_KeepsGoingPastBadVideos_AndResumesAnInterruptedRun()
    {
        string dir = BuildFolderDataset();
        string output = _files.PathOf("results.jsonl");

        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir, "--output",
            output, "--batch", "2");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error:")).ToList();
        Assert.That(errors, Has.Count.EqualTo(2), run.ToString());
        Assert.That(errors.Any(e => e.Contains(Path.Combine(dir, "3")))
            && errors.Any(e => e.Contains(Path.Combine(dir, "4"))), run.ToString());
        Assert.That(run.Stderr, Does.Contain("2 of 4 videos scored").And.Contain("2 failed"));
        CliAssert.NoStackTrace(run);
        var rows = JsonLines(output);
        Assert.That(rows.Select(r => r.GetProperty("video").GetString()), Is.EqualTo(new[] { "1", "2", "3", "4" }));
        Assert.That(rows[0].GetProperty("label").GetString(), Is.Not.Null);
        Assert.That(CliAssert.Floats(rows[1].GetProperty("probabilities")).Sum(), Is.EqualTo(1f).Within(1e-5f));
        Assert.That(rows[2].GetProperty("error").GetString(), Does.Contain("empty"));
        Assert.That(rows[3].GetProperty("error").GetString(), Does.Contain("00001.jpg"));

        // Refuses to clobber the results of a run.
        CliRun again = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir, "--output",
            output);
        CliAssert.FailsWith(again, ExitCodes.Usage, output, "--resume");

        // Interrupted after video 1, mid-way through writing video 2's row.
        string[] lines = File.ReadAllLines(output);
        File.WriteAllText(output, lines[0] + "\n" + lines[1] + "\n" + lines[2][..(lines[2].Length / 2)]);
        CliRun resumed = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
            "--output", output, "--resume");

        Assert.That(resumed.ExitCode, Is.EqualTo(ExitCodes.InputFailed), resumed.ToString());
        Assert.That(resumed.Stderr, Does.Contain("1 from the earlier run"));
        var after = JsonLines(output);
        Assert.That(after.Select(r => r.GetProperty("video").GetString()), Is.EqualTo(new[] { "1", "2", "3", "4" }));
        for (int i = 0; i < 2; i++)
            Assert.That(CliAssert.Floats(after[i].GetProperty("logits")),
                Is.EqualTo(CliAssert.Floats(rows[i].GetProperty("logits"))), $"row {i}");
    }

    /// <summary>
    /// Decoding ahead on background threads changes nothing but the speed: the same rows in the same
    /// order, the same error lines, byte for byte the same results file as decoding each video on the
    /// main thread, with good and bad videos interleaved, batches across videos and jittered frames.
    /// </summary>
    [Test]
    public void FolderDataset_DecodedAheadOnThreads_GivesTheSameResultsAsDecodingInline()
    {
        string dir = _files.PathOf("videos");
        int[] frames = [20, 0, 9, -1, 3, 1, 0];
        for (int v = 0; v < frames.Length; v++)
        {
            string folder = Path.Combine(dir, $"v{v:D2}");
            if (frames[v] > 0) CopyFrames(folder, frames[v]);
            else Directory.CreateDirectory(folder);
            if (frames[v] < 0)
            {
                byte[] jpeg = File.ReadAllBytes(MediaFixtures.PathOf("frames", "00001.jpg"));
                File.WriteAllBytes(Path.Combine(folder, "00001.jpg"), jpeg.AsSpan(0, jpeg.Length / 3).ToArray());
            }
        }

        var runs = new List<(CliRun Run, string Rows)>();
        foreach (string threads in new[] { "0", "3" })
        {
            string output = _files.PathOf($"results-{threads}.csv");
            CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir,
                "--output", output,
                "--batch", "3", "--jitter-seed", "7", "--decode-threads", threads);
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
            Assert.That(run.Stderr,
                Does.Contain("4 of 7 videos scored").And.Contain("3 failed").And.Contain("s for decoding"),
                run.ToString());
            CliAssert.NoStackTrace(run);
            runs.Add((run, File.ReadAllText(output)));
        }

        string[] videos =
            File.ReadAllLines(_files.PathOf("results-0.csv")).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        Assert.That(videos, Is.EqualTo(Enumerable.Range(0, frames.Length).Select(v => $"v{v:D2}")));
        string[] ErrorLines(CliRun run) => run.StderrLines.Where(l => l.StartsWith("dfer: error:")).ToArray();
        Assert.That(ErrorLines(runs[0].Run), Has.Length.EqualTo(3));
        for (int i = 1; i < runs.Count; i++)
        {
            Assert.That(runs[i].Rows, Is.EqualTo(runs[0].Rows), $"results file of run {i}");
            Assert.That(ErrorLines(runs[i].Run), Is.EqualTo(ErrorLines(runs[0].Run)), $"errors of run {i}");
        }
    }

    [Test]
    public void DecodeThreads_BelongsToADatasetRun_AndIsNotNegative()
    {
        string clips = _files.WriteClips("clips.npy", CliHarness.Clips(1, 3));
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", clips, "--decode-threads",
            "2");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("--decode-threads"));

        string dir = _files.PathOf("videos");
        CopyFrames(Path.Combine(dir, "a"), 2);
        run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir, "--decode-threads",
            "-1");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("--decode-threads").And.Contain("at least 0"));
    }

    [Test]
    public void FolderDataset_WithoutOutput_StreamsJsonLinesOnStdout()
    {
        string dir = _files.PathOf("videos");
        CopyFrames(Path.Combine(dir, "a"), 5);
        CliRun run = CliHarness.Run("infer", "--model", "m3dfel", "--generated-weights", "--dataset", dir);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        string[] lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), "the metadata line, then the row");
        Assert.That(JsonDocument.Parse(lines[0]).RootElement.GetProperty("model").GetString(), Is.EqualTo("m3dfel"));
        var line = JsonDocument.Parse(lines[1]).RootElement;
        Assert.That(line.GetProperty("video").GetString(), Is.EqualTo("a"));
        Assert.That(line.GetProperty("clips").GetInt32(), Is.EqualTo(1));
    }

    /// <summary>DFEW layout: ROOT/Clip/clip_224x224/0000N, a split CSV with labels 1..7, one row's clip
    /// missing.</summary>
    [Test]
    public void Eval_DfewCsv_ReportsUarWarAndConfusion_OfThePerVideoPredictions()
    {
        string root = _files.PathOf("dfew");
        string clips = Path.Combine(root, "Clip", "clip_224x224");
        CopyFrames(Path.Combine(clips, "00001"), 20);
        CopyFrames(Path.Combine(clips, "00002"), 12);
        CopyFrames(Path.Combine(clips, "00003"), 7);
        string csv = _files.PathOf("test.csv");
        File.WriteAllText(csv, "video_name,label\n1,1\n2,5\n3,1\n4,3\n");
        string output = _files.PathOf("scores.csv");

        CliRun run = CliHarness.Run("eval", "--model", "m3dfel", "--generated-weights", "--dataset", csv, "--root",
            root, "--output", output, "--format", "json", "--batch", "3");

        CliAssert.FailsWith(run, ExitCodes.InputFailed, "test.csv:5", "00004");
        JsonElement json = run.Json();
        Assert.That(json.GetProperty("videos").GetInt32(), Is.EqualTo(4));
        Assert.That(json.GetProperty("evaluated").GetInt32(), Is.EqualTo(3));
        Assert.That(json.GetProperty("failed").GetInt32(), Is.EqualTo(1));

        // The metrics by hand from the predictions written to the CSV.
        string[] classes = json.GetProperty("classes").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var rows = File.ReadAllLines(output).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.That(rows.Select(r => r[0]), Is.EqualTo(new[] { "1", "2", "3", "4" }));
        var scored = rows.Where(r => r[^1].Length == 0).ToList();
        Assert.That(scored.Select(r => r[2]), Is.EqualTo(new[] { "happy", "surprise", "happy" }),
            "targets: DFEW label 1 = happy, 5 = surprise");
        int Correct(IEnumerable<string[]> rs) => rs.Count(r => r[2] == r[3]);
        var happy = scored.Where(r => r[2] == "happy").ToList();
        var surprise = scored.Where(r => r[2] == "surprise").ToList();
        double war = Correct(scored) / 3.0;
        double uar = (Correct(happy) / 2.0 + Correct(surprise) / 1.0) / 2;
        Assert.That(json.GetProperty("war").GetDouble(), Is.EqualTo(war).Within(1e-12));
        Assert.That(json.GetProperty("uar").GetDouble(), Is.EqualTo(uar).Within(1e-12));
        var confusion = json.GetProperty("confusion").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        foreach (string[] r in scored)
            Assert.That(confusion[Array.IndexOf(classes, r[2])][Array.IndexOf(classes, r[3])], Is.GreaterThan(0));
        Assert.That(confusion.Sum(r => r.Sum()), Is.EqualTo(3));
    }

    [Test]
    public void Eval_TableOutput_ShowsUarWarAndTheMatrix()
    {
        string root = _files.PathOf("dfew");
        CopyFrames(Path.Combine(root, "Clip", "clip_224x224", "00007"), 4);
        string csv = _files.PathOf("split.csv");
        File.WriteAllText(csv, "7,2\n");
        CliRun run = CliHarness.Run("eval", "--model", "m3dfel", "--generated-weights", "--dataset", csv, "--root",
            root);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(run.Stdout, Does.Contain("UAR").And.Contain("WAR").And.Contain("confusion (rows: true class"));
        Assert.That(run.Stdout.Split('\n').Count(l => l.StartsWith("sad ")), Is.EqualTo(1));
    }

    [Test]
    public void Eval_CsvWithoutRoot_AndFolderWithoutLabels_AreUsageErrors()
    {
        string csv = _files.PathOf("split.csv");
        File.WriteAllText(csv, "1,1\n");
        CliRun run = CliHarness.Run("eval", "--model", "m3dfel", "--generated-weights", "--dataset", csv);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("--root"));

        string dir = _files.PathOf("videos");
        CopyFrames(Path.Combine(dir, "1"), 2);
        run = CliHarness.Run("eval", "--model", "m3dfel", "--generated-weights", "--dataset", dir);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Stderr, Does.Contain("no labels"));
    }
}
