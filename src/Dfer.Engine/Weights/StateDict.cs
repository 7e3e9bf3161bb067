using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>One named tensor of a state dict, widened to float32 (int64 counters are converted too; none are used for
/// compute).</summary>
public sealed record StateTensor(string Name, DType DType, long[] Shape, float[] Data)
{
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A model's weights by PyTorch state-dict name, independent of the file they came from. The
/// DataParallel prefix <c>module.</c> is stripped on load.
/// </summary>
public sealed class StateDict
{
    private readonly Dictionary<string, StateTensor> _tensors = new(StringComparer.Ordinal);

    public StateDict(string source) { Source = source; }

    /// <summary>Where the weights came from (a path, or a note such as "generated (seed 1)"), for messages.</summary>
    public string Source { get; }

    public IReadOnlyCollection<string> Names => _tensors.Keys;
    public int Count => _tensors.Count;

    public bool TryGet(string name, out StateTensor tensor) => _tensors.TryGetValue(name, out tensor!);

    public StateTensor this[string name] => _tensors[name];

    public void Add(string name, DType dtype, long[] shape, float[] data)
    {
        if (!_tensors.TryAdd(name, new StateTensor(name, dtype, shape, data)))
            throw DferException.ForFile(Source,
                $"tensor {SafeText.Quote(name)} appears twice (once with and once without the 'module.' prefix?)");
    }

    /// <summary>
    /// Loads weights from a PyTorch checkpoint (a torch.save file, whatever its extension: .pth,
    /// .pt, .ckpt, .bin, .tar) or a .safetensors file, telling them apart by content. Tensors are
    /// widened to float32; integer tensors (int64 counters and the like) are converted too.
    /// </summary>
    /// <param name="path">The weights file.</param>
    /// <param name="key">For a PyTorch checkpoint, the entry holding the state dict (see
    /// <see cref="TorchCheckpoint.ReadStateDict"/>); null to detect it.</param>
    public static StateDict Load(string path, string? key = null)
    {
        if (!File.Exists(path))
            throw DferException.ForFile(path, Directory.Exists(path) ? "is a directory, not a file" : "no such file");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        // A .safetensors file is read as one even when damaged, so that its errors say what is wrong
        // with it; only other files are sniffed.
        if (ext != ".safetensors" && TorchCheckpoint.LooksLikeTorchFile(path))
            return FromTorch(path, key);
        if (ext != ".safetensors" && !LooksLikeSafetensors(path))
            throw DferException.ForFile(path, "is neither a PyTorch checkpoint (torch.save) nor a safetensors file");
        if (key is not null)
            throw DferException.ForFile(path,
                $"is a safetensors file, which holds one flat state dict; --key {key} applies to PyTorch checkpoints "
                + "only");
        using var file = SafetensorsFile.Open(path);
        var sd = new StateDict(path);
        foreach (var e in file.Entries)
        {
            float[] data = e.DType == DType.I64 ? file.ReadInt64(e).Select(v => (float)v).ToArray()
                : file.ReadFloat32(e);
            sd.Add(StripPrefix(e.Name), e.DType, e.Shape, data);
        }
        return sd;
    }

    private static StateDict FromTorch(string path, string? key)
    {
        var sd = new StateDict(path);
        foreach (RawTensor t in TorchCheckpoint.ReadStateDict(path, key))
        {
            int count = t.Data.Length / t.DType.Size();
            var data = new float[count];
            switch (t.DType)
            {
                case DType.F32: ElementConversion.CopyFloat32(t.Data, data); break;
                case DType.F16: ElementConversion.WidenFloat16(t.Data, data); break;
                case DType.BF16: ElementConversion.WidenBFloat16(t.Data, data); break;
                case DType.F64: ElementConversion.NarrowFloat64(t.Data, data); break;
                default:
                    {
                        var ints = new long[count];
                        if (t.DType == DType.I64) ElementConversion.CopyInt64(t.Data, ints);
                        else if (t.DType == DType.I32) ElementConversion.WidenInt32(t.Data, ints);
                        else ElementConversion.WidenUInt8(t.Data, ints);
                        for (int i = 0; i < count; i++) data[i] = ints[i];
                        break;
                    }
            }
            sd.Add(t.Name, t.DType, t.Shape, data);
        }
        return sd;
    }

    /// <summary>An 8-byte little-endian header length that fits the file, then the header's '{'.</summary>
    private static bool LooksLikeSafetensors(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Span<byte> head = stackalloc byte[9];
            if (stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length) return false;
            ulong length = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(head);
            return head[8] == (byte)'{' && length <= (ulong)(stream.Length - 8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The name without DataParallel's <c>module.</c> prefix.</summary>
    public static string StripPrefix(string name)
        => name.StartsWith("module.", StringComparison.Ordinal) ? name["module.".Length..] : name;

    /// <summary>
    /// Checks names and shapes against what a model expects and throws one message listing every
    /// missing key, unexpected key and wrong shape (a few names each), and any non-finite weight.
    /// </summary>
    public void Validate(string model, IReadOnlyList<(string Name, long[] Shape)> expected)
    {
        var want = expected.ToDictionary(e => e.Name, e => e.Shape);
        var missing = expected.Where(e => !_tensors.ContainsKey(e.Name)).Select(e => e.Name).ToList();
        var unexpected = _tensors.Keys.Where(k => !want.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal)
            .Select(k => SafeText.Quote(k)).ToList();
        var wrong = expected.Where(e => _tensors.TryGetValue(e.Name, out var t) && !t.Shape.SequenceEqual(e.Shape))
            .Select(e => $"'{e.Name}' is {_tensors[e.Name].ShapeText}, expected [{string.Join(", ", e.Shape)}]")
            .ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add($"missing {missing.Count} of {expected.Count} keys ({List(missing)})");
        if (unexpected.Count > 0) problems.Add($"{unexpected.Count} unexpected keys ({List(unexpected)})");
        if (wrong.Count > 0) problems.Add($"{wrong.Count} wrong shapes ({List(wrong)})");
        if (problems.Count > 0)
        {
            string hint = missing.Count == expected.Count ? $"these are not {model} weights: "
                : $"not a valid {model} state dict: ";
            throw DferException.ForFile(Source, hint + string.Join("; ", problems));
        }
        foreach (var t in _tensors.Values)
            foreach (float v in t.Data)
                if (!float.IsFinite(v))
                    throw DferException.ForFile(Source,
                        $"tensor {SafeText.Quote(t.Name)} contains {(float.IsNaN(v) ? "NaN" : "Inf")}; the checkpoint "
                        + "is broken (did training diverge?)");
    }

    private static string List(List<string> items) =>
        items.Count <= 4 ? string.Join(", ", items) : string.Join(", ", items.Take(4))
        + $", and {items.Count - 4} more";
}
