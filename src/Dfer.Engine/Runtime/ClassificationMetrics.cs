namespace Dfer.Runtime;

/// <summary>
/// Accuracy as the DFER literature reports it, from (target, predicted) class pairs:
/// <list type="bullet">
/// <item>WAR (weighted average recall) = correct / total, i.e. plain accuracy;</item>
/// <item>UAR (unweighted average recall) = mean over classes c of recall(c) = confusion[c, c] / Σ_p confusion[c, p],
/// taken over the classes that occur among the targets (a class with no samples has no recall);</item>
/// <item>Confusion[t, p] = number of samples of class t predicted as p (rows: truth, columns: prediction).</item>
/// </list>
/// </summary>
public sealed class ClassificationMetrics
{
    private ClassificationMetrics(int[,] confusion)
    {
        Confusion = confusion;
        int classes = confusion.GetLength(0);
        Recall = new double[classes];
        Support = new long[classes];
        long correct = 0, total = 0;
        double recallSum = 0;
        int present = 0;
        for (int t = 0; t < classes; t++)
        {
            long row = 0;
            for (int p = 0; p < classes; p++) row += confusion[t, p];
            correct += confusion[t, t];
            total += row;
            Support[t] = row;
            Recall[t] = row == 0 ? double.NaN : (double)confusion[t, t] / row;
            if (row > 0)
            {
                recallSum += Recall[t];
                present++;
            }
        }
        Total = total;
        War = total == 0 ? double.NaN : (double)correct / total;
        Uar = present == 0 ? double.NaN : recallSum / present;
    }

    /// <summary>Rows are true classes, columns predicted classes.</summary>
    public int[,] Confusion { get; }

    /// <summary>Per-class recall; NaN for a class with no samples.</summary>
    public double[] Recall { get; }

    /// <summary>Samples per true class.</summary>
    public long[] Support { get; }

    /// <summary>Number of samples counted.</summary>
    public long Total { get; }

    /// <summary>Unweighted average recall (mean per-class recall over the classes that have samples); NaN without
    /// samples.</summary>
    public double Uar { get; }

    /// <summary>Weighted average recall = accuracy; NaN without samples.</summary>
    public double War { get; }

    /// <summary>Counts <paramref name="pairs"/> into a <paramref name="classes"/>-way confusion matrix.</summary>
    public static ClassificationMetrics Compute(IEnumerable<(int Target, int Predicted)> pairs, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        var confusion = new int[classes, classes];
        foreach (var (target, predicted) in pairs)
        {
            if ((uint)target >= (uint)classes || (uint)predicted >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(pairs),
                    $"class pair ({target}, {predicted}) outside 0..{classes - 1}");
            confusion[target, predicted]++;
        }
        return new ClassificationMetrics(confusion);
    }
}
