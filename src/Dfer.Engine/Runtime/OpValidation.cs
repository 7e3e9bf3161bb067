using Dfer.Backends;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Runtime;

/// <summary>Outcome of one op case on one backend.</summary>
public enum CaseStatus { Pass, Fail, Unsupported, Skipped }

/// <summary>The bounds a case is judged by: NMSE ≤ <see cref="Nmse"/> and every |a−b| ≤ Atol +
/// Rtol·|b|.</summary>
public sealed record Tolerance(double Nmse, double Atol, double Rtol)
{
    /// <summary>fp32 kernels against the float64 Reference (docs/architecture.md).</summary>
    public static readonly Tolerance Fp32 = new(Numerics.Fp32Nmse, 1e-5, 1e-4);

    /// <summary>
    /// Operands rounded to TF32 (10 explicit mantissa bits, relative error ≤ 2⁻¹¹ each), fp32
    /// accumulation and output: per-product relative error about 2⁻¹¹·√2, so the NMSE of a sum of
    /// random-signed products is about 2·(2⁻¹¹)²/3 ≈ 1.6e-7; bound 2e-6 (a 12× margin).
    /// </summary>
    public static readonly Tolerance Tf32 = new(2e-6, 4e-3, 2e-3);

    /// <summary>
    /// bfloat16 operands and output (7 explicit mantissa bits: 2⁻⁹ relative per rounding), fp32
    /// accumulation: NMSE ≈ 3·(2⁻⁹)²/3 ≈ 3.8e-6 from the two operand roundings and the output's;
    /// bound 1e-4. The absolute bound covers one output rounding of a value near 4 plus the sum's error.
    /// </summary>
    public static readonly Tolerance Bf16 = new(1e-4, 2e-2, 1.6e-2);

    /// <summary>IEEE half operands and output (10 mantissa bits: 2⁻¹² relative per rounding), fp32 accumulation:
    /// NMSE ≈ 6e-8; bound 2e-6.</summary>
    public static readonly Tolerance Fp16 = new(2e-6, 4e-3, 2e-3);

    /// <summary>The bounds for kernels computing in <paramref name="precision"/> (fp32 accumulation in every
    /// mode).</summary>
    public static Tolerance For(Precision precision) => precision switch
    {
        Precision.Fp32 => Fp32,
        Precision.Tf32 => Tf32,
        Precision.Bf16 => Bf16,
        Precision.Fp16 => Fp16,
    };
}

/// <summary>One row of the op matrix.</summary>
public sealed record CaseResult(string Op, string Backend, string Case, CaseStatus Status, double Nmse,
    double MaxAbsError,
    Tolerance Tolerance, string? Detail);

/// <summary>
/// The op matrix (like ggml's test-backend-ops): every op case on a backend, against the float64
/// Reference, with guard bands around the output. The tests and <c>dfer validate</c> both run this.
/// </summary>
public static class OpValidation
{
    /// <summary>Guard elements on each side of an output, filled with <see cref="Sentinel"/>.</summary>
    public const int Guard = 64;

    public const float Sentinel = 1234.5f;

    /// <summary>
    /// Runs <paramref name="c"/> on <paramref name="runner"/> with inputs from <paramref name="seed"/>
    /// and compares with <paramref name="oracle"/> (default: the Reference implementations). A kernel
    /// that throws fails the case with the exception's message. <paramref name="tolerance"/> defaults to fp32's.
    /// </summary>
    public static CaseResult Check(IOpRunner runner, string backend, OpCase c, ulong seed,
        IReferenceOracle? oracle = null, Tolerance? tolerance = null)
    {
        string op = c.Op.Kind.Name;
        Tolerance tol = tolerance ?? Tolerance.Fp32;
        if (!runner.Supports(c.Op.Kind))
            return new CaseResult(op, backend, c.Name, CaseStatus.Unsupported, double.NaN, double.NaN, tol,
                $"{backend} has no {op} kernel");
        float[][] inputs = c.MakeInputs(new DeterministicRandom(seed));
        double[] expected = (oracle ?? ReferenceOracle.Instance)
            .Run(c.Op, inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray(), c.InputShapes);
        GuardedOutput output;
        try
        {
            output = runner.RunGuarded(c.Op, inputs, c.InputShapes, Guard, Sentinel);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new CaseResult(op, backend, c.Name, CaseStatus.Fail, double.NaN, double.NaN, tol,
                $"kernel threw {ex.GetType().Name}: {ex.Message}");
        }
        Comparison cmp = Numerics.Compare(output.Values, expected, tol.Nmse, tol.Atol, tol.Rtol);
        bool pass = cmp.Passed && output.GuardWrites == 0;
        string? detail = output.GuardWrites > 0 ? $"{output.GuardWrites} writes outside the output; {cmp}" : pass ? null
            : cmp.ToString();
        return new CaseResult(op, backend, c.Name, pass ? CaseStatus.Pass : CaseStatus.Fail, cmp.Nmse, cmp.MaxAbsError,
            tol, detail);
    }
}
