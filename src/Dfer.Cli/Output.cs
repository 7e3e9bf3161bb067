using System.Globalization;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Dfer.Cli.Json;

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

    /// <summary>The longest line a diagnostic or table cell prints, the note on what was cut included.</summary>
    public const int MaxLineLength = 500;

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
    /// safe and kept to <see cref="MaxLineLength"/>.
    /// </summary>
    public void Plain(string message) => Diagnostic(OneLine(message));

    /// <summary>
    /// The one place every diagnostic passes: whatever a file, a path or the OS put in it, the line
    /// reaching the terminal has no control character or escape sequence and at most
    /// <see cref="MaxLineLength"/> characters.
    /// </summary>
    private void Diagnostic(string line)
    {
        line = SafeText.Line(line, MaxLineLength);
        if (Live is { } live) live(line);
        else Err.WriteLine(line);
    }

    /// <summary>Keeps a message on one line, whatever an OS or library put in it.</summary>
    public static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Result formats and their shared writers.</summary>
internal static class Output
{
    public const string Json = "json";
    public const string Table = "table";

    /// <summary>
    /// Writes exactly one JSON object, a record of <see cref="DferJson"/>, on one line to <paramref name="stdout"/>.
    /// </summary>
    public static void WriteJson<T>(TextWriter stdout, T record, JsonTypeInfo<T> type) => stdout.WriteLine(DferJson.ToLine(record, type));

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
        rows = rows.Select(row => row.Select(cell => SafeText.Line(cell, CliConsole.MaxLineLength)).ToArray()).ToList();
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
        foreach (var (label, value) in facts) stdout.WriteLine($"{label.PadRight(width)}  {SafeText.Line(value, CliConsole.MaxLineLength)}");
    }

    /// <summary>A line of a table-format result made inert (see <see cref="SafeText"/>), for lines not written by the writers above.</summary>
    public static void WriteLine(TextWriter stdout, string line) => stdout.WriteLine(SafeText.Line(line, CliConsole.MaxLineLength));

    /// <summary>A shape as Dfer's messages spell it: [2, 16, 3, 112, 112].</summary>
    public static string Shape(IEnumerable<int> dims) => "[" + string.Join(", ", dims) + "]";
}
