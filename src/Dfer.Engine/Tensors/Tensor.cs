using System.Runtime.CompilerServices;
using System.Text;

namespace Dfer.Tensors;

/// <summary>
/// A float32 view: shape and element strides over a <see cref="NativeBuffer"/> starting at
/// <see cref="Offset"/>. Several views may share one buffer (a reshape, a slice, the interior of a
/// zero-padded activation whose border - the "halo" - convolutions read instead of branching).
/// </summary>
public sealed unsafe class Tensor
{
    public Tensor(NativeBuffer storage, long offset, int[] shape, long[] strides, int[]? halo = null)
    {
        Halo = halo;
        if (shape.Length != strides.Length) throw new ArgumentException("shape and strides differ in rank");
        Storage = storage;
        Offset = offset;
        Shape = shape;
        Strides = strides;
        long lo = offset, hi = offset;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0) throw new ArgumentException($"negative dimension in {FormatShape(shape)}");
            if (shape[i] == 0) { lo = hi = offset; break; }
            long span = (shape[i] - 1) * strides[i];
            if (span < 0) lo += span; else hi += span;
        }
        if (ElementCountOf(shape) > 0 && (lo < 0 || (hi + 1) * sizeof(float) > storage.Bytes))
            throw new ArgumentException($"view {FormatShape(shape)} at offset {offset} reaches outside its buffer");
    }

    public NativeBuffer Storage { get; }
    public long Offset { get; }
    public int[] Shape { get; }
    public long[] Strides { get; }
    public int Rank => Shape.Length;

    /// <summary>
    /// Width of the zero border that is guaranteed around the view in each dimension (readable,
    /// always zero), or null when there is none.
    /// </summary>
    public int[]? Halo { get; }
    public DType DType => DType.F32;
    public long ElementCount => ElementCountOf(Shape);

    /// <summary>Pointer to element [0, 0, ...].</summary>
    public float* Data => (float*)Storage.Pointer + Offset;

    public bool IsContiguous
    {
        get
        {
            long expect = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (Shape[i] != 1 && Strides[i] != expect) return false;
                expect *= Shape[i];
            }
            return true;
        }
    }

    /// <summary>A dense, zeroed tensor in its own buffer.</summary>
    public static Tensor Zeros(params int[] shape)
    {
        var buf = new NativeBuffer(ElementCountOf(shape) * sizeof(float));
        return new Tensor(buf, 0, (int[])shape.Clone(), ContiguousStrides(shape));
    }

    /// <summary>A dense tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, params int[] shape)
    {
        if (data.Length != ElementCountOf(shape))
            throw new ArgumentException($"{data.Length} values do not fill shape {FormatShape(shape)}");
        var t = Zeros(shape);
        data.CopyTo(t.AsSpan());
        return t;
    }

    /// <summary>
    /// A dense tensor of <paramref name="shape"/> surrounded by a zero border of
    /// <paramref name="halo"/>[i] elements on both sides of dimension i; returns the interior view.
    /// </summary>
    public static Tensor ZerosWithHalo(int[] shape, int[] halo)
    {
        var padded = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++) padded[i] = shape[i] + 2 * halo[i];
        var strides = ContiguousStrides(padded);
        long offset = 0;
        for (int i = 0; i < shape.Length; i++) offset += halo[i] * strides[i];
        var buf = new NativeBuffer(ElementCountOf(padded) * sizeof(float));
        return new Tensor(buf, offset, (int[])shape.Clone(), strides, (int[])halo.Clone());
    }

    /// <summary>The elements of a contiguous tensor as a span.</summary>
    public Span<float> AsSpan()
    {
        if (!IsContiguous) throw new InvalidOperationException($"tensor {FormatShape(Shape)} is not contiguous");
        return new Span<float>(Data, checked((int)ElementCount));
    }

    /// <summary>Same elements, another shape (contiguous tensors only; no copy).</summary>
    public Tensor Reshape(params int[] shape)
    {
        if (ElementCountOf(shape) != ElementCount)
            throw new ArgumentException($"cannot reshape {FormatShape(Shape)} to {FormatShape(shape)}");
        if (!IsContiguous) throw new InvalidOperationException($"cannot reshape non-contiguous {FormatShape(Shape)}");
        return new Tensor(Storage, Offset, (int[])shape.Clone(), ContiguousStrides(shape));
    }

    /// <summary>Copies the elements, in row-major order of the view, into a new array.</summary>
    public float[] ToArray()
    {
        var result = new float[ElementCount];
        if (IsContiguous) { new Span<float>(Data, result.Length).CopyTo(result); return result; }
        var offsets = new ElementOffsets(this);
        for (long i = 0; i < result.Length; i++) result[i] = Data[offsets.Next()];
        return result;
    }

    /// <summary>Writes row-major <paramref name="values"/> into the view's elements.</summary>
    public void CopyFrom(ReadOnlySpan<float> values)
    {
        if (values.Length != ElementCount) throw new ArgumentException("element count mismatch");
        if (IsContiguous) { values.CopyTo(AsSpan()); return; }
        var offsets = new ElementOffsets(this);
        for (int i = 0; i < values.Length; i++) Data[offsets.Next()] = values[i];
    }

    /// <summary>Offsets (from <see cref="Data"/>) of a view's elements in row-major order.</summary>
    private struct ElementOffsets(Tensor t)
    {
        private readonly int[] _idx = new int[t.Rank];

        public long Next()
        {
            long off = 0;
            for (int d = 0; d < t.Rank; d++) off += _idx[d] * t.Strides[d];
            for (int d = t.Rank - 1; d >= 0; d--)
            {
                if (++_idx[d] < t.Shape[d]) break;
                _idx[d] = 0;
            }
            return off;
        }
    }

    public override string ToString() => $"Tensor{FormatShape(Shape)}";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ElementCountOf(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }

    public static long[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    public static string FormatShape(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++) { if (i > 0) sb.Append(", "); sb.Append(shape[i]); }
        return sb.Append(']').ToString();
    }
}
