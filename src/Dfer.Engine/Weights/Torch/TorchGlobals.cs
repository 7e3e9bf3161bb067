using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>
/// The fixed table that stands in for Python's imports: every GLOBAL a checkpoint names is looked
/// up here and becomes a C# behaviour (build a dict, rebuild a tensor) or an inert stand-in object.
/// Anything not listed is refused, so no name in a file can reach code that does something.
/// </summary>
internal static class TorchGlobals
{
    private static readonly Dictionary<string, GlobalKind> Table = new(StringComparer.Ordinal)
    {
        ["collections.OrderedDict"] = GlobalKind.OrderedDict,
        ["torch._utils._rebuild_tensor_v2"] = GlobalKind.RebuildTensorV2,
        ["torch._utils._rebuild_tensor"] = GlobalKind.RebuildTensor,
        ["torch._utils._rebuild_parameter"] = GlobalKind.RebuildParameter,
        ["torch._utils._rebuild_parameter_with_state"] = GlobalKind.RebuildParameterWithState,
        ["torch._tensor._rebuild_from_type_v2"] = GlobalKind.RebuildFromTypeV2,
        ["torch.Size"] = GlobalKind.TorchSize,
        ["_codecs.encode"] = GlobalKind.CodecsEncode,
        // Protocol 2 spells an empty bytes object as bytes() (there is no opcode for it).
        ["builtins.bytes"] = GlobalKind.Bytes,
        ["builtins.bytearray"] = GlobalKind.Bytes,

        // Inert: classes of metadata that training scripts save next to the weights. Calling
        // them yields an inert stand-in; their state is dropped.
        ["argparse.Namespace"] = GlobalKind.Inert,
        ["numpy.core.multiarray.scalar"] = GlobalKind.Inert,
        ["numpy.core.multiarray._reconstruct"] = GlobalKind.Inert,
        ["numpy._core.multiarray.scalar"] = GlobalKind.Inert,
        ["numpy._core.multiarray._reconstruct"] = GlobalKind.Inert,
        ["numpy.ndarray"] = GlobalKind.Inert,
        ["numpy.dtype"] = GlobalKind.Inert,
        ["builtins.set"] = GlobalKind.Inert,
        ["builtins.frozenset"] = GlobalKind.Inert,
        ["builtins.slice"] = GlobalKind.Inert,
        ["builtins.complex"] = GlobalKind.Inert,
        // omegaconf configs name these as type annotations of their nodes.
        ["builtins.dict"] = GlobalKind.Inert,
        ["builtins.list"] = GlobalKind.Inert,
        ["builtins.tuple"] = GlobalKind.Inert,
        ["builtins.str"] = GlobalKind.Inert,
        ["builtins.int"] = GlobalKind.Inert,
        ["builtins.float"] = GlobalKind.Inert,
        ["builtins.bool"] = GlobalKind.Inert,
        ["builtins.object"] = GlobalKind.Inert,
        ["typing.Any"] = GlobalKind.Inert,
        ["collections.defaultdict"] = GlobalKind.Inert,
        ["pathlib.Path"] = GlobalKind.Inert,
        ["pathlib.PosixPath"] = GlobalKind.Inert,
        ["pathlib.WindowsPath"] = GlobalKind.Inert,
        ["pathlib.PurePath"] = GlobalKind.Inert,
        ["pathlib.PurePosixPath"] = GlobalKind.Inert,
        ["pathlib.PureWindowsPath"] = GlobalKind.Inert,
        ["torch.torch_version.TorchVersion"] = GlobalKind.Inert,
        ["torch.device"] = GlobalKind.Inert,
        ["torch.Tensor"] = GlobalKind.Inert,
        ["torch.nn.parameter.Parameter"] = GlobalKind.Inert,
    };

    /// <summary>Storage classes by name: the tensor element type and the bytes per element as stored.</summary>
    private static readonly Dictionary<string, (DType DType, int Size)> Storages = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = (DType.F32, 4),
        ["HalfStorage"] = (DType.F16, 2),
        ["BFloat16Storage"] = (DType.BF16, 2),
        ["DoubleStorage"] = (DType.F64, 8),
        ["LongStorage"] = (DType.I64, 8),
        ["IntStorage"] = (DType.I32, 4),
        // int16 and int8 have no DType of their own; they widen exactly to I32.
        ["ShortStorage"] = (DType.I32, 2),
        ["CharStorage"] = (DType.I32, 1),
        ["ByteStorage"] = (DType.U8, 1),
        ["BoolStorage"] = (DType.Bool, 1),
        // Raw bytes (torch >= 2 names storages saved on their own this way).
        ["UntypedStorage"] = (DType.U8, 1),
    };

    // torch.float32 and friends pickle as globals of the torch module (optimizer states and
    // tensor metadata may hold them); they are values with no behaviour.
    private static readonly HashSet<string> TorchDTypes = new(StringComparer.Ordinal)
    {
        "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int64", "long",
        "int32", "int", "int16", "short", "int8", "uint8", "bool", "complex64", "complex128",
        "cfloat", "cdouble", "contiguous_format", "channels_last", "preserve_format", "strided",
    };

    /// <summary>Resolves module.name or throws the refusal naming it.</summary>
    internal static PyGlobal Resolve(string module, string name, Func<string, DferException> fail)
    {
        string written = module + "." + name;
        // Protocol 2 pickles written by Python 3 spell builtins the Python 2 way.
        string canonical = module switch
        {
            "__builtin__" => "builtins." + name,
            "copy_reg" => "copyreg." + name,
            _ => written,
        };
        if (Table.TryGetValue(canonical, out GlobalKind kind)) return new PyGlobal(canonical, kind);
        if (module == "omegaconf" || module.StartsWith("omegaconf.", StringComparison.Ordinal))
            return new PyGlobal(canonical, GlobalKind.Inert);
        if (module == "torch.optim" || module.StartsWith("torch.optim.", StringComparison.Ordinal))
            return new PyGlobal(canonical, GlobalKind.Inert);
        if (module == "torch")
        {
            if (Storages.TryGetValue(name, out var storage))
                return new PyGlobal(canonical, GlobalKind.StorageType, storage.DType);
            if (TorchDTypes.Contains(name)) return new PyGlobal(canonical, GlobalKind.Inert);
            if (name.EndsWith("Storage", StringComparison.Ordinal))
                throw fail($"holds tensors of storage type {SafeText.Quote(canonical)}, which Dfer does not read (it "
                    + $"reads {SupportedStorages})");
        }
        string hint = char.IsUpper(name.FirstOrDefault()) && !SystemModules.Contains(module.Split('.')[0])
            ? "; a pickled model or other object of your own classes cannot be read: save model.state_dict() instead"
            : "";
        throw fail($"refuses to load global {SafeText.Quote(written)} (nothing in a checkpoint is executed; Dfer only "
            + $"rebuilds tensors and plain containers){hint}");
    }

    // Classes of these modules are not the user's own, so the hint about pickled models would mislead.
    private static readonly HashSet<string> SystemModules = new(StringComparer.Ordinal)
    {
        "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "shutil", "socket", "ctypes",
        "pty", "code", "runpy", "importlib", "pickle", "marshal", "types", "functools", "operator",
        "multiprocessing", "threading", "asyncio", "io", "_io", "codecs", "_codecs", "tempfile", "webbrowser",
        "copyreg", "copy_reg", "collections", "numpy", "typing",
    };

    internal static int ElementSize(PyGlobal storageType) =>
        Storages[storageType.Name["torch.".Length..]].Size;

    private static string SupportedStorages =>
        "float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8 and bool";
}
