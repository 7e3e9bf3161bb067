using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Dfer.Devices.Cpu;

namespace Dfer.Cli.Commands;

/// <summary>
/// The bounds of <c>dfer</c>'s numeric options. Each keeps an accepted value from crashing the
/// process or asking for unbounded time or memory by itself; a value outside one is a usage error
/// (exit code 2) before anything runs.
/// </summary>
internal static class Limits
{
    /// <summary>--threads: the cpu backend's thread pool bound (see <see cref="CpuThreadPool.MaxThreads"/> for
    /// why).</summary>
    public const int MaxThreads = CpuThreadPool.MaxThreads;

    /// <summary>--batch: clips per forward pass. An m3dfel clip is 2.4 MB and an ifdd clip 9.6 MB of input
    /// alone.</summary>
    public const int MaxBatch = 1024;

    /// <summary>--decode-threads: video decoders of a dataset run (each holds a decoded clip or two).</summary>
    public const int MaxDecodeThreads = 64;

    /// <summary>--warmup and --repeats of bench and profile: forward passes, each seconds long on a cpu.</summary>
    public const int MaxPasses = 1000;

    /// <summary>--top of profile: more than the layers of any model lists them all.</summary>
    public const int MaxTop = 1000;

    /// <summary>--window of --model expression: frames of the temporal mean (1000 is half a minute at 30
    /// fps).</summary>
    public const int MaxWindow = 1000;

    /// <summary>--size of validate: M3DFEL's four stride-2 stages need frames of at least 16x16 (its constructor
    /// refuses less); at most its own 112.</summary>
    public const int MinM3dfelSize = 16;

    /// <summary>--detector-size of --model expression: the face detector's square input, a multiple of 32.</summary>
    public const int MinDetectorSize = 32, MaxDetectorSize = 1024;

    /// <summary>--frames of bench --detector: frames per benchmark clip (each 640 pixels wide, about 0.8 MB).</summary>
    public const int MaxClipFrames = 1000;
}

/// <summary>
/// Integer options whose every parse error is one line naming the option and the text, e.g.
/// <c>--batch abc: not an integer</c> or <c>--threads 100000: at most 1024 (this machine has 2
/// cores)</c>, instead of System.CommandLine's message with .NET type names. Every numeric option of
/// <c>dfer</c> is made here.
/// </summary>
internal static class NumberOptions
{
    /// <summary>An int option with a default, accepting <paramref name="min"/>..<paramref name="max"/>.</summary>
    /// <param name="maxNote">Added to the "at most" message, e.g. why the bound is there.</param>
    /// <param name="check">What else is wrong with an in-range value (e.g. "not a multiple of 32"), or null.</param>
    public static Option<int> Int(string name, int defaultValue, int min, int max, string? maxNote = null,
        Func<int, string?>? check = null)
    {
        var option = new Option<int>(name) { HelpName = "N", DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result => Parse(result, name, min, max, maxNote, check) ?? defaultValue;
        return option;
    }

    /// <summary>An optional (null when absent) integer option of type <typeparamref name="T"/>, accepting
    /// <paramref name="min"/>..<paramref name="max"/>.</summary>
    public static Option<T?> Optional<T>(string name, T min, T max, string? maxNote = null,
        Func<T, string?>? check = null)
        where T : struct, IBinaryInteger<T>
    {
        var option = new Option<T?>(name) { HelpName = "N" };
        option.CustomParser = result => Parse(result, name, min, max, maxNote, check);
        return option;
    }

    /// <summary>A real-valued option with a default, accepting <paramref name="min"/>..<paramref name="max"/>
    /// (finite, invariant culture).</summary>
    public static Option<double> Real(string name, double defaultValue, double min, double max)
    {
        var option = new Option<double>(name) { HelpName = "X", DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return defaultValue;
            string text = result.Tokens[^1].Value;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                || !double.IsFinite(v))
                result.AddError($"{name} {Shown(text)}: not a number");
            else if (v < min)
                result.AddError($"{name} {Shown(text)}: at least {min.ToString(CultureInfo.InvariantCulture)}");
            else if (v > max)
                result.AddError($"{name} {Shown(text)}: at most {max.ToString(CultureInfo.InvariantCulture)}");
            else return v;
            return defaultValue;
        };
        return option;
    }

    /// <summary>The last token as a <typeparamref name="T"/> in range, or null with an error on
    /// <paramref name="result"/>.</summary>
    private static T? Parse<T>(ArgumentResult result, string name, T min, T max, string? maxNote,
        Func<T, string?>? check)
        where T : struct, IBinaryInteger<T>
    {
        // With no token the default applies (System.CommandLine reports a missing value itself).
        if (result.Tokens.Count == 0) return null;
        string text = result.Tokens[^1].Value;
        string? problem = null;
        T parsed = default;
        if (!BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
            out BigInteger value))
            problem = "not an integer";
        else if (value < BigInteger.CreateChecked(min))
            problem = $"at least {min}";
        else if (value > BigInteger.CreateChecked(max))
            problem = $"at most {max}{(maxNote is null ? "" : " " + maxNote)}";
        else
        {
            parsed = T.CreateChecked(value);
            problem = check?.Invoke(parsed);
        }
        if (problem is null) return parsed;
        result.AddError($"{name} {Shown(text)}: {problem}");
        return null;
    }

    /// <summary>A value as messages show it: empty as '', long ones cut (the console escapes the rest).</summary>
    private static string Shown(string text) =>
        text.Length == 0 ? "''" : text.Length <= 40 ? text : text[..40] + "…";
}
