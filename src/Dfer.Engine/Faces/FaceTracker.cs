namespace Dfer.Faces;

/// <summary>How detections become tracks (docs/faces.md, "Tracking").</summary>
public sealed record TrackerOptions
{
    /// <summary>A detection continues a track only if its IoU with the track's last box is at least this.</summary>
    public double MinIou { get; init; } = 0.2;

    /// <summary>Frames a track survives without a detection; gaps up to this long are bridged by interpolating the
    /// box, a longer one ends the track.</summary>
    public int MaxGap { get; init; } = 12;

    /// <summary>Detected boxes are averaged over a centred window of this many frames of the same track (1: raw
    /// boxes).</summary>
    public int SmoothWindow { get; init; } = 5;

    /// <summary>Weight of appearance next to overlap when several detections could continue a track.</summary>
    public double AppearanceWeight { get; init; } = 0.5;

    /// <summary>Checks the values; one line naming the bad one.</summary>
    public void Validate()
    {
        if (!(MinIou > 0 && MinIou <= 1))
            throw new DferException($"the tracker's minimum IoU must be in (0, 1], got {MinIou}");
        if (MaxGap < 0) throw new DferException($"the tracker's maximum gap must be at least 0 frames, got {MaxGap}");
        if (SmoothWindow < 1)
            throw new DferException($"the box smoothing window must be at least 1, got {SmoothWindow}");
        if (!(AppearanceWeight >= 0))
            throw new DferException($"the appearance weight must be ≥ 0, got {AppearanceWeight}");
    }
}

/// <summary>
/// One face followed through a video. <see cref="Boxes"/> has an entry per frame of the video: the smoothed box where
/// the face was detected, the interpolated box inside a bridged gap, null outside the track.
/// </summary>
public sealed record FaceTrack(int Id, FaceBox?[] Boxes, bool[] Detected)
{
    /// <summary>First and last frame with a box.</summary>
    public int First => Array.FindIndex(Boxes, b => b is not null);
    public int Last => Array.FindLastIndex(Boxes, b => b is not null);

    /// <summary>Frames where the face was detected.</summary>
    public int DetectedCount => Detected.Count(d => d);

    /// <summary>Frames with a box, detected or bridged.</summary>
    public int CoveredCount => Boxes.Count(b => b is not null);

    /// <summary>Σ area of the detected boxes: how much of the video the face takes; the main track has the
    /// most.</summary>
    public double Prominence => Boxes.Where((b, i) => b is not null && Detected[i]).Sum(b => b!.Value.Area);
}

/// <summary>
/// Links per-frame detections into tracks, offline (every frame's detections are known first):
/// <list type="number">
/// <item>frame by frame, each live track (last detection at most <see cref="TrackerOptions.MaxGap"/> + 1 frames
/// back) may take one detection whose IoU with the track's last detected box is at least
/// <see cref="TrackerOptions.MinIou"/>; pairs are matched greedily by <c>IoU + w·similarity</c>, the similarity of
/// appearance descriptors mapped to [0, 1] (w = <see cref="TrackerOptions.AppearanceWeight"/>; without descriptors
/// IoU alone decides; ties go to the older track and the earlier detection);</item>
/// <item>a detection no track takes starts a new track, the largest first;</item>
/// <item>each track's detected boxes are averaged over a centred window of
/// <see cref="TrackerOptions.SmoothWindow"/> frames (only frames where that track was detected count), and the frames
/// between two detections are linearly interpolated (gaps are at most MaxGap by construction).</item>
/// </list>
/// Tracks come out in the order they started.
/// </summary>
public static class FaceTracker
{
    private sealed class Live(int id, int frame, FaceBox box, float[]? look)
    {
        public int Id = id, LastFrame = frame;
        public FaceBox Last = box;
        public float[]? Look = look;
        public readonly SortedDictionary<int, FaceBox> Raw = new() { [frame] = box };
    }

