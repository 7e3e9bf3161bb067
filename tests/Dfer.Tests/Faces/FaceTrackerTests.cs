using Dfer.Faces;

namespace Dfer.Tests.Faces;

/// <summary>The tracker on hand-computed cases (docs/faces.md, "Tracking").</summary>
[TestFixture]
public class FaceTrackerTests
{
    private static readonly FaceBox[] None = [];

    private static readonly TrackerOptions Raw = new() { SmoothWindow = 1, MaxGap = 2 };

    private static FaceBox Box(double x0, double y0, double side, double score = 0.9) =>
        new(x0, y0, x0 + side, y0 + side, score);

    [Test]
    public void OneFace_WithAShortGap_IsBridgedByInterpolation()
    {
        // Detected at frames 0 and 3 (x0 0 and 9, IoU 0.54; a gap of 2 frames = MaxGap): frames 1 and 2 lie 1/3 and 2/3
        // of the way.
        var d = new List<IReadOnlyList<FaceBox>> { new[] { Box(0, 0, 30) }, None, None, new[] { Box(9, 0, 30) }, None };
        var tracks = FaceTracker.Track(d, Raw);
        Assert.That(tracks, Has.Count.EqualTo(1));
        var t = tracks[0];
        Assert.That(t.Boxes[1]!.Value.X0, Is.EqualTo(3).Within(1e-12));
        Assert.That(t.Boxes[2]!.Value.X0, Is.EqualTo(6).Within(1e-12));
        Assert.That(t.Boxes[4], Is.Null, "after the last detection the track has no box");
        Assert.That(t.Detected, Is.EqualTo(new[] { true, false, false, true, false }));
        Assert.That((t.DetectedCount, t.CoveredCount, t.First, t.Last), Is.EqualTo((2, 4, 0, 3)));
    }

    [Test]
    public void AGapLongerThanMaxGap_EndsTheTrack()
    {
        // Three empty frames > MaxGap 2: the second detection starts track 1, nothing is bridged.
        var d = new List<IReadOnlyList<FaceBox>> { new[] { Box(0, 0, 30) }, None, None, None, new[] { Box(0, 0, 30) } };
        var tracks = FaceTracker.Track(d, Raw);
        Assert.That(tracks, Has.Count.EqualTo(2));
        Assert.That(tracks[0].Boxes.Count(b => b is not null), Is.EqualTo(1));
        Assert.That(tracks[1].First, Is.EqualTo(4));
    }

    [Test]
    public void TwoFaces_StayOnTheirOwnTracks_AndTheLargerIsMain()
    {
        // Big face moving right 5 px a frame, small face still; detections listed in changing order.
        var d = new List<IReadOnlyList<FaceBox>>();
        for (int t = 0; t < 6; t++)
        {
            var big = Box(5 * t, 0, 100);
            var small = Box(300, 300, 40);
            d.Add(t % 2 == 0 ? new[] { big, small } : new[] { small, big });
        }
        var tracks = FaceTracker.Track(d, Raw);
        Assert.That(tracks, Has.Count.EqualTo(2));
        Assert.That(tracks[0].Boxes.All(b => b!.Value.Width == 100), "the largest face starts track 0 and keeps it");
        Assert.That(tracks[1].Boxes.All(b => b!.Value.Width == 40));
        Assert.That(FaceTracker.Main(tracks), Is.SameAs(tracks[0]));
        // Prominence: Σ area of detected boxes, 6 · 100².
        Assert.That(tracks[0].Prominence, Is.EqualTo(60000).Within(1e-9));
    }

    [Test]
    public void ADetectionWithoutOverlap_StartsANewTrack_EvenWhileTheOldOneLives()
    {
        var d = new List<IReadOnlyList<FaceBox>> { new[] { Box(0, 0, 50) }, new[] { Box(200, 0, 50) } };
        var tracks = FaceTracker.Track(d, Raw);
        Assert.That(tracks, Has.Count.EqualTo(2));
        Assert.That(tracks[0].Boxes[1], Is.Null, "IoU 0 < 0.2: not the same face");
    }

