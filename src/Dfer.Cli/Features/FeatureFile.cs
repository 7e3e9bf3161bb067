using System.Globalization;
using System.Runtime.InteropServices;
using Dfer.Cli.Json;
using Dfer.Faces;
using Dfer.Models;
using Dfer.Pipelines;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Cli.Features;

/// <summary>
/// Writes one video's per-frame features as <c>dfer features</c> promises (docs/temporal-encoder.md, "Feature
/// files"): every frame is a row, a frame without a face a row of NaN.
/// <list type="bullet">
/// <item><c>.npy</c>: float32 [frames, D] of one layer, with the sidecar <c>F.json</c>
/// (<see cref="FeaturesSidecarJson"/>: frame numbers, times, boxes);</item>
/// <item><c>.safetensors</c>: both layers and the per-frame facts as tensors (<see cref="TensorNames"/>), what the run
/// was in its metadata.</item>
/// </list>
/// Each file is written under a temporary name and renamed when complete, so an interrupted run never leaves a
/// truncated file under the final name.
/// </summary>
internal static class FeatureFile
{
    public const string NpyExtension = ".npy";
    public const string SafetensorsExtension = ".safetensors";

    /// <summary>The tensors of a .safetensors features file, in the order written.</summary>
    public static readonly IReadOnlyList<string> TensorNames =
        [TemporalFeatures.Pooled, TemporalFeatures.Logits, "face", "frame", "time", "box", "score"];

    /// <summary>The layers <c>--layer</c> names, and the feature each one is.</summary>
    public static readonly IReadOnlyDictionary<string, string> Layers = new Dictionary<string, string>
    {
        ["pooled"] = TemporalFeatures.Pooled,
        ["logits"] = TemporalFeatures.Logits,
    };

    /// <summary>The sidecar of an .npy file: same folder and name, extension .json.</summary>
    public static string SidecarOf(string npy) => Path.ChangeExtension(npy, ".json");

    /// <summary>Writes <paramref name="r"/> to <paramref name="path"/>, by its extension.</summary>
    /// <param name="layer">For .npy: the feature written (<see cref="TemporalFeatures.Pooled"/> or
    /// <see cref="TemporalFeatures.Logits"/>); .safetensors holds both.</param>
    /// <param name="weights">The networks, as recorded in the file.</param>
    public static void Write(ExpressionReport r, string path, string layer, string weights)
    {
        if (path.EndsWith(NpyExtension, StringComparison.OrdinalIgnoreCase)) WriteNpy(r, path, layer, weights);
        else WriteSafetensors(r, path, weights);
    }

    private static void WriteNpy(ExpressionReport r, string path, string layer, string weights)
    {
        int n = r.Frames.Count, d = TemporalEncoderConfig.FeatureSizes[layer];
        float[] rows = Rows(r, layer);
        string sidecar = SidecarOf(path);
        var json = new FeaturesSidecarJson(r.Input, "expression", weights, r.Detector, layer, [n, d], n,
            r.FramesWithFace, Fps(r), [r.FrameWidth, r.FrameHeight],
            r.Frames.Select(f =>
                new FeaturesSidecarJson.FrameFacts(f.Index, Time(r, f.Index), ExpressionJson.FaceOf(f.Face),
                    f.Detected)).ToList());
        Atomically(sidecar, tmp => WriteText(tmp, DferJson.ToLine(json, DferJson.Default.FeaturesSidecarJson) + "\n"));
        Atomically(path, tmp => Dfer.Tensors.Npy.WriteFloat32(tmp, rows, [n, d]));
    }

    private static void WriteSafetensors(ExpressionReport r, string path, string weights)
    {
        int n = r.Frames.Count;
        var face = new byte[n];
        var frame = new long[n];
        var time = new double[n];
        var box = new float[n * 4];
        var score = new float[n];
        for (int i = 0; i < n; i++)
        {
            ExpressionFrame f = r.Frames[i];
            frame[i] = f.Index;
            time[i] = Time(r, f.Index) ?? double.NaN;
            if (f.Face is FaceBox b)
            {
                face[i] = 1;
                (box[4 * i], box[4 * i + 1], box[4 * i + 2], box[4 * i + 3]) =
                    ((float)b.X0, (float)b.Y0, (float)b.Width, (float)b.Height);
                score[i] = (float)b.Score;
            }
            else
            {
                box.AsSpan(4 * i, 4).Fill(float.NaN);
                score[i] = float.NaN;
            }
        }
        var tensors = new List<(string, DType, long[], byte[])>
        {
            (TemporalFeatures.Pooled, DType.F32, [n, TemporalFeatures.PooledSize],
                Bytes<float>(Rows(r, TemporalFeatures.Pooled))),
            (TemporalFeatures.Logits, DType.F32, [n, TemporalFeatures.LogitsSize],
                Bytes<float>(Rows(r, TemporalFeatures.Logits))),
            ("face", DType.U8, [n], face),
            ("frame", DType.I64, [n], Bytes<long>(frame)),
        };
        if (r.Fps is not null) tensors.Add(("time", DType.F64, [n], Bytes<double>(time)));
        tensors.Add(("box", DType.F32, [n, 4], Bytes<float>(box)));
        tensors.Add(("score", DType.F32, [n], Bytes<float>(score)));
        var c = CultureInfo.InvariantCulture;
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "dfer-features",
            ["input"] = r.Input,
            ["model"] = "expression",
            ["weights"] = weights,
            ["detector"] = r.Detector,
            ["frames"] = n.ToString(c),
            ["frames_with_face"] = r.FramesWithFace.ToString(c),
            ["frame_size"] = string.Create(c, $"{r.FrameWidth},{r.FrameHeight}"),
        };
        if (Fps(r) is double fps) metadata["fps"] = fps.ToString(c);
        Atomically(path, tmp => SafetensorsWriter.Write(tmp, tensors, metadata));
    }

    /// <summary>The rows of one feature: the frame's vector, or NaN where it has no face.</summary>
    private static float[] Rows(ExpressionReport r, string layer)
    {
        int d = TemporalEncoderConfig.FeatureSizes[layer];
        var rows = new float[(long)r.Frames.Count * d];
        for (int i = 0; i < r.Frames.Count; i++)
        {
            float[]? v = layer == TemporalFeatures.Logits ? r.Frames[i].Logits : r.Frames[i].Pooled;
            if (v is null) rows.AsSpan(i * d, d).Fill(float.NaN);
            else v.CopyTo(rows, (long)i * d);
        }
        return rows;
    }

    private static double? Fps(ExpressionReport r) => r.Fps is double fps ? Math.Round(fps, 3) : null;

    private static double? Time(ExpressionReport r, int frame) =>
        r.Fps is double fps && fps > 0 ? Math.Round(frame / fps, 4) : null;

    private static byte[] Bytes<T>(T[] values) where T : unmanaged =>
        MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>Writes through <paramref name="write"/> to a temporary file beside <paramref name="path"/>, then
    /// renames it over <paramref name="path"/>.</summary>
    private static void Atomically(string path, Action<string> write)
    {
        string tmp = path + ".partial";
        try
        {
            write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            throw DferException.ForFile(path, $"cannot write the features: {ex.Message}");
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
    }

    private static void WriteText(string path, string text) => File.WriteAllText(path, text);
}
