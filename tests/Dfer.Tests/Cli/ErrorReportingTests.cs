using System.Text;
using Dfer.Cli;

namespace Dfer.Tests.Cli;

/// <summary>A bug surfaces as one line and exit 3, with the stack trace only on request.</summary>
[TestFixture]
[NonParallelizable]
public class ErrorReportingTests
{
    /// <summary>Stands in for a bug: every write throws.</summary>
    private sealed class BrokenWriter : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => throw new InvalidOperationException("simulated bug");
    }

    [Test]
    public void UnexpectedException_IsOneLine_ExitThree()
    {
        var stderr = new StringWriter();

        int code = WithDebug(null, () => DferCli.Run(["devices"], new BrokenWriter(), stderr));

        Assert.That(code, Is.EqualTo(ExitCodes.Internal));
        Assert.That(stderr.ToString().TrimEnd().Split('\n'),
            Is.EqualTo(new[] { "dfer: internal error: System.InvalidOperationException: simulated bug" }));
    }

    [Test]
    public void DferDebug_AddsTheStackTrace()
    {
        var stderr = new StringWriter();

        int code = WithDebug("1", () => DferCli.Run(["devices"], new BrokenWriter(), stderr));

        Assert.That(code, Is.EqualTo(ExitCodes.Internal));
        Assert.That(stderr.ToString(), Does.StartWith("dfer: internal error: ").And.Contain("   at "));
    }

    private static int WithDebug(string? value, Func<int> run)
    {
        string? saved = Environment.GetEnvironmentVariable("DFER_DEBUG");
        Environment.SetEnvironmentVariable("DFER_DEBUG", value);
        try { return run(); }
        finally { Environment.SetEnvironmentVariable("DFER_DEBUG", saved); }
    }
}
