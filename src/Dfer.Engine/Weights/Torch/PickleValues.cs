using System.Numerics;
using Dfer.Tensors;

namespace Dfer.Weights;

// The objects the restricted unpickler builds. Python's scalars map to C# ones (long or
// BigInteger for int, double, bool, string, byte[] for bytes and bytearray); None is PyNone so
// that no stack slot is ever a C# null. Nothing here has behaviour a pickle could trigger.

internal sealed class PyNone
{
    internal static readonly PyNone Instance = new();
    private PyNone() { }
}

internal sealed class PyTuple(object[] items)
{
    internal object[] Items { get; } = items;
}

internal sealed class PyList
{
    internal List<object> Items { get; } = [];
}

internal sealed class PySet
{
    internal List<object> Items { get; } = [];
}

/// <summary>A dict (or OrderedDict) in insertion order; a repeated key keeps its first position, as in Python.</summary>
internal sealed class PyDict
{
    private readonly List<object> _keys = [];
    private readonly List<object> _values = [];
    private readonly Dictionary<object, int> _index = new(PyKeyComparer.Instance);

    internal int Count => _keys.Count;

    internal IEnumerable<KeyValuePair<object, object>> Items
    {
        get
        {
            for (int i = 0; i < _keys.Count; i++) yield return new(_keys[i], _values[i]);
        }
    }

    internal IEnumerable<object> Keys => _keys;

    /// <returns>false when the key cannot be a dict key (a list, dict or set).</returns>
    internal bool Set(object key, object value)
    {
        if (key is PyList or PyDict or PySet) return false;
        if (_index.TryGetValue(key, out int i))
        {
            _values[i] = value;
            return true;
        }
        _index.Add(key, _keys.Count);
        _keys.Add(key);
        _values.Add(value);
        return true;
    }

    internal bool TryGet(string key, out object value)
    {
        if (_index.TryGetValue(key, out int i))
        {
            value = _values[i];
            return true;
        }
        value = PyNone.Instance;
        return false;
    }
}

/// <summary>
/// Python's equality for the keys a checkpoint uses: strings, numbers (1 == 1.0 == True), bytes
/// and tuples of those. Tuples are compared with an explicit work list because their nesting
/// depth is the file's choice; everything else compares by reference.
/// </summary>
internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    internal static readonly PyKeyComparer Instance = new();

    public new bool Equals(object? x, object? y)
    {
        var work = new Stack<(object, object)>();
        work.Push((x!, y!));
        while (work.Count > 0)
        {
            var (a, b) = work.Pop();
            if (a is PyTuple ta && b is PyTuple tb)
            {
                if (ta.Items.Length != tb.Items.Length) return false;
                for (int i = 0; i < ta.Items.Length; i++) work.Push((ta.Items[i], tb.Items[i]));
                continue;
            }
            if (!ScalarEquals(a, b)) return false;
        }
        return true;
    }

    public int GetHashCode(object obj)
    {
        if (obj is PyTuple t)
        {
            // Only the top level, so that hashing stays flat however deep the tuple nests.
            var h = new HashCode();
            h.Add(t.Items.Length);
            foreach (object item in t.Items)
                if (item is not PyTuple) h.Add(ScalarHash(item));
            return h.ToHashCode();
        }
        return ScalarHash(obj);
    }

    private static bool ScalarEquals(object a, object b)
    {
        if (a is string sa) return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
        if (a is byte[] ba) return b is byte[] bb && ba.AsSpan().SequenceEqual(bb);
        if (Number(a) is { } na) return Number(b) is { } nb && na == nb;
        return ReferenceEquals(a, b);
    }

    private static int ScalarHash(object a)
    {
        if (a is string s) return StringComparer.Ordinal.GetHashCode(s);
        if (a is byte[] bytes)
        {
            var h = new HashCode();
            h.AddBytes(bytes);
            return h.ToHashCode();
        }
        if (Number(a) is { } n) return n.GetHashCode();
        return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(a);
    }

    /// <summary>A number as a double, or as a long when it is integral, so that equal values hash alike.</summary>
    private static Numeric? Number(object a) => a switch
    {
        bool b => new Numeric(b ? 1 : 0, null),
        long l => new Numeric(l, null),
        BigInteger big => new Numeric(0, big),
        double d when d == Math.Floor(d) && d >= long.MinValue && d < 9.2233720368547758E18 => new Numeric((long)d, null),
        double d => new Numeric(0, null, d),
        _ => null,
    };

    private readonly record struct Numeric(long Integer, BigInteger? Big, double? Fraction = null);
}

/// <summary>A module-level name the pickle referred to, resolved through the fixed table.</summary>
internal sealed class PyGlobal(string name, GlobalKind kind, DType? storageDType = null)
{
    /// <summary>"module.name", as written in the file.</summary>
    internal string Name { get; } = name;
    internal GlobalKind Kind { get; } = kind;
    /// <summary>For storage types: the element type of the storage.</summary>
    internal DType? StorageDType { get; } = storageDType;
}

/// <summary>
/// A stand-in for an object of a class Dfer does not rebuild (argparse.Namespace, numpy
/// scalars, ...): it records the class name only, and any state handed to it is dropped.
/// </summary>
internal sealed class PyInert(string name)
{
    internal string Name { get; } = name;
}

/// <summary>A tensor storage named by a persistent id: where its bytes are and how many elements it holds.</summary>
internal sealed class StorageRef(string key, DType dtype, int elementSize, long numel, string typeName)
{
    /// <summary>The record name (zip: data/&lt;key&gt;; legacy: the key in the storage list).</summary>
    internal string Key { get; } = key;
    /// <summary>The element type of the RawTensor built on it (int8 and int16 widen to I32).</summary>
    internal DType DType { get; } = dtype;
    /// <summary>Bytes per element as stored.</summary>
    internal int ElementSize { get; } = elementSize;
    internal long Numel { get; } = numel;
    /// <summary>The storage class, e.g. "torch.FloatStorage", for messages.</summary>
    internal string TypeName { get; } = typeName;
    /// <summary>Legacy storage views: offset, in elements, into the root storage <see cref="Key"/>.</summary>
    internal long ViewOffset { get; init; }
}

/// <summary>A tensor as rebuilt by _rebuild_tensor_v2: a strided view of a storage, not yet validated.</summary>
internal sealed class TensorRef(StorageRef storage, long offset, long[] size, long[] stride)
{
    internal StorageRef Storage { get; } = storage;
    internal long Offset { get; } = offset;
    internal long[] Size { get; } = size;
    internal long[] Stride { get; } = stride;
}

internal enum GlobalKind
{
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    TorchSize,
    CodecsEncode,
    Bytes,
    StorageType,
    /// <summary>A value or class with no behaviour: calling it yields a <see cref="PyInert"/>.</summary>
    Inert,
}
