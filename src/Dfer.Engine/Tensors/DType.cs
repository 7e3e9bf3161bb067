namespace Dfer.Tensors;

/// <summary>Element types Dfer reads or computes with.</summary>
public enum DType
{
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    U8,
    Bool,
}

public static class DTypeExtensions
{
    /// <summary>Size of one element in bytes.</summary>
    public static int Size(this DType t) => t switch
    {
        DType.F32 => 4,
        DType.F16 => 2,
        DType.BF16 => 2,
        DType.F64 => 8,
        DType.I64 => 8,
        DType.I32 => 4,
        DType.U8 => 1,
        DType.Bool => 1,
    };

    /// <summary>The name safetensors uses for this type.</summary>
    public static string SafetensorsName(this DType t) => t switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.F64 => "F64",
        DType.I64 => "I64",
        DType.I32 => "I32",
        DType.U8 => "U8",
        DType.Bool => "BOOL",
    };
}
