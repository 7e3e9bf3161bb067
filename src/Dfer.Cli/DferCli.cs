using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
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
    /// <param name="args">The arguments after the executable name, e.g. <c>["infer", "--model", "m3dfel",
    /// "a.npy"]</c>.</param>
    /// <param name="stdout">Receives results only (JSON, tables, help).</param>
    /// <param name="stderr">Receives warnings, errors and progress.</param>
    /// <param name="showProgress">Print progress lines on <paramref name="stderr"/> (for a person at a
    /// terminal).</param>
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
                // One line per problem, without the full help text System.CommandLine would add
                // (on stdout, where it would corrupt a result a script is waiting for).
                foreach (string message in ParseErrors.Describe(parsed)) console.Error(message);
                console.Plain($"Run '{ParseErrors.CommandLine(parsed.CommandResult)} --help' for usage.");
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
            foreach (string line in ex.Lines) console.Error(line);
            if (console.Debug) stderr.WriteLine(Trace(ex));
            return ExitCodes.Usage;
        }
        catch (Exception ex)
        {
            console.Plain($"{ExecutableName}: internal error: {ex.GetType().FullName}: {ex.Message}");
            if (console.Debug) stderr.WriteLine(Trace(ex));
            return ExitCodes.Internal;
        }
        finally
        {
            stdout.Flush();
            stderr.Flush();
        }
    }

    /// <summary>A stack trace for DFER_DEBUG: several lines, each escaped like every diagnostic (messages in it come
    /// from files too).</summary>
    private static string Trace(Exception ex) =>
        string.Join('\n', ex.ToString().ReplaceLineEndings("\n").Split('\n').Select(SafeText.Escape));

    /// <summary>The command tree (internal for tests that walk every option).</summary>
    internal static RootCommand BuildRoot(CliConsole console)
    {
        var root = new RootCommand(
            "Dfer: inference for dynamic facial-expression-recognition models (a 16-frame face clip in, 7 emotion "
            + "scores out).")
        {
            InferCommand.Create(console),
            EvalCommand.Create(console),
            PreprocessCommand.Create(console),
            FeaturesCommand.Create(console),
            ConvertCommand.Create(console),
            ExportCommand.Create(console),
            ValidateCommand.Create(console),
            ProfileCommand.Create(console),
            BenchCommand.Create(console),
            DevicesCommand.Create(console),
            Serve.ServeCommand.Create(console),
        };
        return root;
    }
}

/// <summary>
/// System.CommandLine's parse errors as <c>dfer</c> words them: one line per problem, naming the
/// option or argument and what is wrong (<c>--batch abc: not an integer</c> comes from the option's
/// own parser, <see cref="Commands.NumberOptions"/>), each said once, with no .NET type names.
/// </summary>
internal static class ParseErrors
{
    /// <summary>The messages for <paramref name="parsed"/>'s errors, in order, without repeats.</summary>
    public static IReadOnlyList<string> Describe(ParseResult parsed)
    {
        var messages = new List<string>();
        var missing = new Dictionary<CommandResult, List<string>>();
        foreach (ParseError error in parsed.Errors)
        {
            switch (error.SymbolResult)
            {
                // A command's required argument that got no token: gathered per command, said in one line.
                case ArgumentResult { Parent: CommandResult command } argument
                    when argument.Tokens.Count < argument.Argument.Arity.MinimumNumberOfValues:
                    if (!missing.TryGetValue(command, out var names))
                    {
                        missing[command] = names = [];
                        messages.Add(""); // its place in the order; filled in below
                    }
                    if (!names.Contains(argument.Argument.Name)) names.Add(argument.Argument.Name);
                    break;
                case OptionResult option when option.Tokens.Count == 0 && option.Option.Arity.MinimumNumberOfValues > 0:
                    messages.Add(option.IdentifierTokenCount == 0
                        ? $"{option.Option.Name} {HelpName(option.Option)}: required"
                        : $"{option.Option.Name}: needs a value ({HelpName(option.Option)})");
                    break;
                case OptionResult option when option.Tokens.Count > option.Option.Arity.MaximumNumberOfValues:
                    messages.Add($"{option.Option.Name}: given {option.Tokens.Count} times; give it once");
                    break;
                case CommandResult command:
                    messages.Add(CommandError(parsed, command, error.Message));
                    break;
                default:
                    messages.Add(error.Message);
                    break;
            }
        }
        int slot = 0;
        foreach (var (command, names) in missing)
        {
            slot = messages.IndexOf("", slot);
            messages[slot] = $"{(command.Command is RootCommand ? DferCli.ExecutableName : command.Command.Name)}: "
                + $"missing {Join(names)}";
        }
        return messages.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>"dfer" or "dfer convert": how the command is typed.</summary>
    public static string CommandLine(CommandResult command) =>
        command.Command is RootCommand ? DferCli.ExecutableName : $"{DferCli.ExecutableName} {command.Command.Name}";

    /// <summary>
    /// An error of a whole command: a token it does not know, or a missing subcommand. Both are said
    /// from what the parse found; a message of another kind is kept.
    /// </summary>
    private static string CommandError(ParseResult parsed, CommandResult command, string message)
    {
        string? token =
            parsed.UnmatchedTokens.FirstOrDefault(t => message.Contains($"'{t}'", StringComparison.Ordinal));
        bool needsSubcommand = command.Command.Subcommands.Count > 0 && parsed.CommandResult == command;
        string commands = string.Join(", ", command.Command.Subcommands.Select(c => c.Name));
        if (token is not null)
        {
            if (needsSubcommand && !token.StartsWith('-')) return $"{token}: not a command; commands: {commands}";
            return token.StartsWith('-') && token.Length > 1
                ? $"{token}: not an option of '{CommandLine(command)}'"
                : $"{(token.Length == 0 ? "''" : token)}: unexpected argument of '{CommandLine(command)}'";
        }
        if (needsSubcommand)
            return parsed.UnmatchedTokens.Count > 0
                ? $"{parsed.UnmatchedTokens[0]}: not a command; commands: {commands}"
                : $"a command is needed: {commands}";
        return message;
    }

    private static string HelpName(Option option) => option.HelpName ?? "VALUE";

    private static string Join(List<string> names) =>
        names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " and " + names[^1];
}
