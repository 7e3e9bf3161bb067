using Dfer.Cli;
using Spectre.Console;

namespace Dfer.Tests.Cli;

/// <summary>Tables: plain aligned text when not at a terminal (what scripts read), Spectre.Console's table at
/// one.</summary>
public class OutputTableTests
{
    private static readonly string[][] Rows =
    [
        ["input", "index", "label"],
        ["a.npy", "0", "happy"],
        ["long-name.npy", "12", "sad"],
    ];

    [Test]
    public void Captured_IsPlainAlignedText()
    {
        var stdout = new StringWriter { NewLine = "\n" };
        Output.WriteTable(stdout, Rows, new HashSet<int> { 1 });
        Assert.That(stdout.ToString(), Is.EqualTo(
            "input          index  label\n" +
            "a.npy              0  happy\n" +
            "long-name.npy     12  sad\n"));
        Assert.That(Output.Terminal(stdout), Is.Null, "a writer that is not the process's stdout is never a terminal");
    }

    [Test]
    public void Spectre_ShowsEveryCell_NumbersRightAligned()
    {
        var text = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        console.Profile.Width = 100;
        console.Write(Output.SpectreTable(Rows, new HashSet<int> { 1 }));
        var lines = text.ToString().Split('\n').Where(l => l.Trim().Length > 0).ToList();
        string a = lines.Single(l => l.Contains("a.npy")), b = lines.Single(l => l.Contains("long-name.npy"));
        Assert.That(a, Does.Contain("happy"));
        Assert.That(b, Does.Contain("sad"));
        Assert.That(a.IndexOf(" 0 ", StringComparison.Ordinal) + 2,
            Is.EqualTo(b.IndexOf("12", StringComparison.Ordinal) + 2), "index column right-aligned");
        Assert.That(lines.Max(l => l.TrimEnd().Length), Is.LessThanOrEqualTo(Output.SpectreWidth(Rows)));
    }
}
