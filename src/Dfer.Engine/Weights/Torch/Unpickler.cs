using System.Globalization;
using System.Numerics;
using System.Text;

namespace Dfer.Weights;

/// <summary>
/// A restricted unpickler for protocols 0–5: it runs the pickle machine over plain C# values and
/// resolves globals only through <see cref="TorchGlobals"/>, so a checkpoint can describe
/// containers and tensors but can never make anything run. It is a loop over opcodes with an
/// explicit stack, so hostile nesting costs heap, not the call stack, and everything it builds is
/// charged to a <see cref="PickleBudget"/>, so a small file cannot make it allocate gigabytes.
/// </summary>
internal sealed class Unpickler
{
    // Estimated bytes of what the machine builds (64-bit .NET: object header 16 bytes, references
    // 8, lists that double as they grow). Over-estimates, so that the budget bounds real memory.
    private const long SlotCost = 16;
    private const long MarkCost = 64;
    private const long MemoCost = 64;
    private const long BoxCost = 24;
    private const long TupleCost = 64;
    private const long ListCost = 64;
    private const long ItemCost = 16;
    private const long DictCost = 256;
    private const long DictItemCost = 96;
    private const long ObjectCost = 96;

    private readonly PickleInput _in;
    private readonly Func<object, PickleInput, object> _persistentLoad;
    private readonly Dictionary<long, object> _memo = [];
    private readonly PickleBudget _budget;
    private readonly PyKeys _keys;
    private readonly Stack<List<object>> _metastack = new();
    private List<object> _stack = [];
    private byte _opcode;

    /// <param name="input">Where the pickle starts.</param>
    /// <param name="persistentLoad">Turns a persistent id into an object (a storage), or throws.</param>
    /// <param name="budget">The memory budget, shared by all the pickles of one file; by default
    /// the budget of a file as long as the input.</param>
    internal Unpickler(PickleInput input, Func<object, PickleInput, object> persistentLoad, PickleBudget? budget = null)
    {
        _in = input;
        _persistentLoad = persistentLoad;
        _budget = budget ?? PickleBudget.ForFile(input.Length);
        _keys = new PyKeys(Charge);
    }

