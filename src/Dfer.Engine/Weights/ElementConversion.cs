using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Dfer.Weights;

/// <summary>
/// Converts raw little-endian element bytes, as stored in weight files, into the float32 and
/// int64 arrays the engine computes with. Widening (F16, BF16, I32, U8) is exact.
/// </summary>
/// <remarks>
/// Source bytes need not be aligned: safetensors only guarantees alignment when the writer chose
/// to pad, and <see cref="MemoryMarshal.Cast{TFrom, TTo}(ReadOnlySpan{TFrom})"/> reads unaligned
/// elements correctly on every platform .NET runs on.
/// </remarks>
internal static class ElementConversion
{
    internal static void CopyFloat32(ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckLengths(src, dst.Length, sizeof(float));
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
            return;
        }
        for (int i = 0; i < dst.Length; i++)
            dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(i * 4)..]);
    }

    internal static void WidenFloat16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckLengths(src, dst.Length, 2);
        if (BitConverter.IsLittleEndian)
        {
            ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(src);
            for (int i = 0; i < dst.Length; i++) dst[i] = (float)halves[i];
            return;
        }
        for (int i = 0; i < dst.Length; i++)
            dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(i * 2)..]);
    }

    /// <summary>
    /// bfloat16 is the top half of a float32, so shifting its bits into place is the exact
    /// widening, NaN payloads and signed zeros included.
    /// </summary>
    internal static void WidenBFloat16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckLengths(src, dst.Length, 2);
        if (BitConverter.IsLittleEndian)
        {
            ReadOnlySpan<ushort> bits = MemoryMarshal.Cast<byte, ushort>(src);
            for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
            return;
        }
        for (int i = 0; i < dst.Length; i++)
            dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(i * 2)..]) << 16);
    }

    /// <summary>Rounds to nearest float32; values beyond its range become infinities.</summary>
    internal static void NarrowFloat64(ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckLengths(src, dst.Length, sizeof(double));
        if (BitConverter.IsLittleEndian)
        {
            ReadOnlySpan<double> doubles = MemoryMarshal.Cast<byte, double>(src);
            for (int i = 0; i < dst.Length; i++) dst[i] = (float)doubles[i];
            return;
        }
        for (int i = 0; i < dst.Length; i++)
            dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(i * 8)..]);
    }

    internal static void CopyInt64(ReadOnlySpan<byte> src, Span<long> dst)
    {
        CheckLengths(src, dst.Length, sizeof(long));
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, long>(src).CopyTo(dst);
            return;
        }
        for (int i = 0; i < dst.Length; i++)
            dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(i * 8)..]);
    }

    internal static void WidenInt32(ReadOnlySpan<byte> src, Span<long> dst)
    {
        CheckLengths(src, dst.Length, sizeof(int));
        if (BitConverter.IsLittleEndian)
        {
            ReadOnlySpan<int> ints = MemoryMarshal.Cast<byte, int>(src);
            for (int i = 0; i < dst.Length; i++) dst[i] = ints[i];
            return;
        }
        for (int i = 0; i < dst.Length; i++)
            dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(i * 4)..]);
    }

    internal static void WidenUInt8(ReadOnlySpan<byte> src, Span<long> dst)
    {
        CheckLengths(src, dst.Length, 1);
        for (int i = 0; i < dst.Length; i++) dst[i] = src[i];
    }

    private static void CheckLengths(ReadOnlySpan<byte> src, int count, int elementSize)
    {
        // Callers derive both lengths from a validated header; a mismatch is a bug in Dfer.
        if ((long)count * elementSize != src.Length)
            throw new ArgumentException(
                $"{src.Length} source bytes do not hold {count} elements of {elementSize} bytes");
    }
}
