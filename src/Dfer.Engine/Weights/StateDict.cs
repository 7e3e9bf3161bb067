using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>One named tensor of a state dict, widened to float32 (int64 counters are converted too; none are used for compute).</summary>
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
            throw DferException.ForFile(Source, $"tensor '{name}' appears twice (once with and once without the 'module.' prefix?)");
    }

    /// <summary>Loads weights from a .safetensors file.</summary>
    public static StateDict Load(string path)
    {
        if (!File.Exists(path)) throw DferException.ForFile(path, "no such file");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".pth" or ".pt" or ".ckpt" or ".bin")
            throw DferException.ForFile(path, "PyTorch checkpoints are not read yet; convert once with safetensors.torch.save_file({k: v.contiguous() for k, v in state_dict.items()}, 'w.safetensors')");
        if (ext != ".safetensors")
            throw DferException.ForFile(path, $"unsupported weight format '{ext}'; Dfer reads .safetensors");
        using var file = SafetensorsFile.Open(path);
        var sd = new StateDict(path);
        foreach (var e in file.Entries)
        {
            float[] data = e.DType == DType.I64 ? file.ReadInt64(e).Select(v => (float)v).ToArray() : file.ReadFloat32(e);
            sd.Add(StripPrefix(e.Name), e.DType, e.Shape, data);
        }
        return sd;
    }

    /// <summary>The name without DataParallel's <c>module.</c> prefix.</summary>
    public static string StripPrefix(string name) => name.StartsWith("module.", StringComparison.Ordinal) ? name["module.".Length..] : name;

    /// <summary>
    /// Checks names and shapes against what a model expects and throws one message listing every
    /// missing key, unexpected key and wrong shape (a few names each), and any non-finite weight.
    /// </summary>
    public void Validate(string model, IReadOnlyList<(string Name, long[] Shape)> expected)
    {
        var want = expected.ToDictionary(e => e.Name, e => e.Shape);
        var missing = expected.Where(e => !_tensors.ContainsKey(e.Name)).Select(e => e.Name).ToList();
        var unexpected = _tensors.Keys.Where(k => !want.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrong = expected.Where(e => _tensors.TryGetValue(e.Name, out var t) && !t.Shape.SequenceEqual(e.Shape))
            .Select(e => $"'{e.Name}' is {_tensors[e.Name].ShapeText}, expected [{string.Join(", ", e.Shape)}]").ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add($"missing {missing.Count} of {expected.Count} keys ({List(missing)})");
        if (unexpected.Count > 0) problems.Add($"{unexpected.Count} unexpected keys ({List(unexpected)})");
        if (wrong.Count > 0) problems.Add($"{wrong.Count} wrong shapes ({List(wrong)})");
        if (problems.Count > 0)
        {
            string hint = missing.Count == expected.Count ? $"these are not {model} weights: " : $"not a valid {model} state dict: ";
            throw DferException.ForFile(Source, hint + string.Join("; ", problems));
        }
        foreach (var t in _tensors.Values)
            foreach (float v in t.Data)
                if (!float.IsFinite(v))
                    throw DferException.ForFile(Source, $"tensor '{t.Name}' contains {(float.IsNaN(v) ? "NaN" : "Inf")}; the checkpoint is broken (did training diverge?)");
    }

    private static string List(List<string> items) =>
        items.Count <= 4 ? string.Join(", ", items) : string.Join(", ", items.Take(4)) + $", and {items.Count - 4} more";
}
