using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Dfer.Cli;

/// <summary>
/// Where a command writes: results to stdout, everything meant for a person (warnings, errors,
/// progress) to stderr, each diagnostic on one line prefixed with the executable name.
/// </summary>
internal sealed class CliConsole(TextWriter stdout, TextWriter stderr, bool showProgress)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;

    /// <summary>DFER_DEBUG=1 adds stack traces to error reports.</summary>
    public bool Debug { get; } = Environment.GetEnvironmentVariable("DFER_DEBUG") == "1";

    /// <summary>Whether a person is watching stderr (progress lines and bars are for them only).</summary>
    public bool ShowProgress { get; } = showProgress;

    /// <summary>
    /// While a live progress bar owns stderr, diagnostics go through it (printed above the bar);
    /// null otherwise.
    /// </summary>
    public Action<string>? Live { get; set; }

    public void Error(string message) => Diagnostic($"{DferCli.ExecutableName}: error: {OneLine(message)}");

    public void Warning(string message) => Diagnostic($"{DferCli.ExecutableName}: warning: {OneLine(message)}");

    public void Progress(string message)
    {
        if (ShowProgress) Diagnostic($"{DferCli.ExecutableName}: {OneLine(message)}");
    }

    /// <summary>The closing line of a long run (counts, failures), shown even when nobody watches progress.</summary>
    public void Summary(string message) => Diagnostic($"{DferCli.ExecutableName}: {OneLine(message)}");

    /// <summary>
    /// A line that is not one of the kinds above (the usage hint after a parse error), still made
    /// safe and kept to <see cref="TerminalText.MaxLineLength"/>.
    /// </summary>
    public void Plain(string message) => Diagnostic(OneLine(message));

    /// <summary>
    /// The one place every diagnostic passes: whatever a file, a path or the OS put in it, the line
    /// reaching the terminal has no control character or escape sequence and at most
    /// <see cref="TerminalText.MaxLineLength"/> characters.
    /// </summary>
    private void Diagnostic(string line)
    {
        line = TerminalText.Line(line);
        if (Live is { } live) live(line);
        else Err.WriteLine(line);
    }

    /// <summary>Keeps a message on one line, whatever an OS or library put in it.</summary>
    public static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>
/// Text headed for a terminal, made inert. Names in messages come from files, paths and the command
/// line, and a terminal acts on what they may hold: ESC starts CSI and OSC sequences (colours,
/// cursor moves, window titles, hyperlinks), the C1 controls U+0080..U+009F are their one-character
/// forms on some terminals, and bidirectional overrides (U+202A..U+202E, U+2066..U+2069) reorder
/// what is shown. Every such character is written visibly as an escape instead (<c>\x1b</c>,
/// <c>\u202e</c>), and a line is cut at <see cref="MaxLineLength"/> characters.
/// </summary>
internal static class TerminalText
{
    /// <summary>The longest line a diagnostic or table cell prints, the note on what was cut included.</summary>
    public const int MaxLineLength = 500;

    /// <summary>Room kept at the end of a cut line for "… (N more characters)".</summary>
    private const int CutNoteLength = 32;

    /// <summary>
    /// <paramref name="text"/> on one line, escaped (see <see cref="TerminalText"/>), and if longer than
    /// <paramref name="max"/> characters cut and ended with "… (N more characters)", N counting the
    /// characters of <paramref name="text"/> not shown.
    /// </summary>
    public static string Line(string text, int max = MaxLineLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, CutNoteLength * 2);
        int length = 0;
        for (int i = 0; i < text.Length && length <= max; i += Unit(text, i)) length += Escaped(text, i).Length;
        if (length <= max) return Escape(text);