    /// <param name="detections">Per frame, the faces found.</param>
    /// <param name="options">The tracker's settings.</param>
    /// <param name="appearance">Optional: a descriptor of detection (frame, index), unit-norm and zero-mean, compared
    /// by dot product.</param>
    public static IReadOnlyList<FaceTrack> Track(IReadOnlyList<IReadOnlyList<FaceBox>> detections,
        TrackerOptions? options = null, Func<int, FaceBox, float[]>? appearance = null)
    {
        options ??= new TrackerOptions();
        options.Validate();
        int n = detections.Count;
        var all = new List<Live>();
        for (int t = 0; t < n; t++)
        {
            var found = detections[t];
            if (found.Count == 0) continue;
            var looks = appearance is null ? null : found.Select(d => appearance(t, d)).ToArray();
            var live = all.Where(l => t - l.LastFrame <= options.MaxGap + 1).ToList();
            var pairs = new List<(double Score, int Track, int Det)>();
            for (int a = 0; a < live.Count; a++)
                for (int d = 0; d < found.Count; d++)
                {
                    double iou = found[d].Iou(live[a].Last);
                    if (iou < options.MinIou) continue;
                    double score = iou;
                    if (looks is not null && live[a].Look is float[] look)
                        score += options.AppearanceWeight * (1 + Dot(look, looks[d])) / 2;
                    pairs.Add((score, a, d));
                }
            var trackTaken = new bool[live.Count];
            var detTaken = new bool[found.Count];
            foreach (var (_, a, d) in pairs.OrderByDescending(p => p.Score).ThenBy(p => p.Track).ThenBy(p => p.Det))
            {
                if (trackTaken[a] || detTaken[d]) continue;
                trackTaken[a] = detTaken[d] = true;
                var l = live[a];
                l.Last = found[d];
                l.LastFrame = t;
                l.Raw[t] = found[d];
                if (looks is not null) l.Look = Blend(l.Look, looks[d]);
            }
            foreach (int d in Enumerable.Range(0, found.Count).Where(d => !detTaken[d])
                .OrderByDescending(d => found[d].Area).ThenBy(d => d))
                all.Add(new Live(all.Count, t, found[d], looks?[d]));
        }
        return all.Select(l => Finish(l, n, options.SmoothWindow)).ToArray();
    }

    /// <summary>The track with the largest <see cref="FaceTrack.Prominence"/> (the earliest on a tie), or
    /// null.</summary>
    public static FaceTrack? Main(IReadOnlyList<FaceTrack> tracks)
    {
        FaceTrack? best = null;
        foreach (var t in tracks)
            if (best is null || t.Prominence > best.Prominence) best = t;
        return best;
    }

    private static FaceTrack Finish(Live l, int n, int window)
    {
        var boxes = new FaceBox?[n];
        var detected = new bool[n];
        int half = window / 2;
        var frames = l.Raw.Keys.ToArray();
        var raw = l.Raw.Values.ToArray();
        // The window [t − half, t + half] over the sorted detection frames: two cursors, not a scan per frame.
        int lo = 0, hi = 0;
        for (int i = 0; i < frames.Length; i++)
        {
            int t = frames[i];
            while (frames[lo] < t - half) lo++;
            while (hi < frames.Length && frames[hi] <= t + half) hi++;
            double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
            for (int j = lo; j < hi; j++)
            {
                x0 += raw[j].X0; y0 += raw[j].Y0; x1 += raw[j].X1; y1 += raw[j].Y1;
            }
            int count = hi - lo;
            boxes[t] = new FaceBox(x0 / count, y0 / count, x1 / count, y1 / count, raw[i].Score);
            detected[t] = true;
        }
        for (int i = 1; i < frames.Length; i++)
        {
            int a = frames[i - 1], b = frames[i];
            for (int t = a + 1; t < b; t++)
                boxes[t] = FaceBox.Lerp(boxes[a]!.Value, boxes[b]!.Value, (double)(t - a) / (b - a));
        }
        return new FaceTrack(l.Id, boxes, detected);
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++) s += a[i] * b[i];
        return Math.Clamp(s, -1, 1);
    }

    /// <summary>The track's look drifts towards the newest detection (half and half), renormalised.</summary>
    private static float[]? Blend(float[]? old, float[] add)
    {
        if (old is null) return add;
        var m = new float[old.Length];
        double norm = 0;
        for (int i = 0; i < m.Length; i++) { m[i] = (old[i] + add[i]) / 2; norm += m[i] * (double)m[i]; }
        if (norm <= 0) return add;
        float inv = (float)(1 / Math.Sqrt(norm));
        for (int i = 0; i < m.Length; i++) m[i] *= inv;
        return m;
    }
}
