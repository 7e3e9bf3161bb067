namespace Dfer.Runtime;

/// <summary>How clip scores become one score per video.</summary>
public static class VideoScores
{
    /// <summary>
    /// The mean of the clips' logits (the IFDD evaluation protocol; a one-clip video keeps its
    /// clip's scores), with probabilities = softmax(mean logits) and the label of the largest.
    /// </summary>
    public static ClipResult Mean(IReadOnlyList<ClipResult> clips, IReadOnlyList<string> classes)
    {
        if (clips.Count == 0) throw new ArgumentException("a video needs at least one clip", nameof(clips));
        if (clips.Count == 1) return clips[0];
        int n = classes.Count;
        var mean = new double[n];
        foreach (ClipResult clip in clips)
            for (int c = 0; c < n; c++) mean[c] += clip.Logits[c];
        double max = double.NegativeInfinity;
        for (int c = 0; c < n; c++)
        {
            mean[c] /= clips.Count;
            max = Math.Max(max, mean[c]);
        }
        var exp = new double[n];
        double sum = 0;
        for (int c = 0; c < n; c++) sum += exp[c] = Math.Exp(mean[c] - max);
        var logits = new float[n];
        var probabilities = new float[n];
        int best = 0;
        for (int c = 0; c < n; c++)
        {
            logits[c] = (float)mean[c];
            probabilities[c] = (float)(exp[c] / sum);
            if (probabilities[c] > probabilities[best]) best = c;
        }
        return new ClipResult(logits, probabilities, classes[best]);
    }
}
