using System.CommandLine;
using System.CommandLine.Invocation;
using Dfer.Cli.Commands;

namespace Dfer.Cli;

/// <summary>Process exit codes of <c>dfer</c>.</summary>
public static class ExitCodes
{
    /// <summary>Everything worked.</summary>
    public const int Ok = 0;

    /// <summary>At least one input file failed; the others were still processed and reported.</summary>
    public const int InputFailed = 1;

    /// <summary>The command line, the model, the backend or the weights are wrong; nothing was run.</summary>
    public const int Usage = 2;

    /// <summary>A bug in Dfer: an exception that is not a <see cref="DferException"/>.</summary>
    public const int Internal = 3;
}

/// <summary>
/// The <c>dfer</c> command line, callable in-process: <see cref="Run"/> parses, runs the command and
/// turns every failure into a one-line message and an exit code.
/// </summary>
public static class DferCli
{
    /// <summary>Name of the executable, as help and messages spell it.</summary>
    public const string ExecutableName = "dfer";

    /// <summary>Runs <c>dfer</c> with <paramref name="args"/>.</summary>
    /// <param name="args">The arguments after the executable name, e.g. <c>["infer", "--model", "m3dfel", "a.npy"]</c>.</param>
    /// <param name="stdout">Receives results only (JSON, tables, help).</param>
    /// <param name="stderr">Receives warnings, errors and progress.</param>
    /// <param name="showProgress">Print progress lines on <paramref name="stderr"/> (for a person at a terminal).</param>
    /// <returns>The exit code: one of <see cref="ExitCodes"/>.</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool showProgress = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var console = new CliConsole(stdout, stderr, showProgress);
        try
        {
            RootCommand root = BuildRoot(console);
            ParseResult parsed = root.Parse(args);
            if (parsed.Action is ParseErrorAction)
            {
                // System.CommandLine's own messages, but without the full help text it would add
                // (on stdout, where it would corrupt a result a script is waiting for).
                foreach (var error in parsed.Errors) console.Error(error.Message);
                string command = string.Join(' ', parsed.CommandResult.Command is RootCommand
                    ? [ExecutableName]
                    : new[] { ExecutableName, parsed.CommandResult.Command.Name });
                stderr.WriteLine($"Run '{command} --help' for usage.");
                return ExitCodes.Usage;
            }
            var invocation = new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                // Our handler below keeps errors to one line and picks the exit code.
                EnableDefaultExceptionHandler = false,
                // In-process callers (tests) must not get process-wide Ctrl+C handlers installed.
                ProcessTerminationTimeout = null,
            };
            return parsed.Invoke(invocation);
        }
        catch (DferException ex)
        {
            console.Error(ex.Message);
            if (console.Debug) stderr.WriteLine(ex.ToString());
            return ExitCodes.Usage;
        }
        catch (Exception ex)
        {
            stderr.WriteLine($"{ExecutableName}: internal error: {ex.GetType().FullName}: {CliConsole.OneLine(ex.Message)}");
            if (console.Debug) stderr.WriteLine(ex.ToString());
            return ExitCodes.Internal;
        }
        finally
        {
            stdout.Flush();
            stderr.Flush();
        }
    }

    private static RootCommand BuildRoot(CliConsole console)
    {
        var root = new RootCommand("Dfer: inference for dynamic facial-expression-recognition models (a 16-frame face clip in, 7 emotion scores out).")
        {
            InferCommand.Create(console),
            EvalCommand.Create(console),
            PreprocessCommand.Create(console),
            ConvertCommand.Create(console),
            ValidateCommand.Create(console),
            ProfileCommand.Create(console),
            BenchCommand.Create(console),
            DevicesCommand.Create(console),
        };
        return root;
    }
}
