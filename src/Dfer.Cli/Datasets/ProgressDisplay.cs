using Spectre.Console;
using Spectre.Console.Rendering;

namespace Dfer.Cli.Datasets;

/// <summary>
/// The progress bar of a dataset run on stderr: done/total, rate and time left, drawn by
/// Spectre.Console (a maintained library that redraws in place and keeps diagnostics printed
/// during the run above the bar). Only shown to a person at a terminal; logs get none.
/// </summary>
internal static class ProgressDisplay
{
    /// <summary>Advances the bar by one item.</summary>
    public interface ISink
    {
        void Advance();
    }

    /// <summary>Runs <paramref name="body"/> under a bar of <paramref name="total"/> items named
    /// <paramref name="title"/>.</summary>
    public static void Run(CliConsole console, string title, int total, Action<ISink> body)
    {
        if (!console.ShowProgress || total == 0)
        {
            body(new NoBar());
            return;
        }
        IAnsiConsole ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(console.Err),
            Ansi = AnsiSupport.Detect,
            Interactive = InteractionSupport.Detect,
        });
        ansi.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new CountColumn(), new RateColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(Markup.Escape(title), maxValue: total);
                console.Live = line => ansi.WriteLine(line);
                try
                {
                    body(new Bar(task));
                }
                finally
                {
                    console.Live = null;
                }
            });
    }

    private sealed class NoBar : ISink
    {
        public void Advance() { }
    }

    private sealed class Bar(ProgressTask task) : ISink
    {
        public void Advance() => task.Increment(1);
    }

    /// <summary>"37/120".</summary>
    private sealed class CountColumn : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{task.Value:0}/{task.MaxValue:0}");
    }

    /// <summary>Videos per second over the recent past.</summary>
    private sealed class RateColumn : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is double speed ? $"{speed:0.00} videos/s" : "-- videos/s");
    }
}
