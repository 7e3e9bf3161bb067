using System.Globalization;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Dfer.Cli.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

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
        string.Join(' ',
        message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Result formats and their shared writers.</summary>
internal static class Output
{
    public const string Json = "json";
    public const string Table = "table";

    /// <summary>
    /// Writes exactly one JSON object, a record of <see cref="DferJson"/>, on one line to <paramref name="stdout"/>.
    /// </summary>
    public static void WriteJson<T>(TextWriter stdout, T record, JsonTypeInfo<T> type)
        => stdout.WriteLine(DferJson.ToLine(record, type));

    /// <summary>Invariant-culture number text for tables, so output is the same on every machine.</summary>
    public static string Fixed(double value, int decimals)
        => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes rows as a table; the first row is the header and columns listed in
    /// <paramref name="rightAligned"/> (numbers) are right-aligned. At a terminal (see <see cref="Terminal"/>)
    /// Spectre.Console draws it; otherwise (piped, redirected, captured) it is plain text, columns
    /// separated by two spaces, exactly as scripts and tests read it.
    /// </summary>
    public static void WriteTable(TextWriter stdout, IReadOnlyList<string[]> rows, ISet<int>? rightAligned = null)
    {
        if (rows.Count == 0) return;
        // Cells may hold names from files and the command line: made inert and kept short like diagnostics.
        rows = rows.Select(row => row.Select(cell => SafeText.Line(cell, CliConsole.MaxLineLength)).ToArray()).ToList();
        // A table wider than the terminal would wrap inside its cells (a number split over two lines): plain text then.
        if (Terminal(stdout) is { } terminal && SpectreWidth(rows) <= terminal.Profile.Width)
            terminal.Write(SpectreTable(rows, rightAligned));
        else WritePlainTable(stdout, rows, rightAligned);
    }

    /// <summary>
    /// The one place that decides whether results are drawn for a person: a Spectre.Console console on
    /// <paramref name="stdout"/> when it is this process's own standard output, not redirected, on a
    /// terminal Spectre finds able to show ANSI; null otherwise (plain text).
    /// </summary>
    public static IAnsiConsole? Terminal(TextWriter stdout)
    {
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) return null;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Detect,
        });
        return console.Profile.Capabilities.Ansi ? console : null;
    }

    /// <summary>The characters a line of <see cref="SpectreTable"/> takes: each column's widest cell, a space each side
    /// and a rule between columns.</summary>
    internal static int SpectreWidth(IReadOnlyList<string[]> rows) =>
        Enumerable.Range(0, rows[0].Length).Sum(c => rows.Max(row => row[c].Length) + 3) + 1;

    /// <summary>The rows (already made inert) as a Spectre.Console table: the first row is its header.</summary>
    internal static Table SpectreTable(IReadOnlyList<string[]> rows, ISet<int>? rightAligned)
    {
        var table = new Table().Border(TableBorder.Simple);
        for (int c = 0; c < rows[0].Length; c++)
        {
            var column = new TableColumn(new Text(rows[0][c], new Style(decoration: Decoration.Bold))).NoWrap();
            table.AddColumn(rightAligned?.Contains(c) == true ? column.RightAligned() : column);
        }
        foreach (string[] row in rows.Skip(1)) table.AddRow(row.Select(cell => (IRenderable)new Text(cell)).ToArray());
        return table;
    }

    /// <summary>Aligned columns separated by two spaces; the last column has no trailing padding.</summary>
    private static void WritePlainTable(TextWriter stdout, IReadOnlyList<string[]> rows, ISet<int>? rightAligned)
    {
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
                line.Append(right ? row[c].PadLeft(widths[c]) : c == columns - 1 ? row[c] : row[c].PadRight(widths[c]));
            }
            stdout.WriteLine(line.ToString());
        }
    }

    /// <summary>Label/value lines for a handful of facts, labels padded to one width.</summary>
    public static void WriteFacts(TextWriter stdout, IReadOnlyList<(string Label, string Value)> facts)
    {
        int width = facts.Max(f => f.Label.Length);
        foreach (var (label, value) in facts)
            stdout.WriteLine($"{label.PadRight(width)}  {SafeText.Line(value, CliConsole.MaxLineLength)}");
    }

    /// <summary>A line of a table-format result made inert (see <see cref="SafeText"/>), for lines not written by the
    /// writers above.</summary>
    public static void WriteLine(TextWriter stdout, string line)
        => stdout.WriteLine(SafeText.Line(line, CliConsole.MaxLineLength));

    /// <summary>A shape as Dfer's messages spell it: [2, 16, 3, 112, 112].</summary>
    public static string Shape(IEnumerable<int> dims) => "[" + string.Join(", ", dims) + "]";
}
