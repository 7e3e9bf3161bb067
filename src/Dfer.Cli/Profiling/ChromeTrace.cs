using Dfer.Cli.Json;
using Dfer.Runtime;

namespace Dfer.Cli.Profiling;

/// <summary>
/// Writes a profile as a Chrome trace (the JSON Object Format that Perfetto and chrome://tracing
/// open): the events of <see cref="ChromeTraceJson"/>.
/// </summary>
internal static class ChromeTrace
{
    public static void Write(string path, ProfileResult profile)
    {
        try
        {
            using var stream = File.Create(path);
            DferJson.Serialize(stream, ChromeTraceJson.From(profile), DferJson.Default.ChromeTraceJson);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write the trace: {ex.Message}");
        }
    }
}
