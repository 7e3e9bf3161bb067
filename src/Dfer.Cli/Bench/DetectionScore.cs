using Dfer.Faces;

namespace Dfer.Cli.Bench;

/// <summary>How one frame's detections meet its faces.</summary>
/// <param name="Pairs">Matched (face, detection) index pairs with their IoU, in the order they were taken.</param>
/// <param name="False">Detections matching no face and lying mostly outside every ignored face.</param>
internal sealed record FrameMatch(IReadOnlyList<(int Face, int Found, double Iou)> Pairs, int False);

/// <summary>
/// The detection benchmark's counts over frames (docs/detection-benchmark.md): faces and detections are matched
/// greedily one to one, the pair of highest IoU first, pairs under <see cref="MinIou"/> never.
/// </summary>
internal sealed class DetectionScore
{
    /// <summary>The least IoU of a match (PASCAL VOC's).</summary>
    public const double MinIou = 0.5;

    /// <summary>An unmatched detection with at least this share of its area inside an ignored face is not
    /// false.</summary>
    public const double IgnoredCover = 0.5;

    public int Frames { get; private set; }
    public int FramesWithFace { get; private set; }

    /// <summary>Frames with a face where at least one face was matched.</summary>
    public int FramesHit { get; private set; }

    public int Faces { get; private set; }
    public int Matched { get; private set; }
    public int FalseDetections { get; private set; }
    public double IouSum { get; private set; }

    /// <summary>Share of the frames with a face where one was found; NaN without such frames.</summary>
    public double FrameRecall => FramesWithFace > 0 ? (double)FramesHit / FramesWithFace : double.NaN;

    /// <summary>Share of the faces found; NaN without faces.</summary>
    public double FaceRecall => Faces > 0 ? (double)Matched / Faces : double.NaN;

    /// <summary>False detections per frame; NaN without frames.</summary>
    public double FalsePerFrame => Frames > 0 ? (double)FalseDetections / Frames : double.NaN;

    /// <summary>Share of the counted detections that are faces; NaN without detections.</summary>
    public double Precision => Matched + FalseDetections > 0
        ? (double)Matched / (Matched + FalseDetections) : double.NaN;

    /// <summary>Mean IoU of the matches; NaN without matches.</summary>
    public double MeanIou => Matched > 0 ? IouSum / Matched : double.NaN;

    /// <summary>Matches one frame's detections to its faces.</summary>
    public static FrameMatch Match(FrameTruth truth, IReadOnlyList<FaceBox> found)
    {
        var candidates = new List<(double Iou, int Face, int Found)>();
        for (int f = 0; f < truth.Faces.Count; f++)
            for (int d = 0; d < found.Count; d++)
            {
                double iou = truth.Faces[f].Iou(found[d]);
                if (iou >= MinIou) candidates.Add((iou, f, d));
            }
        var faceTaken = new bool[truth.Faces.Count];
        var foundTaken = new bool[found.Count];
        var pairs = new List<(int, int, double)>();
        foreach (var (iou, f, d) in candidates.OrderByDescending(c => c.Iou).ThenBy(c => c.Face).ThenBy(c => c.Found))
        {
            if (faceTaken[f] || foundTaken[d]) continue;
            faceTaken[f] = foundTaken[d] = true;
            pairs.Add((f, d, iou));
        }
        int wrong = 0;
        for (int d = 0; d < found.Count; d++)
            if (!foundTaken[d] && !truth.Ignored.Any(g => Inside(found[d], g) >= IgnoredCover)) wrong++;
        return new FrameMatch(pairs, wrong);
    }

    /// <summary>Share of <paramref name="box"/>'s area inside <paramref name="region"/>.</summary>
    internal static double Inside(FaceBox box, FaceBox region)
    {
        if (box.Area <= 0) return 0;
        double iw = Math.Max(0, Math.Min(box.X1, region.X1) - Math.Max(box.X0, region.X0)),
            ih = Math.Max(0, Math.Min(box.Y1, region.Y1) - Math.Max(box.Y0, region.Y0));
        return iw * ih / box.Area;
    }

    /// <summary>Counts one frame.</summary>
    public FrameMatch Add(FrameTruth truth, IReadOnlyList<FaceBox> found)
    {
        var match = Match(truth, found);
        Frames++;
        Faces += truth.Faces.Count;
        if (truth.Faces.Count > 0)
        {
            FramesWithFace++;
            if (match.Pairs.Count > 0) FramesHit++;
        }
        Matched += match.Pairs.Count;
        IouSum += match.Pairs.Sum(p => p.Iou);
        FalseDetections += match.False;
        return match;
    }

    /// <summary>Adds another score's counts to this one.</summary>
    public void Add(DetectionScore other)
    {
        Frames += other.Frames;
        FramesWithFace += other.FramesWithFace;
        FramesHit += other.FramesHit;
        Faces += other.Faces;
        Matched += other.Matched;
        FalseDetections += other.FalseDetections;
        IouSum += other.IouSum;
    }
}
