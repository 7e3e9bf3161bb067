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

/// <summary>A dict (or OrderedDict) in insertion order; a repeated key keeps its first position, as in
/// Python.</summary>
/// <param name="keys">The key table of the pickle the dict belongs to.</param>
internal sealed class PyDict(PyKeys keys)
{
    private readonly List<object> _keys = [];
    private readonly List<object> _values = [];
    private readonly Dictionary<int, int> _index = [];

    internal int Count => _keys.Count;

    internal IEnumerable<KeyValuePair<object, object>> Items
    {
        get
        {
            for (int i = 0; i < _keys.Count; i++) yield return new(_keys[i], _values[i]);
        }
    }

    internal IEnumerable<object> Keys => _keys;

    /// <returns>false when the key cannot be a dict key (a list, dict or set, or a tuple holding one).</returns>
    internal bool Set(object key, object value)
    {
        int id = keys.IdOf(key);
        if (id < 0) return false;
        if (_index.TryGetValue(id, out int i))
        {
            _values[i] = value;
            return true;
        }
        _index.Add(id, _keys.Count);
        _keys.Add(key);
        _values.Add(value);
        return true;
    }

    internal bool TryGet(string key, out object value)
    {
        if (keys.TryFind(key, out int id) && _index.TryGetValue(id, out int i))
        {
            value = _values[i];
            return true;
        }
        value = PyNone.Instance;
        return false;
    }
}

/// <summary>
/// Python's key equality for one pickle by hash-consing: every value used as a dict key gets a
/// small integer id, equal ids exactly for equal keys (strings, bytes, numbers with 1 == 1.0 ==
/// True, tuples of those; anything else by identity, as Python hashes it), and dicts index by id.
/// </summary>
/// <remarks>
/// Why ids and not a structural comparer: with the memo, a pickle of a few hundred bytes can build
/// a tuple nested 60 deep whose every level holds the level below twice, so walking it (to hash or
/// compare) visits 2^60 nodes, and keys can be made to hash alike so that a dict of thousands of
/// them compares every pair. Here each distinct object is given its id once (remembered by
/// reference), a tuple's id is found from its items' ids, and the canonical text behind an id is
/// hashed by .NET's per-process randomised string hashing, which a file cannot aim collisions
/// at. The work is linear in what the pickle built, and it is charged to the pickle's budget.
/// Nested tuples are resolved with an explicit stack, so depth costs heap, not the call stack.
/// </remarks>
internal sealed class PyKeys(Action<long> charge)
{
    /// <summary>Ids already given, by object identity (boxed numbers included).</summary>
    private readonly Dictionary<object, int> _ids = new(ReferenceEqualityComparer.Instance);
    /// <summary>Ids of strings, by value.</summary>
    private readonly Dictionary<string, int> _strings = new(StringComparer.Ordinal);
    /// <summary>Ids of every other value, by a canonical text ("i5", "f...", "b...", "t3,7").</summary>
    private readonly Dictionary<string, int> _canonical = new(StringComparer.Ordinal);
    private int _next;

    /// <summary>The key's id, or -1 when it is unhashable.</summary>
    internal int IdOf(object key)
    {
        if (_ids.TryGetValue(key, out int known)) return known;
        if (key is not PyTuple root) return Remember(key, ScalarId(key));

        // Post-order over the tuples not yet given an id.
        var work = new Stack<(PyTuple Tuple, int Next)>();
        work.Push((root, 0));
        while (work.Count > 0)
        {
            var (t, next) = work.Pop();
            bool descended = false;
            for (int i = next; i < t.Items.Length; i++)
            {
                if (t.Items[i] is PyTuple child && !_ids.ContainsKey(child))
                {
                    work.Push((t, i + 1));
                    work.Push((child, 0));
                    descended = true;
                    break;
                }
            }
            if (descended) continue;
            var text = new System.Text.StringBuilder(2 + 8 * t.Items.Length).Append('t');
            bool hashable = true;
            foreach (object item in t.Items)
            {
                int itemId = _ids.TryGetValue(item, out int k) ? k : Remember(item, ScalarId(item));
                if (itemId < 0) { hashable = false; break; }
                text.Append(itemId).Append(',');
            }
            Remember(t, hashable ? Intern(_canonical, text.ToString()) : -1);
        }
        return _ids[root];
    }

