using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dfer.Cli.Serve;

/// <summary>
/// The web page of <c>dfer serve</c> at <c>/</c>: pick or drop a video, choose a served model, and see what the video
/// endpoint (<see cref="VideoEndpoint"/>) answers: the label, the probability timeline, the face boxes over the playing
/// video and RDFER's key frames. Plain HTML, JavaScript and CSS embedded in the assembly (Serve/wwwroot/), no build
/// step; the page loads nothing from elsewhere (its Content-Security-Policy allows this server only), so it works
/// offline.
/// </summary>
internal static class WebPage
{
    /// <summary>The page's files and their content types.</summary>
    public static readonly IReadOnlyDictionary<string, string> Files = new Dictionary<string, string>
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["app.js"] = "text/javascript; charset=utf-8",
        ["style.css"] = "text/css; charset=utf-8",
    };

    /// <summary>Scripts, styles, media and requests from this server only; video frames drawn from the local file
    /// (blob:) and the thumbnails (data:).</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; "
        + "connect-src 'self'; media-src 'self' blob:; img-src 'self' blob: data:; base-uri 'none'; "
        + "form-action 'none'; frame-ancestors 'none'";

    public static void Map(WebApplication app)
    {
        foreach (var (file, type) in Files)
        {
            byte[] body = Read(file);
            IResult Serve(HttpContext http)
            {
                var headers = http.Response.Headers;
                headers.CacheControl = "no-cache";
                headers.XContentTypeOptions = "nosniff";
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                return Results.Bytes(body, type);
            }
            app.MapGet("/" + file, Serve);
            if (file == "index.html") app.MapGet("/", Serve);
        }
    }

    /// <summary>An embedded file of the page (LogicalName Dfer.Cli.Serve.wwwroot.FILE in Dfer.Cli.csproj).</summary>
    public static byte[] Read(string file)
    {
        string name = "Dfer.Cli.Serve.wwwroot." + file;
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"the web page's {file} is not embedded ({name})");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
