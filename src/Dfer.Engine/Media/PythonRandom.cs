namespace Dfer.Media;

/// <summary>
/// CPython's <c>random.Random</c> for the two calls M3DFEL's loader makes: <c>random.seed(int)</c>
/// and <c>random.random()</c>, so that a jittered clip picks the same frames as the official code.
/// </summary>
/// <remarks>
/// The generator is MT19937. <c>seed(n)</c> splits |n| into 32-bit words, least significant first
/// (one word 0 for n = 0), and feeds them to the reference <c>init_by_array</c>.
/// <c>random()</c> is <c>(a·2²⁶ + b) / 2⁵³</c> with <c>a = next() &gt;&gt; 5</c>, <c>b = next() &gt;&gt; 6</c>.
/// </remarks>
internal sealed class PythonRandom
{
    private const int N = 624;
    private const int M = 397;
    private const uint MatrixA = 0x9908b0dfu;
    private const uint UpperMask = 0x80000000u;
    private const uint LowerMask = 0x7fffffffu;

    private readonly uint[] _mt = new uint[N];
    private int _index;

    /// <summary>The state of <c>random.seed(seed)</c>.</summary>
    public PythonRandom(long seed)
    {
        // |long.MinValue| does not fit a long; as a ulong it does.
        ulong magnitude = seed < 0 ? (ulong)(-(seed + 1)) + 1 : (ulong)seed;
        uint[] key = (magnitude >> 32) != 0
            ? [(uint)magnitude, (uint)(magnitude >> 32)]
            : [(uint)magnitude];
        InitByArray(key);
    }

    /// <summary><c>random.random()</c>: a double in [0, 1) with 53 random bits.</summary>
    public double NextDouble()
    {
        uint a = NextUInt32() >> 5;
        uint b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    /// <summary>The next tempered 32-bit output of MT19937.</summary>
    public uint NextUInt32()
    {
        if (_index >= N) Twist();
        uint y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    private void InitGenrand(uint s)
    {
        _mt[0] = s;
        for (int i = 1; i < N; i++)
        {
            _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
        }
        _index = N;
    }

    private void InitByArray(uint[] key)
    {
        InitGenrand(19650218u);
        int i = 1, j = 0;
        for (int k = Math.Max(N, key.Length); k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint)j;
            i++;
            j++;
            if (i >= N) { _mt[0] = _mt[N - 1]; i = 1; }
            if (j >= key.Length) j = 0;
        }
        for (int k = N - 1; k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1566083941u)) - (uint)i;
            i++;
            if (i >= N) { _mt[0] = _mt[N - 1]; i = 1; }
        }
        _mt[0] = 0x80000000u; // assures a non-zero initial state
        _index = N;
    }

    private void Twist()
    {
        int kk = 0;
        uint y;
        for (; kk < N - M; kk++)
        {
            y = (_mt[kk] & UpperMask) | (_mt[kk + 1] & LowerMask);
            _mt[kk] = _mt[kk + M] ^ (y >> 1) ^ ((y & 1) * MatrixA);
        }
        for (; kk < N - 1; kk++)
        {
            y = (_mt[kk] & UpperMask) | (_mt[kk + 1] & LowerMask);
            _mt[kk] = _mt[kk + (M - N)] ^ (y >> 1) ^ ((y & 1) * MatrixA);
        }
        y = (_mt[N - 1] & UpperMask) | (_mt[0] & LowerMask);
        _mt[N - 1] = _mt[M - 1] ^ (y >> 1) ^ ((y & 1) * MatrixA);
        _index = 0;
    }
}
