using System.Buffers;
using System.Runtime.CompilerServices;

namespace Dfer.Cli.Serve;

/// <summary>
/// The server's pool of request buffers (docs/serving.md, "What bounds memory"): it keeps at most
/// <c>maxArrays</c> arrays and <c>maxBytes</c> bytes, rents out the smallest kept array that holds the request but
/// is no more than twice its size, and otherwise allocates exactly the size asked for; an array given back beyond
/// the bounds is left to the GC.
/// <para>Not <see cref="ArrayPool{T}.Create(int, int)"/>'s pool: that one rounds every size up to a power of two (a
/// 2.3 MiB clip takes a 4 MiB array) and, when a size's arrays are all rented, allocates arrays of the next size up,
/// which it then keeps too: after one burst it held twice its count in arrays, half of them 8 MiB, for good.</para>
/// </summary>
internal sealed class BoundedArrayPool<T> : ArrayPool<T>
{
    private readonly List<T[]> _kept = [];
    private readonly int _maxArrays;
    private readonly long _maxBytes;
    private long _bytes;

    public BoundedArrayPool(int maxArrays, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxArrays);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        _maxArrays = maxArrays;
        _maxBytes = maxBytes;
    }

    /// <summary>The arrays kept now.</summary>
    public int Count
    {
        get { lock (_kept) return _kept.Count; }
    }

    /// <summary>The bytes the kept arrays hold.</summary>
    public long Bytes
    {
        get { lock (_kept) return _bytes; }
    }

    public override T[] Rent(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);
        if (minimumLength == 0) return [];
        lock (_kept)
        {
            int best = -1;
            for (int i = 0; i < _kept.Count; i++)
            {
                int length = _kept[i].Length;
                if (length >= minimumLength && length / 2 <= minimumLength
                    && (best < 0 || length < _kept[best].Length)) best = i;
            }
            if (best >= 0)
            {
                T[] array = _kept[best];
                _kept[best] = _kept[^1];
                _kept.RemoveAt(_kept.Count - 1);
                _bytes -= SizeOf(array);
                return array;
            }
        }
        return GC.AllocateUninitializedArray<T>(minimumLength);
    }

    public override void Return(T[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length == 0) return;
        if (clearArray || RuntimeHelpers.IsReferenceOrContainsReferences<T>()) Array.Clear(array);
        lock (_kept)
        {
            if (_kept.Count >= _maxArrays || _bytes + SizeOf(array) > _maxBytes) return;
            _kept.Add(array);
            _bytes += SizeOf(array);
        }
    }

    private static long SizeOf(T[] array) => (long)array.Length * Unsafe.SizeOf<T>();
}
