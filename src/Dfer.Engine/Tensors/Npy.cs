using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Dfer.IO;

namespace Dfer.Tensors;

/// <summary>
/// Reads and writes NumPy .npy files holding little-endian float32 arrays in C order, the form in
/// which reference inputs and outputs are exchanged with PyTorch.
/// </summary>
/// <remarks>
/// Layout: the magic "\x93NUMPY", a major and minor version byte, the header length (2 bytes
/// little-endian in version 1, 4 bytes in versions 2 and 3), a Python dict literal such as
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }</c> padded with spaces and
/// ending in '\n', then the raw data.
/// </remarks>
public static class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>
    /// The longest header read, in bytes (1 MiB). Version 1.0 headers cannot exceed 65535 bytes; versions
    /// 2.0 and 3.0 store a 4-byte length, which a hostile file can set to 4 GiB. Real headers are under a
    /// hundred bytes, and even 25 000 dimensions fit in a fifth of this.
    /// </summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>
    /// How deeply brackets, parentheses and braces may nest in a header. NumPy writes depth 2 (the
    /// dict and the shape tuple), a structured dtype a few more; the limit keeps the parser's
    /// recursion far from the stack's end whatever the header holds.
    /// </summary>
    public const int MaxHeaderNesting = 32;

    /// <summary>Dimensions of a shape shown in an error message; longer shapes are elided.</summary>
    private const int ShownDimensions = 8;

    /// <summary>Element count per bulk transfer, so that byte spans stay under int.MaxValue.</summary>
    private const int ChunkElements = 1 << 28;

    /// <summary>Reads a float32 ('&lt;f4'), C-ordered array from a .npy file of version 1.0, 2.0 or 3.0.</summary>
    /// <returns>The elements in C order and the shape (empty for a scalar).</returns>
    /// <exception cref="DferException">The file is missing, unreadable, malformed, of another dtype,
    /// Fortran-ordered, truncated, or has bytes after the data.</exception>
    public static (float[] Data, int[] Shape) ReadFloat32(string path)
    {
        using FileStream stream = UserFile.OpenRead(path);
        try
        {
            return Read(path, stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw UserFile.Fail(path, $"cannot read: {UserFile.OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>
    /// Writes a float32 array as a version 1.0 .npy file ('&lt;f4', C order), the header padded so that
    /// the data starts at a multiple of 64 bytes, as NumPy does. Version 2.0 is used only if the
    /// header would not fit version 1.0's 65535 bytes.
    /// </summary>
    /// <exception cref="ArgumentException">A dimension is negative or the shape does not match the data
    /// length.</exception>
    /// <exception cref="DferException">The file cannot be written.</exception>
    public static void WriteFloat32(string path, ReadOnlySpan<float> data, ReadOnlySpan<int> shape)
    {
        ArgumentNullException.ThrowIfNull(path);
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {FormatShape(shape)}", nameof(shape));
            count *= d;
        }
        if (count != data.Length)
            throw new ArgumentException(
                $"shape {FormatShape(shape)} holds {count} elements but {data.Length} were given", nameof(data));

        byte[] preambleAndHeader = BuildHeader(shape);
        using FileStream stream = UserFile.Create(path);
        try
        {
            stream.Write(preambleAndHeader);
            WriteData(stream, data);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw UserFile.Fail(path, $"cannot write: {UserFile.OneLine(ex.Message)}", ex);
        }
    }

    private static (float[] Data, int[] Shape) Read(string path, FileStream stream)
    {
        long fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[12];
        int got = stream.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        ReadOnlySpan<byte> start = prefix[..got];

        if (!start.StartsWith(Magic))
        {
            if (got >= Magic.Length || !Magic.StartsWith(start))
                throw UserFile.Fail(path,
                    $"not a .npy file: it starts with {Hex(start)}, not the magic 93 4E 55 4D 50 59 "
                    + $"(\"\\x93NUMPY\"){Hint(start)}");
        }
        if (got < 10)
            throw UserFile.Fail(path, $"file is {fileLength} bytes, too short for a .npy header");

        byte major = start[6], minor = start[7];
        if (major is not (1 or 2 or 3) || minor != 0)
            throw UserFile.Fail(path, $"unsupported .npy format version {major}.{minor} (Dfer reads 1.0, 2.0 and 3.0)");

        long headerLength;
        int preambleLength;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(start[8..]);
            preambleLength = 10;
        }
        else
        {
            if (got < 12)
                throw UserFile.Fail(path, $"file is {fileLength} bytes, too short for a version {major}.0 .npy header");
            headerLength = BinaryPrimitives.ReadUInt32LittleEndian(start[8..]);
            preambleLength = 12;
        }
        if (headerLength > MaxHeaderBytes)
            throw UserFile.Fail(path,
                $"header length {headerLength} exceeds Dfer's limit of {MaxHeaderBytes} bytes (real headers are under "
                + "200)");
        if (preambleLength + headerLength > fileLength)
            throw UserFile.Fail(path,
                $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");

        var headerBytes = new byte[headerLength];
        stream.Position = preambleLength;
        stream.ReadExactly(headerBytes);
        string headerText;
        try
        {
            // Version 3.0 exists only to allow UTF-8 (field names of structured dtypes); earlier
            // versions are latin-1.
            headerText = major == 3
                ? new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true)
                .GetString(headerBytes)
                : Encoding.Latin1.GetString(headerBytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw UserFile.Fail(path, "header of a version 3.0 file is not valid UTF-8", ex);
        }

        Header header = HeaderParser.Parse(path, headerText);
        if (header.Descr != "<f4")
            throw UserFile.Fail(path, DescribeWrongDtype(header.Descr));
        if (header.FortranOrder)
            throw UserFile.Fail(path, "array is Fortran-ordered; save with np.ascontiguousarray(arr) to get C order");

        var shape = new int[header.Shape.Length];
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            long d = header.Shape[i];
            if (d > int.MaxValue)
                throw UserFile.Fail(path,
                    $"dimension {i} of shape {FormatShape(header.Shape)} is {d}; Dfer supports dimensions up "
                    + $"to {int.MaxValue}");
            shape[i] = (int)d;
            // Saturates instead of overflowing, yet a later zero dimension still empties the array.
            count = d == 0 ? 0 : count > Array.MaxLength ? count : count * d;
        }
        if (count > Array.MaxLength)
            throw UserFile.Fail(path, $"shape {FormatShape(header.Shape)} has more elements than an array can hold");

        long expected = count * sizeof(float);
        long actual = fileLength - preambleLength - headerLength;
        if (actual < expected)
            throw UserFile.Fail(path,
                $"data is {actual} bytes but shape {FormatShape(header.Shape)} of float32 needs {expected} bytes; the "
                + "file is truncated");
        if (actual > expected)
            throw UserFile.Fail(path,
                $"{actual - expected} trailing bytes after the data: shape {FormatShape(header.Shape)} of float32 "
                + $"needs {expected} bytes, the file holds {actual}");

        var data = new float[count];
        ReadData(stream, data);
        return (data, shape);
    }

    private static void ReadData(Stream stream, float[] data)
    {
        Span<float> rest = data;
        while (!rest.IsEmpty)
        {
            Span<float> chunk = rest[..Math.Min(rest.Length, ChunkElements)];
            stream.ReadExactly(MemoryMarshal.AsBytes(chunk));
            if (!BitConverter.IsLittleEndian)
            {
                Span<int> bits = MemoryMarshal.Cast<float, int>(chunk);
                BinaryPrimitives.ReverseEndianness(bits, bits);
            }
            rest = rest[chunk.Length..];
        }
    }

    private static void WriteData(Stream stream, ReadOnlySpan<float> data)
    {
        byte[]? swapped =
            BitConverter.IsLittleEndian ? null : new byte[Math.Min(data.Length, ChunkElements) * sizeof(float)];
        while (!data.IsEmpty)
        {
            ReadOnlySpan<float> chunk = data[..Math.Min(data.Length, ChunkElements)];
            if (swapped is null)
            {
                stream.Write(MemoryMarshal.AsBytes(chunk));
            }
            else
            {
                for (int i = 0; i < chunk.Length; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(swapped.AsSpan(i * 4), chunk[i]);
                stream.Write(swapped, 0, chunk.Length * sizeof(float));
            }
            data = data[chunk.Length..];
        }
    }

    private static byte[] BuildHeader(ReadOnlySpan<int> shape)
    {
        string tuple = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape.ToArray())})";
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}";
        // NumPy aligns the data to 64 bytes so that it can be memory-mapped and read with
        // vector loads; the header's last byte must be '\n'.
        int major = 1, preamble = 10;
        int padded = Padded(dict.Length, preamble);
        if (padded > ushort.MaxValue)
        {
            major = 2;
            preamble = 12;
            padded = Padded(dict.Length, preamble);
        }

        var bytes = new byte[preamble + padded];
        Magic.CopyTo(bytes);
        bytes[6] = (byte)major;
        bytes[7] = 0;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)padded);
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)padded);
        Span<byte> header = bytes.AsSpan(preamble);
        header.Fill((byte)' ');
        Encoding.ASCII.GetBytes(dict, header);
        header[^1] = (byte)'\n';
        return bytes;

        static int Padded(int dictLength, int preambleLength) =>
            dictLength + 1 + (64 - (preambleLength + dictLength + 1) % 64) % 64;
    }

    /// <summary>
    /// For messages, Python's tuple spelling, which is what users see in NumPy: (), (5,), (2, 3); past
    /// <see cref="ShownDimensions"/> dimensions the rest is elided with a count, so that a hostile
    /// shape cannot make a message megabytes long.
    /// </summary>
    private static string FormatShape(ReadOnlySpan<int> shape)
    {
        var dims = new long[shape.Length];
        for (int i = 0; i < dims.Length; i++) dims[i] = shape[i];
        return FormatShape(dims);
    }

    private static string FormatShape(long[] shape)
    {
        if (shape.Length == 1) return $"({shape[0]},)";
        if (shape.Length <= ShownDimensions) return $"({string.Join(", ", shape)})";
        return $"({string.Join(", ", shape.Take(ShownDimensions))}, ... {shape.Length} dimensions in all)";
    }

    private static string DescribeWrongDtype(string descr)
    {
        string? type = TypeName(descr);
        char order = descr.Length > 0 ? descr[0] : ' ';
        if (type == "float32")
        {
            string variant = order == '>' ? "big-endian float32" : $"float32 with byte order '{order}'";
            return $"dtype {SafeText.Quote(descr)} ({variant}); Dfer reads little-endian float32 ('<f4') only — "
                + "convert with arr.astype('<f4')";
        }
        string described = type is null ? "not a type Dfer recognises"
            : order == '>' ? $"big-endian {type}" : type;
        return $"dtype {SafeText.Quote(descr)} ({described}); Dfer reads float32 ('<f4') only — convert with "
            + "arr.astype(np.float32)";
    }

    /// <summary>NumPy's name for a simple type descriptor such as '&lt;f8'; null if unrecognised.</summary>
    private static string? TypeName(string descr)
    {
        if (descr.Length < 2 || descr[0] is not ('<' or '>' or '|' or '=')) return null;
        string code = descr[1..];
        return code switch
        {
            "f2" => "float16",
            "f4" => "float32",
            "f8" => "float64",
            "f12" or "f16" => "long double",
            "i1" => "int8",
            "i2" => "int16",
            "i4" => "int32",
            "i8" => "int64",
            "u1" => "uint8",
            "u2" => "uint16",
            "u4" => "uint32",
            "u8" => "uint64",
            "b1" => "bool",
            "c8" => "complex64",
            "c16" => "complex128",
            "O" => "Python objects",
            _ when code.StartsWith('U') => "unicode strings",
            _ when code.StartsWith('S') => "byte strings",
            _ when code.StartsWith('V') => "raw bytes",
            _ when code.StartsWith("M8", StringComparison.Ordinal) => "datetime64",
            _ when code.StartsWith("m8", StringComparison.Ordinal) => "timedelta64",
            _ => null,
        };
    }

    private static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.IsEmpty ? "nothing"
        : string.Join(' ',
        bytes[..Math.Min(bytes.Length, 6)].ToArray().Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));

    private static string Hint(ReadOnlySpan<byte> start) =>
        start.StartsWith((ReadOnlySpan<byte>)[0x50, 0x4B, 0x03, 0x04])
        ? "; it looks like a zip archive, perhaps an .npz: extract the array with np.load(path)['name'] and np.save it"
        : start is [0x80, ..] ? "; it looks like a Python pickle: np.save the array instead"
        : "";

    private sealed record Header(string Descr, bool FortranOrder, long[] Shape);

    /// <summary>
    /// A recursive-descent parser for the Python literal subset NumPy writes in .npy headers:
    /// dicts, tuples, lists, strings, integers (with Python 2's 'L' suffix), True, False, None.
    /// Nothing is evaluated. Nesting is limited to <see cref="MaxHeaderNesting"/> levels, so the
    /// recursion is bounded whatever the header holds.
    /// </summary>
    private sealed class HeaderParser
    {
        private readonly string _path;
        private readonly string _text;
        private int _pos;
        private int _depth;

        private HeaderParser(string path, string text)
        {
            _path = path;
            _text = text;
        }

        internal static Header Parse(string path, string text)
        {
            var parser = new HeaderParser(path, text);
            parser.SkipWhitespace();
            if (parser.Peek() != '{') throw parser.Error("expected '{' opening the header dict");
            object? value = parser.ParseValue();
            parser.SkipWhitespace();
            if (parser._pos != text.Length) throw parser.Error("unexpected text after the header dict");
            return parser.Interpret((Dictionary<string, object?>)value!);
        }

        private Header Interpret(Dictionary<string, object?> dict)
        {
            foreach (string key in dict.Keys)
            {
                if (key is not ("descr" or "fortran_order" or "shape"))
                    throw Fail($"header has unexpected key {SafeText.Quote(key)} (expected 'descr', 'fortran_order' "
                        + "and 'shape')");
            }
            object? descr = Required(dict, "descr");
            object? fortran = Required(dict, "fortran_order");
            object? shape = Required(dict, "shape");

            if (descr is List<object?>)
                throw Fail("structured dtype (a record with named fields); Dfer reads plain float32 ('<f4') arrays "
                    + "only");
            if (descr is not string descrText)
                throw Fail($"header 'descr' is {Describe(descr)}, expected a string such as '<f4'");
            if (fortran is not bool fortranOrder)
                throw Fail($"header 'fortran_order' is {Describe(fortran)}, expected True or False");
            if (shape is not PyTuple tuple)
                throw Fail($"header 'shape' is {Describe(shape)}, expected a tuple of non-negative integers");

            var dims = new long[tuple.Items.Count];
            for (int i = 0; i < dims.Length; i++)
            {
                if (tuple.Items[i] is not long d || d < 0)
                    throw Fail($"header 'shape' dimension {i} is {Describe(tuple.Items[i])}, expected a non-negative "
                        + "integer");
                dims[i] = d;
            }
            return new Header(descrText, fortranOrder, dims);
        }

        private object? Required(Dictionary<string, object?> dict, string key) =>
            dict.TryGetValue(key, out object? value) ? value : throw Fail($"header has no '{key}' key");

        private object? ParseValue()
        {
            SkipWhitespace();
            char c = Peek();
            if (c is '{' or '(' or '[')
            {
                if (_depth == MaxHeaderNesting)
                    throw Error($"brackets nest deeper than {MaxHeaderNesting} levels");
                _depth++;
                object? container = ParseContainer(c);
                _depth--;
                return container;
            }
            if (c is '\'' or '"') return ParseString();
            if (c == '-' || c == '+' || char.IsAsciiDigit(c)) return ParseInteger();
            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = _pos;
                while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
                string word = _text[start.._pos];
                return word switch
                {
                    "True" => true,
                    "False" => false,
                    "None" => null,
                    _ => throw Error($"unexpected name {SafeText.Quote(word)}", start),
                };
            }
            throw Error(_pos < _text.Length ? $"unexpected character {Show(c)}"
                : "header ends in the middle of a value");
        }

        private object? ParseContainer(char open)
        {
            switch (open)
            {
                case '{': return ParseDict();
                case '(':
                    // As in Python, "(5)" is just 5 while "(5,)" is a 1-tuple.
                    List<object?> items = ParseItems('(', ')', out bool sawComma);
                    return items.Count == 1 && !sawComma ? items[0] : new PyTuple(items);
                default: return ParseItems('[', ']', out _);
            }
        }

        private Dictionary<string, object?> ParseDict()
        {
            Expect('{');
            var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
            while (true)
            {
                SkipWhitespace();
                if (TryConsume('}')) return dict;
                int keyStart = _pos;
                if (Peek() is not ('\'' or '"'))
                    throw Error(_pos < _text.Length ? "expected a quoted key or '}'"
                        : "the header ends before the dict is closed");
                string key = ParseString();
                SkipWhitespace();
                Expect(':');
                object? value = ParseValue();
                if (!dict.TryAdd(key, value)) throw Error($"key {SafeText.Quote(key)} appears twice", keyStart);
                SkipWhitespace();
                if (TryConsume('}')) return dict;
                Expect(',');
            }
        }

        private List<object?> ParseItems(char open, char close, out bool sawComma)
        {
            Expect(open);
            var items = new List<object?>();
            sawComma = false;
            while (true)
            {
                SkipWhitespace();
                if (TryConsume(close)) break;
                items.Add(ParseValue());
                SkipWhitespace();
                if (TryConsume(close)) break;
                Expect(',');
                sawComma = true;
            }
            return items;
        }

        private string ParseString()
        {
            int start = _pos;
            char quote = _text[_pos++];
            var sb = new StringBuilder();
            while (true)
            {
                if (_pos >= _text.Length) throw Error("unterminated string", start);
                char c = _text[_pos++];
                if (c == quote) return sb.ToString();
                if (c == '\n') throw Error("unterminated string", start);
                if (c != '\\') { sb.Append(c); continue; }
                if (_pos >= _text.Length) throw Error("unterminated string", start);
                char e = _text[_pos++];
                switch (e)
                {
                    case '\\' or '\'' or '"': sb.Append(e); break;
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case '0': sb.Append('\0'); break;
                    // Python keeps unknown escapes verbatim, backslash included.
                    default: sb.Append('\\').Append(e); break;
                }
            }
        }

        private long ParseInteger()
        {
            int start = _pos;
            if (_text[_pos] is '-' or '+') _pos++;
            int digits = _pos;
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
            if (_pos == digits) throw Error("expected digits", start);
            string number = _text[start.._pos];
            // NumPy under Python 2 wrote shapes like (3L, 4L).
            if (_pos < _text.Length && _text[_pos] is 'L' or 'l') _pos++;
            if (_pos < _text.Length && (_text[_pos] is '.' or 'e' or 'E' || char.IsAsciiLetter(_text[_pos])))
                throw Error("expected an integer", start);
            if (!long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
                throw Error($"integer {SafeText.Plain(number, 40)} is out of range", start);
            return value;
        }

        private void SkipWhitespace()
        {
            while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v') _pos++;
        }

        private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

        private bool TryConsume(char c)
        {
            if (Peek() != c) return false;
            _pos++;
            return true;
        }

        private void Expect(char c)
        {
            if (!TryConsume(c))
                throw Error(_pos < _text.Length ? $"expected '{c}' but found {Show(_text[_pos])}"
                    : $"expected '{c}' but the header ends");
        }

        private DferException Fail(string problem) => UserFile.Fail(_path, problem);

        private DferException Error(string what, int? at = null)
        {
            string shown = SafeText.Plain(UserFile.OneLine(_text.TrimEnd()), 120);
            return Fail($"malformed header: {what} at position {at ?? _pos} in \"{shown}\"");
        }

        private static string Show(char c) => char.IsControl(c) ? $"\\u{(int)c:x4}" : $"'{c}'";

        private static string Describe(object? value) => value switch
        {
            null => "None",
            bool b => b ? "True" : "False",
            long n => n.ToString(CultureInfo.InvariantCulture),
            string s => $"the string {SafeText.Quote(s)}",
            PyTuple => "a tuple",
            List<object?> => "a list",
            Dictionary<string, object?> => "a dict",
            _ => "a value",
        };
    }

    private sealed record PyTuple(List<object?> Items);
}