    /// <summary>Runs the pickle up to its STOP and returns the object it built.</summary>
    internal object Load()
    {
        while (true)
        {
            _opcode = _in.ReadByte();
            switch (_opcode)
            {
                case 0x80: // PROTO
                    {
                        byte proto = _in.ReadByte();
                        if (proto > 5)
                            throw Fail($"uses pickle protocol {proto}; the newest Dfer (and Python) reads is 5");
                        break;
                    }
                case 0x95: // FRAME: only a read-ahead hint
                    {
                        ulong length = _in.ReadUInt64();
                        if (length > (ulong)_in.Remaining)
                            throw Fail($"declares a frame of {length} bytes, but only {_in.Remaining} remain");
                        break;
                    }
                case (byte)'.': // STOP
                    if (_metastack.Count > 0) throw Fail("ends with a MARK still open (unbalanced MARK)");
                    if (_stack.Count != 1) throw Fail($"ends with {_stack.Count} objects on the stack instead of 1");
                    return _stack[0];
                case (byte)'(': // MARK
                    Charge(MarkCost);
                    _metastack.Push(_stack);
                    _stack = [];
                    break;
                case (byte)'0': // POP
                    if (_stack.Count > 0) Pop();
                    else PopMark();
                    break;
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP

                case (byte)'p': Memo(ParseDecimalLong(_in.ReadLine(CheckpointLimits.MaxTextLineBytes))); break; // PUT
                case (byte)'q': Memo(_in.ReadByte()); break; // BINPUT
                case (byte)'r': Memo(_in.ReadUInt32()); break; // LONG_BINPUT
                case 0x94: Memo(_memo.Count); break; // MEMOIZE
                case (byte)'g': // GET
                    Push(Recall(ParseDecimalLong(_in.ReadLine(CheckpointLimits.MaxTextLineBytes)))); break;
                case (byte)'h': Push(Recall(_in.ReadByte())); break; // BINGET
                case (byte)'j': Push(Recall(_in.ReadUInt32())); break; // LONG_BINGET

                case (byte)'N': Push(PyNone.Instance); break; // NONE
                case 0x88: PushNew(true, BoxCost); break; // NEWTRUE
                case 0x89: PushNew(false, BoxCost); break; // NEWFALSE
                case (byte)'I': // INT (protocol 0: also spells booleans)
                    {
                        string text = Ascii(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        if (text == "00") PushNew(false, BoxCost);
                        else if (text == "01") PushNew(true, BoxCost);
                        else PushNew(ParseDecimal(text));
                        break;
                    }
                case (byte)'J': PushNew((long)_in.ReadInt32(), BoxCost); break; // BININT
                case (byte)'K': PushNew((long)_in.ReadByte(), BoxCost); break; // BININT1
                case (byte)'M': PushNew((long)_in.ReadUInt16(), BoxCost); break; // BININT2
                case (byte)'L': // LONG
                    {
                        string text = Ascii(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        if (text.EndsWith('L')) text = text[..^1];
                        PushNew(ParseDecimal(text));
                        break;
                    }
                case 0x8a: PushNew(LittleEndianInt(_in.ReadBytes(_in.ReadByte(), "an integer"))); break; // LONG1
                case 0x8b: PushNew(LittleEndianInt(_in.ReadBytes(_in.ReadInt32(), "an integer"))); break; // LONG4
                case (byte)'G': PushNew(_in.ReadDoubleBigEndian(), BoxCost); break; // BINFLOAT
                case (byte)'F': // FLOAT
                    {
                        string text = Ascii(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                            throw Fail($"has a malformed FLOAT {SafeText.Quote(text, 40)}");
                        PushNew(d, BoxCost);
                        break;
                    }

                case (byte)'S': // STRING
                    PushNew(Utf8(EscapeDecode(_in.ReadLine(CheckpointLimits.MaxStringLineBytes)))); break;
                case (byte)'T': PushNew(Utf8(_in.ReadBytes(_in.ReadInt32(), "a string"))); break; // BINSTRING
                case (byte)'U': PushNew(Utf8(_in.ReadBytes(_in.ReadByte(), "a string"))); break; // SHORT_BINSTRING
                case (byte)'X': PushNew(Utf8(_in.ReadBytes(_in.ReadUInt32(), "a string"))); break; // BINUNICODE
                case 0x8c: PushNew(Utf8(_in.ReadBytes(_in.ReadByte(), "a string"))); break; // SHORT_BINUNICODE
                case 0x8d: PushNew(Utf8(_in.ReadBytes(Length64(), "a string"))); break; // BINUNICODE8
                case (byte)'V': // UNICODE
                    PushNew(RawUnicodeEscape(_in.ReadLine(CheckpointLimits.MaxStringLineBytes))); break;
                case (byte)'B': PushNew(_in.ReadBytes(_in.ReadUInt32(), "a bytes object")); break; // BINBYTES
                case (byte)'C': PushNew(_in.ReadBytes(_in.ReadByte(), "a bytes object")); break; // SHORT_BINBYTES
                case 0x8e: PushNew(_in.ReadBytes(Length64(), "a bytes object")); break; // BINBYTES8
                case 0x96: PushNew(_in.ReadBytes(Length64(), "a bytearray")); break; // BYTEARRAY8

                case (byte)']': PushNew(new PyList(), ListCost); break; // EMPTY_LIST
                case (byte)'a': // APPEND
                    {
                        object item = Pop();
                        Extend(Peek(), [item]);
                        break;
                    }
                case (byte)'e': // APPENDS
                    {
                        List<object> items = PopMark();
                        Extend(Peek(), items);
                        break;
                    }
                case (byte)'l': // LIST
                    {
                        var list = new PyList();
                        List<object> items = PopMark();
                        Charge(ListCost + ItemCost * items.Count);
                        list.Items.AddRange(items);
                        Push(list);
                        break;
                    }
                case (byte)')': PushNew(new PyTuple([])); break; // EMPTY_TUPLE
                case (byte)'t': PushNew(new PyTuple([.. PopMark()])); break; // TUPLE
                case 0x85: PushNew(new PyTuple([Pop()])); break; // TUPLE1
                case 0x86: // TUPLE2
                    {
                        object b = Pop(), a = Pop();
                        PushNew(new PyTuple([a, b]));
                        break;
                    }
                case 0x87: // TUPLE3
                    {
                        object c = Pop(), b = Pop(), a = Pop();
                        PushNew(new PyTuple([a, b, c]));
                        break;
                    }
                case (byte)'}': PushNew(new PyDict(_keys), DictCost); break; // EMPTY_DICT
                case (byte)'d': // DICT
                    {
                        List<object> items = PopMark();
                        Charge(DictCost);
                        var dict = new PyDict(_keys);
                        SetItems(dict, items);
                        Push(dict);
                        break;
                    }
                case (byte)'s': // SETITEM
                    {
                        object value = Pop(), key = Pop();
                        SetItems(Peek(), [key, value]);
                        break;
                    }
                case (byte)'u': // SETITEMS
                    {
                        List<object> items = PopMark();
                        SetItems(Peek(), items);
                        break;
                    }
                case 0x8f: PushNew(new PySet(), ListCost); break; // EMPTY_SET
                case 0x90: // ADDITEMS
                    {
                        List<object> items = PopMark();
                        object target = Peek();
                        Charge(ItemCost * items.Count);
                        if (target is PySet set) set.Items.AddRange(items);
                        else if (target is not PyInert) throw Fail($"adds set items to {Describe(target)}");
                        break;
                    }
                case 0x91: // FROZENSET
                    {
                        var set = new PySet();
                        List<object> items = PopMark();
                        Charge(ListCost + ItemCost * items.Count);
                        set.Items.AddRange(items);
                        Push(set);
                        break;
                    }

                case (byte)'c': // GLOBAL
                    {
                        string module = Utf8(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        string name = Utf8(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        PushNew(Resolve(module, name));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        object name = Pop(), module = Pop();
                        if (module is not string m || name is not string n)
                            throw Fail($"STACK_GLOBAL names {Describe(module)}.{Describe(name)}, not two strings");
                        PushNew(Resolve(m, n));
                        break;
                    }
                case (byte)'R': // REDUCE
                    {
                        object args = Pop(), callable = Pop();
                        PushNew(Call(callable, Args(args)));
                        break;
                    }
                case 0x81: // NEWOBJ: cls.__new__(cls, *args)
                    {
                        object args = Pop(), cls = Pop();
                        PushNew(Call(cls, Args(args)));
                        break;
                    }
                case 0x92: // NEWOBJ_EX: keyword arguments are ignored, as no class Dfer builds takes any
                    {
                        Pop();
                        object args = Pop(), cls = Pop();
                        PushNew(Call(cls, Args(args)));
                        break;
                    }
                case (byte)'o': // OBJ
                    {
                        List<object> items = PopMark();
                        if (items.Count == 0) throw Fail("has an OBJ without a class (stack underflow)");
                        PushNew(Call(items[0], items.GetRange(1, items.Count - 1).ToArray()));
                        break;
                    }
                case (byte)'i': // INST
                    {
                        string module = Utf8(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        string name = Utf8(_in.ReadLine(CheckpointLimits.MaxTextLineBytes));
                        PyGlobal cls = Resolve(module, name);
                        PushNew(Call(cls, [.. PopMark()]));
                        break;
                    }
                case (byte)'b': // BUILD: setting an object's state; Dfer keeps no state of the objects it builds
                    Pop();
                    Peek();
                    break;
                case (byte)'Q': PushNew(_persistentLoad(Pop(), _in), ObjectCost); break; // BINPERSID
                case (byte)'P': // PERSID
                    PushNew(_persistentLoad(Ascii(_in.ReadLine(CheckpointLimits.MaxTextLineBytes)), _in),
                        ObjectCost); break;

                default:
                    throw Fail($"uses pickle opcode {OpcodeName(_opcode)}, which a checkpoint has no use for and Dfer "
                        + "does not read");
            }
        }
    }

    private DferException Fail(string problem) => _in.Fail(problem);

    private void Charge(long bytes) => _budget.Charge(bytes, _in);

    /// <summary>Pushes an object already paid for (a memo recall, a DUP): only the slot costs.</summary>
    private void Push(object o)
    {
        Charge(SlotCost);
        _stack.Add(o);
    }

    /// <summary>Pushes an object just built, charging its estimated size.</summary>
    private void PushNew(object o, long cost)
    {
        Charge(cost);
        Push(o);
    }

    private void PushNew(object o) => PushNew(o, Cost(o));

    /// <summary>Estimated bytes of a value the machine has just built.</summary>
    private static long Cost(object o) => o switch
    {
        string s => 32 + 2L * s.Length,
        byte[] b => 32 + (long)b.Length,
        BigInteger big => 48 + big.GetByteCount(),
        PyTuple t => TupleCost + 8L * t.Items.Length,
        PyGlobal g => ObjectCost + 2L * g.Name.Length,
        PyDict => DictCost,
        PyList or PySet => ListCost,
        PyInert or TensorRef or StorageRef => ObjectCost,
        PyNone => 0,
        _ => BoxCost,
    };

    private object Pop()
    {
        if (_stack.Count == 0) throw Fail($"pops an empty stack at opcode {OpcodeName(_opcode)} (stack underflow)");
        object o = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        _budget.Release(SlotCost);
        return o;
    }

    private object Peek()
    {
        if (_stack.Count == 0) throw Fail($"reads an empty stack at opcode {OpcodeName(_opcode)} (stack underflow)");
        return _stack[^1];
    }

    private List<object> PopMark()
    {
        if (_metastack.Count == 0) throw Fail($"has opcode {OpcodeName(_opcode)} without a MARK (unbalanced stack)");
        List<object> items = _stack;
        _stack = _metastack.Pop();
        _budget.Release(SlotCost * items.Count);
        return items;
    }

    private void Memo(long index)
    {
        if (index < 0) throw Fail($"stores to memo slot {index}");
        object value = Peek();
        if (_memo.TryAdd(index, value)) Charge(MemoCost);
        else _memo[index] = value;
    }

    private object Recall(long index)
    {
        if (!_memo.TryGetValue(index, out object? o)) throw Fail($"reads memo slot {index}, which was never stored");
        return o;
    }

    private long Length64()
    {
        ulong n = _in.ReadUInt64();
        if (n > (ulong)_in.Remaining)
            throw Fail($"declares an object of {n} bytes, but only {_in.Remaining} remain; the file is truncated or "
                + "corrupt");
        return (long)n;
    }

    private PyGlobal Resolve(string module, string name) => TorchGlobals.Resolve(module, name, Fail);

    private object[] Args(object args) => args switch
    {
        PyTuple t => t.Items,
        _ => throw Fail($"calls with {Describe(args)} as the arguments instead of a tuple"),
    };

    private void Extend(object target, List<object> items)
    {
        Charge(ItemCost * items.Count);
        if (target is PyList list) list.Items.AddRange(items);
        else if (target is not PyInert) throw Fail($"appends to {Describe(target)}");
    }

    private void SetItems(object target, List<object> items)
    {
        if (items.Count % 2 != 0) throw Fail("has a dict with a key but no value");
        if (target is PyInert) return; // e.g. a defaultdict: its items are not kept
        if (target is not PyDict dict) throw Fail($"sets dict items on {Describe(target)}");
        Charge(DictItemCost * (items.Count / 2));
        for (int i = 0; i < items.Count; i += 2)
            if (!dict.Set(items[i], items[i + 1])) throw Fail($"uses {Describe(items[i])} as a dict key");
    }

    /// <summary>What calling a global does: the table's C# behaviour, never Python code.</summary>
    private object Call(object callable, object[] args)
    {
        if (callable is PyInert inert) return new PyInert(inert.Name);
        if (callable is not PyGlobal g) throw Fail($"calls {Describe(callable)}, which is not a class or function");
        switch (g.Kind)
        {
            case GlobalKind.Inert:
                return new PyInert(g.Name);
            case GlobalKind.OrderedDict:
                {
                    var dict = new PyDict(_keys);
                    if (args.Length == 0) return dict;
                    Charge(DictItemCost
                        * (args[0] is PyList pl ? pl.Items.Count : args[0] is PyTuple pt ? pt.Items.Length : 0));
                    if (args.Length == 1 && args[0] is PyList or PyTuple)
                    {
                        object[] pairs = args[0] is PyList l ? [.. l.Items] : ((PyTuple)args[0]).Items;
                        foreach (object pair in pairs)
                        {
                            if (pair is not PyTuple { Items.Length: 2 } kv)
                                throw Fail($"builds an OrderedDict from {Describe(pair)}, not a (key, value) pair");
                            if (!dict.Set(kv.Items[0], kv.Items[1]))
                                throw Fail($"uses {Describe(kv.Items[0])} as a dict key");
                        }
                        return dict;
                    }
                    throw Fail($"builds an OrderedDict from {args.Length} arguments");
                }
            case GlobalKind.RebuildTensorV2:
            case GlobalKind.RebuildTensor:
                {
                    int min = g.Kind == GlobalKind.RebuildTensor ? 4 : 6;
                    if (args.Length < min || args.Length > min + 1)
                        throw Fail($"calls {g.Name} with {args.Length} arguments");
                    if (args[0] is not StorageRef storage)
                        throw Fail($"calls {g.Name} on {Describe(args[0])} instead of a storage");
                    long offset = Integer(args[1], "storage offset");
                    Charge(ObjectCost);
                    return new TensorRef(storage, offset, IntTuple(args[2], "size"), IntTuple(args[3], "stride"));
                }
            case GlobalKind.RebuildParameter:
            case GlobalKind.RebuildParameterWithState:
                if (args.Length < 1 || args[0] is not TensorRef data) throw Fail($"calls {g.Name} without a tensor");
                return data;
            case GlobalKind.RebuildFromTypeV2:
                {
                    // (func, type, args, state): func must be a tensor rebuild, called here directly,
                    // so nesting cannot recurse.
                    if (args.Length != 4
                        || args[0] is not PyGlobal
                        {
                            Kind: GlobalKind.RebuildTensorV2 or GlobalKind.RebuildTensor or GlobalKind.RebuildParameter
                        } func
                        || args[2] is not PyTuple inner)
                        throw Fail($"calls {g.Name} with arguments Dfer does not recognise");
                    return Call(func, inner.Items);
                }
            case GlobalKind.TorchSize:
                {
                    if (args.Length != 1) throw Fail($"calls {g.Name} with {args.Length} arguments");
                    IntTuple(args[0], "size");
                    return args[0] is PyTuple t ? t : new PyTuple([.. ((PyList)args[0]).Items]);
                }
            case GlobalKind.CodecsEncode:
                {
                    if (args.Length != 2 || args[0] is not string text || args[1] is not string encoding)
                        throw Fail($"calls {g.Name} with arguments other than (text, encoding)");
                    return EncodeBytes(text, encoding, g.Name);
                }
            case GlobalKind.Bytes:
                if (args.Length == 0) return Array.Empty<byte>();
                if (args.Length == 1 && args[0] is byte[] b) return b;
                if (args.Length == 2 && args[0] is string s && args[1] is string enc)
                    return EncodeBytes(s, enc, g.Name);
                throw Fail($"calls {g.Name} with arguments Dfer does not recognise");
            case GlobalKind.StorageType:
                throw Fail($"calls {g.Name}; storages must come from persistent ids");
            default:
                throw Fail($"calls {g.Name}, which cannot be called");
        }
    }

    private byte[] EncodeBytes(string text, string encoding, string what)
    {
        if (encoding is "latin1" or "latin-1" or "iso-8859-1" or "iso8859-1")
        {
            var bytes = new byte[text.Length];
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] > 0xFF) throw Fail($"calls {what} on text that is not latin-1");
                bytes[i] = (byte)text[i];
            }
            return bytes;
        }
        if (encoding is "utf-8" or "utf8") return Encoding.UTF8.GetBytes(text);
        throw Fail($"calls {what} with encoding {SafeText.Quote(encoding)}");
    }

    /// <summary>A Python int that fits in 64 bits (bool counts, as in Python).</summary>
    internal long Integer(object o, string what) => o switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger big => throw Fail($"has a {what} of {DescribeInteger(big)}, which does not fit in 64 bits"),
        _ => throw Fail($"has a {what} that is {Describe(o)}, not an integer"),
    };

    private long[] IntTuple(object o, string what)
    {
        object[] items = o switch
        {
            PyTuple t => t.Items,
            PyList l => [.. l.Items],
            _ => throw Fail($"has a tensor {what} that is {Describe(o)}, not a tuple"),
        };
        Charge(32 + 8L * items.Length);
        var result = new long[items.Length];
        for (int i = 0; i < items.Length; i++) result[i] = Integer(items[i], "tensor " + what);
        return result;
    }

    private object ParseDecimal(string text)
    {
        if (text.Length > CheckpointLimits.MaxDecimalDigits)
            throw Fail($"has an integer of {text.Length} digits; Dfer reads at "
                + $"most {CheckpointLimits.MaxDecimalDigits}");
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
        if (BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out BigInteger big))
            return big;
        throw Fail($"has a malformed integer {SafeText.Quote(text, 40)}");
    }

