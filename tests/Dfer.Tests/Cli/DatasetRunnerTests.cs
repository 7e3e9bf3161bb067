using System.Text.Json;
using Dfer.Cli;
using Dfer.Cli.Datasets;
using Dfer.Runtime;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary>
/// <see cref="DatasetRunner"/> on the fake echo model: a video whose decoding hits a bug becomes an error row and the
/// rest are scored, and every finished video's row is in the results file before the run goes on to what is next.
/// </summary>
[TestFixture]
public class DatasetRunnerTests
{
    /// <summary>Only there so that a deadlock fails instead of hanging the run.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private static List<DatasetItem> Items(int n)
        => Enumerable.Range(0, n).Select(i => new DatasetItem($"v{i}", $"videos/v{i}", null)).ToList();

    /// <summary>The lines of a results file being written (it is open for appending).</summary>
    private static string[] LinesOf(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [TestCase(0)]
    [TestCase(2)]
    public void ADecoderBug_FailsThatVideoAsAnInternalError_AndTheOthersAreScored(int decodeThreads)
    {
        var log = new List<string>();
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend(log, pipelined: false));
        var items = Items(4);
        string output = _files.PathOf("results.jsonl");
        var stderr = new StringWriter();
        var console = new CliConsole(TextWriter.Null, stderr, false);

        DatasetOutcome outcome = DatasetRunner.Run(session, items, 2, null, output, DatasetRunner.Existing.Refuse,
            decodeThreads,
            ScoringFakes.Metadata(), console, decode: item => item.Name == "v1"
                ? throw new OverflowException("Value was either too large or too small for an Int32.")
                : ScoringFakes.Job(item.Path, item.Name[1] - '0'));

        Assert.That(outcome.ExitCode, Is.EqualTo(ExitCodes.Internal));
        Assert.That(outcome.Scored, Is.EqualTo(3));
        Assert.That((outcome.Failed, outcome.Internal), Is.EqualTo((1, 1)));
        const string expected = "videos/v1: internal error: System.OverflowException: Value was either too large or "
            + "too small for an Int32.";
        Assert.That(outcome.Rows.Select(r => (r.Video, r.Error)),
            Is.EqualTo(new[] { ("v0", null), ("v1", expected), ("v2", null), ("v3", null) }));
        Assert.That(stderr.ToString(), Does.Contain($"dfer: error: {expected}\n"));
        Assert.That(stderr.ToString(),
            Does.Contain("3 of 4 videos scored").And.Contain("1 failed").And.Contain(
            "1 of them for an internal error"));
        string[] lines = File.ReadAllLines(output);
        Assert.That(lines, Has.Length.EqualTo(5), "the metadata line and a row per video");
        Assert.That(JsonDocument.Parse(lines[2]).RootElement.GetProperty("error").GetString(), Is.EqualTo(expected));
        Assert.That(JsonDocument.Parse(lines[4]).RootElement.GetProperty("label").GetString(), Is.Not.Null);
    }

    /// <summary>
    /// On a synchronous backend, decoding each video inline: when video k is decoded, every video before it that a
    /// full batch held is already a row in the file, flushed (before, a batch's rows waited for the next batch).
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    public void SynchronousBackend_WritesEachBatchsRows_BeforeDecodingTheNextVideo(int batch)
    {
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend([], pipelined: false));
        string output = _files.PathOf("results.jsonl");
        var seen = new List<int>();
        DatasetRunner.Run(session, Items(5), batch, null, output, DatasetRunner.Existing.Refuse, 0,
            ScoringFakes.Metadata(), new CliConsole(TextWriter.Null, TextWriter.Null, false), decode: item =>
            {
                seen.Add(LinesOf(output).Length - 1);
                return ScoringFakes.Job(item.Path, 1);
            });
        // Video k is decoded after the batches that hold videos 0 .. k-1 (whole batches only) were scored.
        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 5).Select(k => k / batch * batch)));
        Assert.That(LinesOf(output), Has.Length.EqualTo(6));
    }

    /// <summary>
    /// On a pipelined backend the batch in flight is collected when the forward passes wait for decoding: here the
    /// decoder of video 1 waits for video 0's row, which before came only once video 1 was submitted (a deadlock).
    /// </summary>
    [Test]
    public void PipelinedBackend_WritesTheRowsInFlight_WhileWaitingForDecoding()
    {
        var log = new List<string>();
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend(log, pipelined: true));
        string output = _files.PathOf("results.jsonl");
        var run = Task.Run(() => DatasetRunner.Run(session, Items(3), 1, null, output, DatasetRunner.Existing.Refuse, 1,
            ScoringFakes.Metadata(), new CliConsole(TextWriter.Null, TextWriter.Null, false), decode: item =>
            {
                int k = item.Name[1] - '0';
                var deadline = DateTime.UtcNow + HangGuard;
                while (k > 0 && LinesOf(output).Length - 1 < k)
                {
                    if (DateTime.UtcNow > deadline) throw new TimeoutException($"row {k - 1} never came");
                    Thread.Sleep(10);
                }
                return ScoringFakes.Job(item.Path, k);
            }));
        Assert.That(run.Wait(HangGuard + HangGuard), Is.True, "the run hung");
        Assert.That(run.Result.ExitCode, Is.EqualTo(ExitCodes.Ok),
            string.Join("; ", run.Result.Rows.Select(r => r.Error)));
        Assert.That(LinesOf(output), Has.Length.EqualTo(4));
    }
}
