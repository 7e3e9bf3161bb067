using ScottPlot;

namespace Dfer.Cli.Plots;

/// <summary>
/// Saves a ScottPlot figure as SVG or PNG by the file's extension: one plot model, drawn by
/// SkiaSharp for both (docs/dependencies.md).
/// </summary>
internal static class PlotFile
{
    /// <summary>Whether <paramref name="path"/> names a file <see cref="Save"/> writes (.svg or .png).</summary>
    public static bool IsPlot(string path) => Path.GetExtension(path).ToLowerInvariant() is ".svg" or ".png";

    /// <exception cref="DferException">Another extension, or the file cannot be written.</exception>
    public static void Save(Plot plot, string path, int width, int height, string what)
    {
        if (!IsPlot(path)) throw DferException.ForFile(path, $"the {what} is written as .svg or .png");
        try
        {
            if (Path.GetExtension(path).Equals(".svg", StringComparison.OrdinalIgnoreCase))
                plot.SaveSvg(path, width, height);
            else plot.SavePng(path, width, height);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write the {what} ({CliConsole.OneLine(e.Message)})");
        }
    }
}
