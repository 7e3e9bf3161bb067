using Dfer.Backends;
using Dfer.Cli.Scoring;
using Dfer.Media;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Ops.Reshape;
using Dfer.Ops.Softmax;
using Dfer.Runtime;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary>
/// The batcher against a pipelined backend (one batch in flight, as cuda runs them), with a fake model whose logits are
/// its input: the next batch is submitted before the previous is collected, a job split over two batches is reported
/// once, a batch that fails when collected fails only its own jobs, and every score lands on its own clip.
/// </summary>
[TestFixture]
public class ClipBatcherTests
{
    private const int Classes = 7;

    [Test]
    public void PipelinedBackend_SubmitsAhead_ReportsEachJobOnce_AndAFailedBatchFailsOnlyItsJobs()
    {
        var log = new List<string>();
        using var backend = new ScoringFakes.EchoBackend(log, pipelined: true, failingBatch: 2);
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"), backend);
        // Batches of 2 clips: [a0 b0] [b1 b2] [c0 d0]; the second fails when collected, so b fails, a, c and d score.
        var a = Job("a", 1, 10);
        var b = Job("b", 3, 20);
        var c = Job("c", 1, 30);
        var d = Job("d", 1, 40);
        var reported = new List<string>();
        var batcher = new ClipBatcher(session, 2,
            job => reported.Add(job.Source + (job.Error is null ? "" : " failed")));
        foreach (var job in new[] { a, b, c, d }) batcher.Add(job);
        batcher.Flush();

        Assert.That(log, Is.EqualTo(new[] { "submit 1", "submit 2", "wait 1", "submit 3", "wait 2", "wait 3" }),
            "each batch is submitted before the one in flight is collected");
        Assert.That(reported, Is.EqualTo(new[] { "a", "b failed", "c", "d" }));
        Assert.That(b.Error, Does.Contain("batch 2 failed"));
        Assert.That(batcher.Batches, Is.EqualTo(3));
        Assert.That(batcher.Scored, Is.EqualTo(6));
        // The fake's logits are its input: every clip got its own scores back.
        Assert.That(a.ClipResults[0].Logits[0], Is.EqualTo(10f));
        Assert.That(c.ClipResults[0].Logits[0], Is.EqualTo(30f));
        Assert.That(d.ClipResults[0].Logits[0], Is.EqualTo(40f));
        Assert.That(d.ClipResults[0].Label, Is.EqualTo("happy"));
    }

    [Test]
    public void AJobThatFailedBeforeScoring_IsReportedAtOnce_AndOnlyOnce()
    {
        var log = new List<string>();
        using var backend = new ScoringFakes.EchoBackend(log, pipelined: true);
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"), backend);
        var reported = new List<string>();
        var batcher = new ClipBatcher(session, 4, job => reported.Add(job.Source));
        var bad = new ScoreJob("bad.mp4", "bad.mp4: not a video");
        var ok = Job("ok", 2, 1);
        batcher.Add(bad);
        batcher.Add(ok);
        Assert.That(reported, Is.EqualTo(new[] { "bad.mp4" }));
        batcher.Flush();
        batcher.Flush();
        Assert.That(reported, Is.EqualTo(new[] { "bad.mp4", "ok" }));
        Assert.That(log, Is.EqualTo(new[] { "submit 1", "wait 1" }));
    }

