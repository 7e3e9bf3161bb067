using Dfer.Cli.Bench;
using Dfer.Faces;

namespace Dfer.Tests.Cli;

/// <summary>The detection benchmark's matching and counts (docs/detection-benchmark.md) on hand-computed
/// frames.</summary>
[TestFixture]
public class DetectionScoreTests
{
    private static FaceBox B(double x0, double y0, double x1, double y1) => new(x0, y0, x1, y1, 1);

    private static FrameTruth Faces(params FaceBox[] faces) => new(faces, []);

    [Test]
    public void Match_TakesTheBestPairFirst_OneToOne()
    {
        // A and B overlap; d sits between them (IoU 80/120 = 0.667 with each), e is B exactly and has IoU 60/140 =
        // 0.43 with A. Taken by IoU: (B, e) at 1, then (A, d) at 0.667; matching d to A first by index would have
        // been the same, but matching d to B (a tie) would have left A unmatched.
        var truth = Faces(B(0, 0, 10, 10), B(4, 0, 14, 10));
        var match = DetectionScore.Match(truth, [B(2, 0, 12, 10), B(4, 0, 14, 10)]);
        Assert.That(match.Pairs.Select(p => (p.Face, p.Found)), Is.EqualTo(new[] { (1, 1), (0, 0) }));
        Assert.That(match.Pairs[0].Iou, Is.EqualTo(1));
        Assert.That(match.Pairs[1].Iou, Is.EqualTo(80.0 / 120).Within(1e-12));
        Assert.That(match.False, Is.Zero);
    }

    [Test]
    public void Match_ATieGoesToTheEarlierFace_AndASecondDetectionOfAFaceIsFalse()
    {
        var truth = Faces(B(0, 0, 10, 10), B(4, 0, 14, 10));
        var match = DetectionScore.Match(truth, [B(2, 0, 12, 10)]);
        Assert.That(match.Pairs.Select(p => p.Face), Is.EqualTo(new[] { 0 }));
        var twice = DetectionScore.Match(Faces(B(0, 0, 10, 10)), [B(0, 0, 10, 10), B(1, 0, 11, 10)]);
        Assert.That(twice.Pairs, Has.Count.EqualTo(1));
        Assert.That(twice.False, Is.EqualTo(1));
    }

    [Test]
    public void Match_NeedsHalfIoU()
    {
        // 10x10 against 10x20 sharing a corner: IoU 100/200 = 0.5 matches; 9x10 inside it: 90/200 does not.
        Assert.That(DetectionScore.Match(Faces(B(0, 0, 10, 20)), [B(0, 0, 10, 10)]).Pairs, Has.Count.EqualTo(1));
        var miss = DetectionScore.Match(Faces(B(0, 0, 10, 20)), [B(0, 0, 9, 10)]);
        Assert.That(miss.Pairs, Is.Empty);
        Assert.That(miss.False, Is.EqualTo(1));
    }

    [Test]
    public void Match_ADetectionMostlyInsideAnIgnoredFace_IsNotFalse()
    {
        var truth = new FrameTruth([], [B(90, 10, 100, 30)]);
        // 6x20 with 5x20 inside (0.83): not false; 10x20 with 5x20 inside (0.5): not false; 10x20 with 4x20 inside
        // (0.4): false.
        Assert.That(DetectionScore.Match(truth, [B(89, 10, 95, 30)]).False, Is.Zero);
        Assert.That(DetectionScore.Match(truth, [B(85, 10, 95, 30)]).False, Is.Zero);
        Assert.That(DetectionScore.Match(truth, [B(84, 10, 94, 30)]).False, Is.EqualTo(1));
    }

    [Test]
    public void Score_CountsRecallsFalseDetectionsAndIoU()
    {
        var score = new DetectionScore();
        // Frame 1: two faces, one found exactly, plus a false detection far away.
        score.Add(Faces(B(0, 0, 10, 10), B(50, 50, 60, 60)), [B(0, 0, 10, 10), B(200, 200, 210, 210)]);
        // Frame 2: no face, one detection (false).
        score.Add(Faces(), [B(0, 0, 10, 10)]);
        // Frame 3: one face, found with IoU 80/100 = 0.8.
        score.Add(Faces(B(0, 0, 10, 10)), [B(0, 0, 10, 8)]);
        // Frame 4: one face, nothing found.
        score.Add(Faces(B(0, 0, 10, 10)), []);
        Assert.That((score.Frames, score.FramesWithFace, score.FramesHit), Is.EqualTo((4, 3, 2)));
        Assert.That((score.Faces, score.Matched, score.FalseDetections), Is.EqualTo((4, 2, 2)));
        Assert.That(score.FrameRecall, Is.EqualTo(2.0 / 3).Within(1e-12));
        Assert.That(score.FaceRecall, Is.EqualTo(0.5));
        Assert.That(score.FalsePerFrame, Is.EqualTo(0.5));
        Assert.That(score.Precision, Is.EqualTo(0.5));
        Assert.That(score.MeanIou, Is.EqualTo(0.9).Within(1e-12));

        var sum = new DetectionScore();
        sum.Add(score);
        sum.Add(score);
        Assert.That((sum.Frames, sum.FramesHit, sum.Matched), Is.EqualTo((8, 4, 4)));
        Assert.That(sum.MeanIou, Is.EqualTo(0.9).Within(1e-12));
    }

    [Test]
    public void Score_OfNothing_IsNaN()
    {
        var score = new DetectionScore();
        Assert.That(new[] { score.FrameRecall, score.FaceRecall, score.FalsePerFrame, score.Precision, score.MeanIou },
            Is.All.NaN);
    }
}