    [Test]
    public void Smoothing_AveragesTheTracksOwnDetectionsInACentredWindow()
    {
        // Window 3: frame 1's box is the mean of frames 0, 1, 2 (x0 = 0, 6, 3 → 3); frame 0's of frames 0 and 1.
        var d = new List<IReadOnlyList<FaceBox>>
        {
            new[] { Box(0, 0, 60) }, new[] { Box(6, 0, 60) }, new[] { Box(3, 0, 60) },
        };
        var t = FaceTracker.Track(d, Raw with { SmoothWindow = 3 })[0];
        Assert.That(t.Boxes[0]!.Value.X0, Is.EqualTo(3).Within(1e-12));
        Assert.That(t.Boxes[1]!.Value.X0, Is.EqualTo(3).Within(1e-12));
        Assert.That(t.Boxes[2]!.Value.X0, Is.EqualTo(4.5).Within(1e-12));
        Assert.That(t.Boxes[1]!.Value.Score, Is.EqualTo(0.9), "the score is the frame's own");
    }

    [Test]
    public void Appearance_DecidesBetweenTwoEquallyOverlappingDetections()
    {
        // The track's face looks like [1, 0]; in frame 1 two detections overlap it equally (mirror images about its
        // centre); the one that looks like it continues the track, the other starts a new one.
        var start = Box(100, 0, 100);
        var left = Box(90, 0, 100);
        var right = Box(110, 0, 100);
        var d = new List<IReadOnlyList<FaceBox>> { new[] { start }, new[] { left, right } };
        float[] Look(int t, FaceBox b) => t == 0 || b == right ? [1f, 0f] : [0f, 1f];
        var tracks = FaceTracker.Track(d, Raw, Look);
        Assert.That(tracks[0].Boxes[1], Is.EqualTo(right));
        Assert.That(tracks[1].Boxes[1], Is.EqualTo(left));
        // Without appearance the tie goes to the earlier detection.
        Assert.That(FaceTracker.Track(d, Raw)[0].Boxes[1], Is.EqualTo(left));
    }

    [Test]
    public void BadOptions_AreOneLineErrors()
    {
        Assert.That(() => FaceTracker.Track([], new TrackerOptions { MinIou = 0 }),
            Throws.TypeOf<DferException>().With.Message.Contains("minimum IoU"));
        Assert.That(() => FaceTracker.Track([], new TrackerOptions { SmoothWindow = 0 }),
            Throws.TypeOf<DferException>().With.Message.Contains("smoothing window"));
        Assert.That(FaceTracker.Main([]), Is.Null);
    }
}

/// <summary>The face stage's detection step: tracks over detector runs spread back over every frame.</summary>
[TestFixture]
public class FaceStageExpandTests
{
    [Test]
    public void Expand_PlacesRunsAtTheirFrames_AndInterpolatesBetween()
    {
        // Runs at frames 0, 4, 8, 9 (every 4th and the last); the track has boxes at runs 0, 1 and 2 (x0 0, 8, 8).
        var boxes = new FaceBox?[] { new(0, 0, 10, 10, 1), new(8, 0, 18, 10, 1), new(8, 0, 18, 10, 1), null };
        var track = new FaceTrack(3, boxes, [true, false, true, false]);
        var all = FaceStage.Expand(track, [0, 4, 8, 9], 10);
        Assert.That(all.Id, Is.EqualTo(3));
        Assert.That(all.Boxes.Select(b => b?.X0), Is.EqualTo(new double?[] { 0, 2, 4, 6, 8, 8, 8, 8, 8, null }));
        Assert.That(all.Detected, Is.EqualTo(new[] { true, false, false, false, false, false, false, false, true,
            false }));
    }
}
