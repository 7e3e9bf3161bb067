namespace Dfer.Media;

/// <summary>Which frame indices make a video's clips (see <see cref="FrameSampling"/>).</summary>
internal static class FrameSampler
{
    /// <summary>
    /// M3DFEL's single clip of <paramref name="frames"/> indices out of <paramref name="count"/>:
    /// <c>int(N·i/T)</c>, then with a generator <c>min(N-1, index + int(random()·T))</c>, drawing
    /// once per clip frame in order.
    /// </summary>
    public static int[] Spread(int count, int frames, PythonRandom? jitter)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), "a video has at least one frame");
        var indices = new int[frames];
        for (int i = 0; i < frames; i++)
        {
            // Python's int(N*i/T): true division in double, then truncation.
            int frame = (int)((double)((long)count * i) / frames);
            if (jitter is not null)
            {
                frame += (int)(jitter.NextDouble() * frames);
                frame = Math.Min(count - 1, frame);
            }
            indices[i] = frame;
        }
        return indices;
    }

    /// <summary>IFDD's clips: <c>[k·T, (k+1)·T)</c> for k = 0 .. ⌊N/T⌋-1; null when N &lt; T.</summary>
    public static int[][]? Windows(int count, int frames)
    {
        int clips = count / frames;
        if (clips == 0) return null;
        var result = new int[clips][];
        for (int k = 0; k < clips; k++)
        {
            result[k] = new int[frames];
            for (int i = 0; i < frames; i++) result[k][i] = k * frames + i;
        }
        return result;
    }
}