        var line = new StringBuilder(max);
        int budget = max - CutNoteLength, at = 0;
        while (at < text.Length)
        {
            string piece = Escaped(text, at);
            if (line.Length + piece.Length > budget) break;
            line.Append(piece);
            at += Unit(text, at);
        }
        return line.Append($"… ({text.Length - at} more characters)").ToString();
    }

    /// <summary><paramref name="text"/> with every character a terminal could act on written as a visible escape.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int i = 0;
        while (i < text.Length && Escaped(text, i).Length == Unit(text, i)) i += Unit(text, i);
        if (i == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i += Unit(text, i)) sb.Append(Escaped(text, i));
        return sb.ToString();
    }

    /// <summary>Whether <paramref name="c"/> is written as an escape (a lone surrogate is too).</summary>
    public static bool IsUnsafe(char c) => c switch
    {
        < '\u0020' or '\u007f' => true,               // C0 controls (ESC among them) and DEL
        >= '\u0080' and <= '\u009f' => true,          // C1 controls: CSI (U+009B), OSC (U+009D), ...
        _ => char.GetUnicodeCategory(c) is UnicodeCategory.Format       // bidi overrides and isolates, zero-width marks
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Control,
    };

    /// <summary>UTF-16 units of the character at <paramref name="i"/>: 2 for a surrogate pair, else 1.</summary>
    private static int Unit(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;

    /// <summary>How the character at <paramref name="i"/> is written.</summary>
    private static string Escaped(string text, int i)
    {
        char c = text[i];
        if (Unit(text, i) == 2) return text.Substring(i, 2);
        if (char.IsSurrogate(c)) return $"\\u{(int)c:x4}";
        if (!IsUnsafe(c)) return c.ToString();
        return c switch
        {
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            <= '\u00ff' => $"\\x{(int)c:x2}",
            _ => $"\\u{(int)c:x4}",
        };
    }
}

/// <summary>Result formats and their shared writers.</summary>
internal static class Output
{
    public const string Json = "json";
    public const string Table = "table";

    /// <summary>
    /// Writes exactly one JSON object, then a newline, to <paramref name="stdout"/>. Numbers keep full
    /// precision: System.Text.Json writes the shortest text that parses back to the same float.
    /// </summary>
    public static void WriteJson(TextWriter stdout, Action<Utf8JsonWriter> writeObject)
    {
        var buffer = new MemoryStream();
        // Paths and descriptions stay readable (no \u escapes for non-ASCII); the output is never embedded in HTML.
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var json = new Utf8JsonWriter(buffer, options))
        {
            json.WriteStartObject();
            writeObject(json);
            json.WriteEndObject();
        }
        stdout.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    /// <summary>A float array; a non-finite value (which JSON cannot spell) becomes null.</summary>
    public static void WriteFloats(Utf8JsonWriter json, string name, ReadOnlySpan<float> values)
    {
        json.WriteStartArray(name);
        foreach (float v in values)
        {
            if (float.IsFinite(v)) json.WriteNumberValue(v);
            else json.WriteNullValue();
        }
        json.WriteEndArray();
    }

    /// <summary>A double; a non-finite value becomes null.</summary>
    public static void WriteNumber(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }

    /// <summary>Invariant-culture number text for tables, so output is the same on every machine.</summary>
    public static string Fixed(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes rows as aligned columns separated by two spaces; columns listed in
    /// <paramref name="rightAligned"/> (numbers) are right-aligned. The first row is the header.
    /// </summary>
    public static void WriteTable(TextWriter stdout, IReadOnlyList<string[]> rows, ISet<int>? rightAligned = null)
    {
        if (rows.Count == 0) return;
        // Cells may hold names from files and the command line: made inert and kept short like diagnostics.
        rows = rows.Select(row => row.Select(cell => TerminalText.Line(cell)).ToArray()).ToList();
        int columns = rows[0].Length;
        var widths = new int[columns];
        foreach (string[] row in rows)
            for (int c = 0; c < columns; c++) widths[c] = Math.Max(widths[c], row[c].Length);
        var line = new StringBuilder();
        foreach (string[] row in rows)
        {
            line.Clear();
            for (int c = 0; c < columns; c++)
            {
                if (c > 0) line.Append("  ");
                bool right = rightAligned?.Contains(c) == true;
                // The last column needs no trailing padding.
                line.Append(right ? row[c].PadLeft(widths[c]) : c == columns - 1 ? row[c] : row[c].PadRight(widths[c]));
            }
            stdout.WriteLine(line.ToString());
        }
    }

    /// <summary>Label/value lines for a handful of facts, labels padded to one width.</summary>
    public static void WriteFacts(TextWriter stdout, IReadOnlyList<(string Label, string Value)> facts)
    {
        int width = facts.Max(f => f.Label.Length);
        foreach (var (label, value) in facts) stdout.WriteLine($"{label.PadRight(width)}  {TerminalText.Line(value)}");
    }

    /// <summary>A line of a table-format result made inert (see <see cref="TerminalText"/>), for lines not written by the writers above.</summary>
    public static void WriteLine(TextWriter stdout, string line) => stdout.WriteLine(TerminalText.Line(line));

    /// <summary>A shape as Dfer's messages spell it: [2, 16, 3, 112, 112].</summary>
    public static string Shape(IEnumerable<int> dims) => "[" + string.Join(", ", dims) + "]";
}