    private long ParseDecimalLong(byte[] line) =>
        ParseDecimal(Ascii(line)) is long l ? l : throw Fail("has a memo index beyond 64 bits");

    private static object LittleEndianInt(byte[] bytes)
    {
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        // The cast to object matters: without it the conditional is a BigInteger either way, and
        // every LONG1 integer (what pickle writes from 2^31 on) would be "beyond 64 bits".
        return value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private string Utf8(byte[] bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Fail("has a string that is not valid UTF-8");
        }
    }

    private string Ascii(byte[] bytes)
    {
        foreach (byte b in bytes)
            if (b >= 0x80) throw Fail("has a text argument that is not ASCII");
        return Encoding.ASCII.GetString(bytes).TrimEnd('\r');
    }

    /// <summary>Protocol 0 STRING: a quoted Python literal with backslash escapes.</summary>
    private byte[] EscapeDecode(byte[] line)
    {
        if (line.Length < 2 || line[0] != line[^1] || (line[0] != '\'' && line[0] != '"'))
            throw Fail("has a STRING argument that is not quoted");
        int end = line.Length - 1; // the closing quote
        var result = new List<byte>(line.Length);
        for (int i = 1; i < end; i++)
        {
            byte c = line[i];
            if (c != '\\') { result.Add(c); continue; }
            if (++i >= end) throw Fail("has a STRING ending in a backslash");
            byte e = line[i];
            switch ((char)e)
            {
                case '\\': result.Add((byte)'\\'); break;
                case '\'': result.Add((byte)'\''); break;
                case '"': result.Add((byte)'"'); break;
                case 'n': result.Add((byte)'\n'); break;
                case 'r': result.Add((byte)'\r'); break;
                case 't': result.Add((byte)'\t'); break;
                case 'a': result.Add(7); break;
                case 'b': result.Add(8); break;
                case 'f': result.Add(12); break;
                case 'v': result.Add(11); break;
                case 'x':
                    if (i + 2 >= end || !IsHex(line[i + 1]) || !IsHex(line[i + 2]))
                        throw Fail("has a STRING with a malformed \\x escape");
                    result.Add((byte)(HexValue(line[i + 1]) * 16 + HexValue(line[i + 2])));
                    i += 2;
                    break;
                case >= '0' and <= '7':
                    {
                        int value = e - '0', digits = 1;
                        while (digits < 3 && i + 1 < end && line[i + 1] is >= (byte)'0' and <= (byte)'7')
                        {
                            value = value * 8 + (line[++i] - '0');
                            digits++;
                        }
                        result.Add((byte)value);
                        break;
                    }
                default:
                    result.Add((byte)'\\');
                    result.Add(e);
                    break;
            }
        }
        return [.. result];
    }

