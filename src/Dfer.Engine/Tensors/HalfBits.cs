namespace Dfer.Tensors;

/// <summary>Float ↔ 16-bit conversions on the host, bit-exact with the GPU's cvt.rn (round to nearest
/// even).</summary>
public static class HalfBits
{
    /// <summary>bfloat16 bits of <paramref name="v"/>, rounded to nearest even; NaN stays a (quiet) NaN.</summary>
    public static ushort ToBf16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((bits >> 16) | 0x0040u);
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    public static float FromBf16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>IEEE half bits of <paramref name="v"/>, rounded to nearest even (subnormals kept, overflow to
    /// infinity).</summary>
    public static ushort ToF16(float v) => BitConverter.HalfToUInt16Bits((Half)v);

    public static float FromF16(ushort b) => (float)BitConverter.UInt16BitsToHalf(b);

    /// <summary>Converts <paramref name="src"/> to 16-bit storage: bfloat16 when <paramref name="bf16"/>, else IEEE
    /// half.</summary>
    public static ushort[] Narrow(ReadOnlySpan<float> src, bool bf16)
    {
        var dst = new ushort[src.Length];
        for (int i = 0; i < src.Length; i++) dst[i] = bf16 ? ToBf16(src[i]) : ToF16(src[i]);
        return dst;
    }

    /// <summary>Rounds every value to the nearest bfloat16 (or half) and back: what a 16-bit kernel sees.</summary>
    public static float[] Round(ReadOnlySpan<float> src, bool bf16)
    {
        var dst = new float[src.Length];
        for (int i = 0; i < src.Length; i++) dst[i] = bf16 ? FromBf16(ToBf16(src[i])) : FromF16(ToF16(src[i]));
        return dst;
    }
}
