using Dfer.Devices;

namespace Dfer.Weights.TfJs;

/// <summary>
/// Where the npm package <c>@vladmandic/face-api</c> 1.7.15 (MIT) was unpacked by
/// <c>scripts/fetch-face-api.sh</c>: <c>$DFER_FACE_API</c> when set, else
/// <c>${XDG_CACHE_HOME:-~/.cache}/dfer/face-api-1.7.15</c>. It holds <c>model/</c> (TF.js weights),
/// <c>src/</c> and <c>demo/</c>.
/// </summary>
public static class FaceApiPackage
{
    public const string Version = "1.7.15";
    public const string FetchCommand = "./scripts/fetch-face-api.sh";
    public const string ExpressionModel = "face_expression_model";
    public const string DetectorModel = "tiny_face_detector_model";
    public const string SsdDetectorModel = "ssd_mobilenetv1_model";

    /// <summary>The cache folder (which may not exist yet).</summary>
    public static string Directory
    {
        get
        {
            return EngineEnvironment.FaceApiDirectory
                ?? Path.Combine(EngineEnvironment.CacheHome, "dfer", $"face-api-{Version}");
        }
    }

    /// <summary>The manifest path of <paramref name="model"/> when it is in the cache, else null.</summary>
    public static string? TryManifest(string model)
    {
        string path = Path.Combine(Directory, "model", $"{model}-weights_manifest.json");
        return File.Exists(path) ? path : null;
    }

    /// <summary>The manifest path of <paramref name="model"/>; a one-line error naming the fetch command when it is
    /// missing.</summary>
    public static string Manifest(string model) => TryManifest(model) ?? throw new DferException(
        $"the pretrained face-api weights are not in {Directory} (model/{model}-weights_manifest.json): "
        + $"run {FetchCommand} once (needs npm), or set DFER_FACE_API to where they are");

    /// <summary>Loads <paramref name="model"/>'s weights from the cache.</summary>
    public static StateDict Load(string model) => TfJsWeights.Load(Manifest(model));
}
