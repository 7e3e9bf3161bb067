namespace Dfer.Tensors;

/// <summary>
/// SplitMix64: a tiny generator whose sequence is fixed by its definition, so generated weights
/// and clips are identical on every machine and .NET version (System.Random promises less).
/// </summary>
public sealed class DeterministicRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextULong()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public float Uniform(float lo, float hi) => (float)(lo + (hi - lo) * NextDouble());

    public float[] Uniform(long count, float lo, float hi)
    {
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = Uniform(lo, hi);
        return a;
    }
}