    /// <summary>
    /// On a backend whose Submit returns a finished batch (cpu), the jobs a batch completes are reported before the
    /// next batch is gathered, let alone submitted: a dataset run writes each video's row as soon as it is scored.
    /// </summary>
    [Test]
    public void SynchronousBackend_ReportsABatchsJobs_BeforeTheNextBatchIsSubmitted()
    {
        var log = new List<string>();
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend(log, pipelined: false));
        var batcher = new ClipBatcher(session, 2, job => log.Add("done " + job.Source));
        // Batches [a0 b0] [b1 c0] [d0]: b completes with the second batch.
        batcher.Add(ScoringFakes.Job("a", 1));
        batcher.Add(ScoringFakes.Job("b", 2, 3));
        Assert.That(log, Is.EqualTo(new[] { "submit 1", "done a" }),
            "a's row is due as soon as the batch that held it is done");
        batcher.Add(ScoringFakes.Job("c", 4));
        batcher.Add(ScoringFakes.Job("d", 5));
        Assert.That(log, Is.EqualTo(new[] { "submit 1", "done a", "submit 2", "done b", "done c" }));
        batcher.Flush();
        Assert.That(log,
            Is.EqualTo(new[] { "submit 1", "done a", "submit 2", "done b", "done c", "submit 3", "done d" }));
    }

    /// <summary>On a pipelined backend the batch in flight waits for the next one, unless the caller collects it when
    /// idle.</summary>
    [Test]
    public void PipelinedBackend_CollectInFlight_ReportsTheBatchInFlightAtOnce()
    {
        var log = new List<string>();
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend(log, pipelined: true));
        var batcher = new ClipBatcher(session, 1, job => log.Add("done " + job.Source));
        batcher.Add(ScoringFakes.Job("a", 1));
        Assert.That(log, Is.EqualTo(new[] { "submit 1" }), "kept in flight");
        batcher.CollectInFlight();
        Assert.That(log, Is.EqualTo(new[] { "submit 1", "wait 1", "done a" }));
        batcher.CollectInFlight();
        batcher.Add(ScoringFakes.Job("b", 2));
        batcher.Flush();
        Assert.That(log, Is.EqualTo(new[] { "submit 1", "wait 1", "done a", "submit 2", "wait 2", "done b" }));
    }

    /// <summary>NaN logits fail the job whose clip they are, with one line naming it; the rest of the batch is
    /// scored.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void NonFiniteLogits_FailOnlyTheirJob(bool pipelined)
    {
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend([], pipelined));
        var reported = new List<ScoreJob>();
        var batcher = new ClipBatcher(session, 8, reported.Add);
        var a = ScoringFakes.Job("a.npy", 1);
        var nan = ScoringFakes.Job("nan.npy", ScoringFakes.NaNMarker);
        var clips = ScoringFakes.Job("clips.npy", 2, ScoringFakes.NaNMarker, 3);
        var c = ScoringFakes.Job("c.npy", 4);
        foreach (var job in new[] { a, nan, clips, c }) batcher.Add(job);
        batcher.Flush();

        Assert.That(reported, Is.EquivalentTo(new[] { a, nan, clips, c }));
        Assert.That(nan.Error,
            Is.EqualTo("nan.npy: the model produced non-finite logits (NaN) for this input; check the weights and the "
                + "input range"));
        Assert.That(clips.Error,
            Is.EqualTo("clips.npy: the model produced non-finite logits (NaN) for clip 1 of this input; check the "
                + "weights and the input range"));
        Assert.That(clips.ClipResults, Is.Empty, "no part of a failed input is reported");
        Assert.That(nan.Internal || clips.Internal, Is.False, "the input's problem, not a bug");
        Assert.That(a.Error, Is.Null);
        Assert.That(c.Error, Is.Null);
        Assert.That(a.ClipResults[0].Logits[0], Is.EqualTo(1f));
        Assert.That(c.ClipResults[0].Logits[0], Is.EqualTo(4f));
    }

    /// <summary>
    /// A non-Dfer exception while scoring a batch (a bug) fails that batch's jobs as internal errors, each naming its
    /// input, and the batches after it still run.
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public void ABugInOneBatch_FailsItsJobsAsInternalErrors_AndTheNextBatchesStillRun(bool pipelined)
    {
        var log = new List<string>();
        using var session = new Session(new ScoringFakes.EchoModel(), new StateDict("none"),
            new ScoringFakes.EchoBackend(log, pipelined));
        var reported = new List<ScoreJob>();
        var batcher = new ClipBatcher(session, 2, reported.Add);
        var a = ScoringFakes.Job("a", 1);
        var bug = ScoringFakes.Job("bug", ScoringFakes.BugMarker);
        var c = ScoringFakes.Job("c", 3);
        var d = ScoringFakes.Job("d", 4);
        foreach (var job in new[] { a, bug, c, d }) batcher.Add(job);
        batcher.Flush();

        Assert.That(reported, Is.EqualTo(new[] { a, bug, c, d }));
        Assert.That(a.Error,
            Is.EqualTo("a: internal error: System.OverflowException: Arithmetic operation resulted in an overflow."));
        Assert.That(bug.Error,
            Is.EqualTo("bug: internal error: System.OverflowException: Arithmetic operation resulted in an overflow."));
        Assert.That(a.Internal && bug.Internal, Is.True);
        Assert.That(c.Error, Is.Null);
        Assert.That(d.Error, Is.Null);
        Assert.That(d.ClipResults[0].Logits[0], Is.EqualTo(4f));
    }

    /// <summary>A job of <paramref name="clips"/> clips; clip i's values are all <paramref name="first"/> +
    /// i.</summary>
    private static ScoreJob Job(string name, int clips, float first) =>
        new(name, Enumerable.Range(0, clips).Select(i => Enumerable.Repeat(first + i, Classes).ToArray()).ToArray(),
        perClip: true);
}