    /// <summary>Protocol 0 UNICODE: latin-1 text in which only \uXXXX and \UXXXXXXXX are escapes.</summary>
    private string RawUnicodeEscape(byte[] line)
    {
        var sb = new StringBuilder(line.Length);
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '\\' && i + 1 < line.Length && (line[i + 1] == 'u' || line[i + 1] == 'U'))
            {
                int digits = line[i + 1] == 'u' ? 4 : 8;
                if (i + 1 + digits >= line.Length) throw Fail("has a UNICODE argument with a truncated escape");
                long code = 0;
                for (int k = 0; k < digits; k++)
                {
                    byte h = line[i + 2 + k];
                    if (!IsHex(h)) throw Fail("has a UNICODE argument with a malformed escape");
                    code = code * 16 + HexValue(h);
                }
                if (code < 0 || code > 0x10FFFF || code is >= 0xD800 and <= 0xDFFF)
                    throw Fail("has a UNICODE argument with an invalid code point");
                sb.Append(char.ConvertFromUtf32((int)code));
                i += 1 + digits;
            }
            else sb.Append((char)line[i]);
        }
        return sb.ToString();
    }

    private static bool IsHex(byte b)
        => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;

    /// <summary>A short description of a pickled value's type, for messages.</summary>
    internal static string Describe(object o) => o switch
    {
        PyNone => "None",
        bool => "a bool",
        long => "an int",
        BigInteger => "an int beyond 64 bits",
        double => "a float",
        string s => s.Length <= 40 ? $"the string {SafeText.Quote(s)}" : "a string",
        byte[] => "a bytes object",
        PyTuple => "a tuple",
        PyList => "a list",
        PyDict => "a dict",
        PySet => "a set",
        PyGlobal g => SafeText.Quote(g.Name),
        PyInert i => $"a {SafeText.Quote(i.Name)} object",
        StorageRef => "a storage",
        TensorRef => "a tensor",
        _ => "an object",
    };

    /// <summary>An integer's value for a message: in full up to 256 bits, else its size.</summary>
    internal static string DescribeInteger(BigInteger value) =>
        value.GetBitLength() <= 256 ? value.ToString(CultureInfo.InvariantCulture)
        : $"an integer of {value.GetBitLength()} bits";

    /// <summary>A value for a message: integers in full (capped), anything else as <see cref="Describe"/>.</summary>
    internal static string DescribeValue(object o) => o switch
    {
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger big => DescribeInteger(big) + " (beyond 64 bits)",
        _ => Describe(o),
    };

    private static string OpcodeName(byte op)
    {
        string? name = op switch
        {
            0x80 => "PROTO",
            0x95 => "FRAME",
            (byte)'.' => "STOP",
            (byte)'(' => "MARK",
            (byte)'0' => "POP",
            (byte)'1' => "POP_MARK",
            (byte)'2' => "DUP",
            (byte)'p' => "PUT",
            (byte)'q' => "BINPUT",
            (byte)'r' => "LONG_BINPUT",
            0x94 => "MEMOIZE",
            (byte)'g' => "GET",
            (byte)'h' => "BINGET",
            (byte)'j' => "LONG_BINGET",
            (byte)'N' => "NONE",
            0x88 => "NEWTRUE",
            0x89 => "NEWFALSE",
            (byte)'I' => "INT",
            (byte)'J' => "BININT",
            (byte)'K' => "BININT1",
            (byte)'M' => "BININT2",
            (byte)'L' => "LONG",
            0x8a => "LONG1",
            0x8b => "LONG4",
            (byte)'G' => "BINFLOAT",
            (byte)'F' => "FLOAT",
            (byte)'S' => "STRING",
            (byte)'T' => "BINSTRING",
            (byte)'U' => "SHORT_BINSTRING",
            (byte)'X' => "BINUNICODE",
            0x8c => "SHORT_BINUNICODE",
            0x8d => "BINUNICODE8",
            (byte)'V' => "UNICODE",
            (byte)'B' => "BINBYTES",
            (byte)'C' => "SHORT_BINBYTES",
            0x8e => "BINBYTES8",
            0x96 => "BYTEARRAY8",
            (byte)']' => "EMPTY_LIST",
            (byte)'a' => "APPEND",
            (byte)'e' => "APPENDS",
            (byte)'l' => "LIST",
            (byte)')' => "EMPTY_TUPLE",
            (byte)'t' => "TUPLE",
            0x85 => "TUPLE1",
            0x86 => "TUPLE2",
            0x87 => "TUPLE3",
            (byte)'}' => "EMPTY_DICT",
            (byte)'d' => "DICT",
            (byte)'s' => "SETITEM",
            (byte)'u' => "SETITEMS",
            0x8f => "EMPTY_SET",
            0x90 => "ADDITEMS",
            0x91 => "FROZENSET",
            (byte)'c' => "GLOBAL",
            0x93 => "STACK_GLOBAL",
            (byte)'R' => "REDUCE",
            0x81 => "NEWOBJ",
            0x92 => "NEWOBJ_EX",
            (byte)'o' => "OBJ",
            (byte)'i' => "INST",
            (byte)'b' => "BUILD",
            (byte)'Q' => "BINPERSID",
            (byte)'P' => "PERSID",
            0x82 => "EXT1",
            0x83 => "EXT2",
            0x84 => "EXT4",
            0x97 => "NEXT_BUFFER",
            0x98 => "READONLY_BUFFER",
            _ => null,
        };
        return name is null ? $"0x{op:x2} (not a pickle opcode)" : $"{name} (0x{op:x2})";
    }
}
