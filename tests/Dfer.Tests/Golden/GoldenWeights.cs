using System.Text;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Tests.Golden;

/// <summary>
/// The "golden-v1" weight and clip generator of tests/fixtures/golden/make_golden.py, bit for bit: the
/// golden logits there come from the original PyTorch code run on exactly these values, so no weights need
/// to be committed. The definition (hash, per-key rule, clips, digests) is the script's docstring; every
/// expression here keeps the script's operation order, in double, rounded once to float.
/// </summary>
internal static class GoldenWeights
{
    /// <summary>The generator's name in golden.json.</summary>
    internal const string Version = "golden-v1";

    private const ulong Gamma = 0x9E3779B97F4A7C15UL;

    /// <summary>SplitMix64's finaliser.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>FNV-1a 64 of the name's UTF-8 bytes.</summary>
    internal static ulong Fnv(string name)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(name)) h = (h ^ b) * 0x100000001B3UL;
        return h;
    }

    private static ulong Base(ulong seed, string name) => Mix(Fnv(name) ^ Mix(seed));

    /// <summary>Element <paramref name="i"/> of the stream for <paramref name="name"/>.</summary>
    internal static ulong Hash(ulong seed, string name, long i) => Mix(Base(seed, name) + Gamma * (ulong)(i + 1));

    /// <summary>The int64 values of an integer entry, or null for a float one.</summary>
    private static float[]? IntegerValues(string name, long n)
    {
        if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal)) return new float[n];
        bool even = name.EndsWith("index_even", StringComparison.Ordinal);
        if (!even && !name.EndsWith("index_odd", StringComparison.Ordinal)) return null;
        var v = new float[n];
        for (int j = 0; j < n; j++) v[j] = (even ? 0 : 1) + 2 * j;
        return v;
    }

    /// <summary><c>rule()</c> of make_golden.py for a float entry: value = offset + scale·u.</summary>
    internal static (double Offset, double Scale) Rule(string name, long[] shape)
    {
        if (name.EndsWith("running_mean", StringComparison.Ordinal)) return (0.0, 0.1);
        if (name.EndsWith("running_var", StringComparison.Ordinal)) return (1.0, 0.5);
        if (name.Contains("lstm", StringComparison.Ordinal)) return (0.0, 1.0 / Math.Sqrt(shape[0] / 4.0));
        if (name.Contains("offset_project", StringComparison.Ordinal)) return (0.0, 1.0);
        if (name.EndsWith(".bias", StringComparison.Ordinal)) return (0.0, 0.1);
        if (name.EndsWith(".weight", StringComparison.Ordinal))
        {
            if (shape.Length == 1 || (name.Contains("norm", StringComparison.Ordinal) && shape.Count(d => d != 1) <= 1))
                return (0.85, 0.35);
            long fanIn = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            return (0.0, Math.Sqrt((shape.Length >= 3 ? 6.0 : 3.0) / fanIn));
        }
        return (0.0, 0.5);
    }

    /// <summary>Whether the entry is an int64 one (num_batches_tracked, IFDD's index buffers).</summary>
    internal static bool IsInteger(string name) => IntegerValues(name, 0) is not null;

    /// <summary>All values of one state-dict entry (int64 entries as whole floats).</summary>
    internal static float[] Tensor(ulong seed, string name, long[] shape, double gain = 1.0)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (IntegerValues(name, n) is { } ints) return ints;
        var (offset, scale) = Rule(name, shape);
        scale *= gain;
        ulong b0 = Base(seed, name);
        var data = new float[n];
        for (long i = 0; i < n; i++)
        {
            double u = (Mix(b0 + Gamma * (ulong)(i + 1)) >> 40) / 8388608.0 - 1.0;
            data[i] = (float)(offset + scale * u);
        }
        return data;
    }

    /// <summary>A model's generated state dict, in the order of <paramref name="keys"/>.</summary>
    internal static StateDict StateDict(ulong seed, IReadOnlyList<(string Name, long[] Shape)> keys,
        IReadOnlyDictionary<string, double> gains)
    {
        var sd = new StateDict($"golden weights ({Version}, seed {seed})");
        foreach (var (name, shape) in keys)
            sd.Add(name, IsInteger(name) ? DType.I64 : DType.F32, shape,
                Tensor(seed, name, shape, gains.GetValueOrDefault(name, 1.0)));
        return sd;
    }

    /// <summary>
    /// The clips, <c>[batch, frames, 3, size, size]</c>: clip 0 uniform noise in [0, 1), clip 1 a quarter of
    /// its noise over a channel-scaled ramp.
    /// </summary>
    internal static float[] Clips(ulong seed, int batch, int frames, int size)
    {
        ulong b0 = Base(seed, "clips");
        int clip = frames * 3 * size * size;
        var data = new float[(long)batch * clip];
        for (long i = 0; i < data.Length; i++)
        {
            double noise = (Mix(b0 + Gamma * (ulong)(i + 1)) >> 40) / 16777216.0;
            if (i < clip || i >= 2L * clip)
            {
                data[i] = (float)noise;
                continue;
            }
            long r = i - clip;
            int x = (int)(r % size), y = (int)(r / size % size), c = (int)(r / ((long)size * size) % 3);
            int t = (int)(r / (3L * size * size));
            double ramp = (x + y + 3 * c + 5 * t) % 64 / 64.0 * ((c + 1) / 4.0);
            data[i] = (float)(0.25 * noise + 0.75 * ramp);
        }
        return data;
    }

    /// <summary>
    /// <c>digest()</c> of make_golden.py: Σ mix(bits + (i+1)·γ) mod 2⁶⁴ over the float32 bit patterns (the
    /// int64 values for an integer tensor).
    /// </summary>
    internal static ulong Digest(float[] data, bool int64 = false)
    {
        ulong sum = 0;
        for (long i = 0; i < data.Length; i++)
        {
            ulong bits = int64 ? (ulong)(long)data[i] : BitConverter.SingleToUInt32Bits(data[i]);
            sum += Mix(bits + Gamma * (ulong)(i + 1));
        }
        return sum;
    }

    /// <summary>Σ over entries of mix(fnv(name) ^ digest): independent of the entries' order.</summary>
    internal static ulong Digest(StateDict sd)
    {
        ulong sum = 0;
        foreach (var name in sd.Names)
            sum += Mix(Fnv(name) ^ Digest(sd[name].Data, sd[name].DType == DType.I64));
        return sum;
    }
}
