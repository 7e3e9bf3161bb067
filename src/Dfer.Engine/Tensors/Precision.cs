namespace Dfer.Tensors;

/// <summary>
/// The arithmetic a backend computes in. Every mode accumulates in fp32; they differ in what the
/// multiplications see: fp32 operands (exact), operands rounded to TF32 (10 mantissa bits), or
/// operands and stored activations in bfloat16 (7 bits) or IEEE half (10 bits).
/// </summary>
public enum Precision
{
    Fp32,
    Tf32,
    Bf16,
    Fp16,
}

public static class PrecisionExtensions
{
    /// <summary>The name the CLI and reports use.</summary>
    public static string Name(this Precision p) => p switch
    {
        Precision.Fp32 => "fp32",
        Precision.Tf32 => "tf32",
        Precision.Bf16 => "bf16",
        Precision.Fp16 => "fp16",
    };

    /// <summary>Parses a CLI spelling (fp32, tf32, bf16, fp16); anything else is a <see cref="DferException"/> listing
    /// them.</summary>
    public static Precision Parse(string text) => text.ToLowerInvariant() switch
    {
        "fp32" or "f32" => Precision.Fp32,
        "tf32" => Precision.Tf32,
        "bf16" => Precision.Bf16,
        "fp16" or "f16" => Precision.Fp16,
        _ => throw new DferException($"unknown precision '{text}': use fp32, tf32, bf16 or fp16"),
    };

    /// <summary>Whether activations are stored in 16 bits.</summary>
    public static bool Is16Bit(this Precision p) => p is Precision.Bf16 or Precision.Fp16;
}