    /// <summary>The id of a string key, if any dict of this pickle has used one equal to it.</summary>
    internal bool TryFind(string key, out int id) => _strings.TryGetValue(key, out id);

    private int Remember(object key, int id)
    {
        charge(48);
        _ids[key] = id;
        return id;
    }

    private int Intern(Dictionary<string, int> table, string text)
    {
        if (table.TryGetValue(text, out int id)) return id;
        charge(64 + 2L * text.Length);
        id = _next++;
        table.Add(text, id);
        return id;
    }

    private int Fresh()
    {
        charge(8);
        return _next++;
    }

    private int ScalarId(object o)
    {
        switch (o)
        {
            case string s: return Intern(_strings, s);
            case byte[] b: return Intern(_canonical, "b" + Convert.ToHexString(b));
            case bool b: return Intern(_canonical, b ? "i1" : "i0");
            case long l: return Intern(_canonical, "i" + l.ToString(System.Globalization.CultureInfo.InvariantCulture));
            case BigInteger big when big >= long.MinValue && big <= long.MaxValue:
                return Intern(_canonical, "i"
                    + ((long)big).ToString(System.Globalization.CultureInfo.InvariantCulture));
            case BigInteger big: return Intern(_canonical, "I" + Convert.ToHexString(big.ToByteArray()));
            case double d when double.IsNaN(d): return Fresh(); // NaN equals nothing, not even itself
            case double d when double.IsFinite(d) && d == Math.Floor(d):
                if (d >= -9.2233720368547758E18 && d < 9.2233720368547758E18)
                    return Intern(_canonical, "i"
                        + ((long)d).ToString(System.Globalization.CultureInfo.InvariantCulture));
                return Intern(_canonical, "I" + Convert.ToHexString(new BigInteger(d).ToByteArray()));
            case double d:
                return Intern(_canonical, "f"
                + BitConverter.DoubleToInt64Bits(d).ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
            case PyList or PyDict or PySet: return -1; // unhashable, as in Python
            default: return Fresh(); // None, globals, inert objects, storages, tensors: by identity
        }
    }
}

/// <summary>
/// The memory one file's pickles may use, in estimated bytes of what they build: objects and
/// container items (charged when made, never refunded: a pickle that builds and drops objects
/// still made the garbage collector work for them) plus the stack slots in use now.
/// </summary>
internal sealed class PickleBudget
{
    private PickleBudget(long limit, long fileLength)
    {
        Limit = limit;
        FileLength = fileLength;
    }

    /// <summary>The budget for a file of <paramref name="fileLength"/> bytes (see
    /// <see cref="CheckpointLimits"/>).</summary>
    internal static PickleBudget ForFile(long fileLength)
    {
        long perFile = fileLength > (CheckpointLimits.MaxPickleHeapBytes / CheckpointLimits.PickleHeapBytesPerFileByte)
            ? CheckpointLimits.MaxPickleHeapBytes
            : fileLength * CheckpointLimits.PickleHeapBytesPerFileByte + CheckpointLimits.PickleHeapAllowanceBytes;
        return new PickleBudget(Math.Min(perFile, CheckpointLimits.MaxPickleHeapBytes), fileLength);
    }

    internal long Limit { get; }
    internal long FileLength { get; }
    internal long Used { get; private set; }

    internal void Charge(long bytes, PickleInput input)
    {
        Used += bytes;
        if (Used > Limit)
            throw input.Fail(
                $"needs more than {Limit} bytes of memory to unpickle, the budget for a file of {FileLength} bytes; "
                + "refusing (a pickle that amplifies a small file)");
    }

    internal void Release(long bytes) => Used -= bytes;
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
