using System.Runtime.Intrinsics;
using ILGPU.Algorithms;

namespace Dfer.Ops.Gelu;

/// <summary>
/// erf, erfc and exact GELU in float, shared by the CPU and ILGPU kernels (plain static methods, no
/// recursion, so ILGPU compiles them into its kernels). |x| &lt; 1: erf = x·P(x²); 1 ≤ |x| &lt; 10:
/// erfc = exp(−x²)·t·Q(t − 0.55) with t = 1/|x|; beyond, erfc underflows; erfc on [0.5, 1) is
/// exp(−x²)·M(x − 0.75). P, Q and M are Chebyshev fits (to 1.1e-9, 2.2e-9 and 3.7e-11 relative), so
/// the float rounding of the evaluation dominates.
/// </summary>
public static class ErfF
{
    private const float InvSqrt2 = 0.70710678118654752f;

    /// <summary>erf(x); ±1 at ±∞, NaN for NaN.</summary>
    public static float Erf(float x)
    {
        float a = XMath.Abs(x);
        if (!(a >= 0f)) return x; // NaN
        if (a < 1f) return x * Small(x * x);
        float e = 1f - Tail(a);
        return x < 0 ? -e : e;
    }

    /// <summary>erfc(x) = 1 − erf(x), without cancellation for large positive x; NaN for NaN.</summary>
    public static float Erfc(float x)
    {
        float a = XMath.Abs(x);
        if (!(a >= 0f)) return x; // NaN
        // On [0.5, 1) 1 − erf would cancel a bit (erfc(1) ≈ 0.16); a third fit keeps erfc relative there.
        if (x >= 0.5f && x < 1f) return XMath.Exp(-x * x) * Middle(x - 0.75f);
        if (a < 1f) return 1f - x * Small(x * x);
        float t = Tail(a);
        return x < 0 ? 2f - t : t;
    }

    /// <summary>0.5·x·(1 + erf(x/√2)), through erfc for negative x so the tail keeps its digits.</summary>
    public static float Gelu(float x) =>
        x >= 0f ? 0.5f * x * (1f + Erf(x * InvSqrt2)) : 0.5f * x * Erfc(-x * InvSqrt2);

    // erf(x)/x as a polynomial in y = x², y in [0, 1].
    private static float Small(float y) =>
        ((((((7.875875063e-5f * y - 8.016864287e-4f) * y + 5.189087423e-3f) * y - 2.685421201e-2f) * y
            + 1.128359472e-1f) * y - 3.761262667e-1f) * y + 1.128379166f);

    // erfc(x)·exp(x²) as a polynomial in s = x − 0.75, x in [0.5, 1] (fit to 3.7e-11).
    private static float Middle(float s) =>
        ((((((((2.486962559e-3f * s - 6.185151589e-3f) * s + 1.42868782e-2f) * s - 3.189097432e-2f) * s
            + 6.679058288e-2f) * s - 1.298361713e-1f) * s + 2.309581314e-1f) * s - 3.679726911e-1f) * s
            + 5.069376503e-1f);

    // The same three polynomials for eight lanes (the CPU's vector GELU); coefficients and order as above.
    internal static Vector256<float> SmallPoly(Vector256<float> y)
    {
        var p = Vector256.Create(7.875875063e-5f);
        p = p * y + Vector256.Create(-8.016864287e-4f);
        p = p * y + Vector256.Create(5.189087423e-3f);
        p = p * y + Vector256.Create(-2.685421201e-2f);
        p = p * y + Vector256.Create(1.128359472e-1f);
        p = p * y + Vector256.Create(-3.761262667e-1f);
        return p * y + Vector256.Create(1.128379166f);
    }

    internal static Vector256<float> MiddlePoly(Vector256<float> s)
    {
        ReadOnlySpan<float> c = [2.486962559e-3f, -6.185151589e-3f, 1.42868782e-2f, -3.189097432e-2f, 6.679058288e-2f,
            -1.298361713e-1f, 2.309581314e-1f, -3.679726911e-1f, 5.069376503e-1f];
        var p = Vector256.Create(c[0]);
        for (int i = 1; i < c.Length; i++) p = p * s + Vector256.Create(c[i]);
        return p;
    }

    internal static Vector256<float> TailPoly(Vector256<float> s)
    {
        ReadOnlySpan<float> c = [-1.486061808e-1f, 1.203557641e-1f, 4.181745984e-2f, -9.665940527e-2f, 8.529166114e-2f,
            -6.026174375e-2f, 1.178029635e-2f, 4.983366735e-2f, -9.701486764e-2f, 9.835872227e-2f, -2.036389084e-2f,
            -1.700351289e-1f, 5.023534233e-1f];
        var p = Vector256.Create(c[0]);
        for (int i = 1; i < c.Length; i++) p = p * s + Vector256.Create(c[i]);
        return p;
    }

    // erfc(a) for a ≥ 1 (0 from 10 on, where it is below float's smallest normal number anyway).
    private static float Tail(float a)
    {
        if (!(a < 10f)) return 0f;
        float t = 1f / a, s = t - 0.55f;
        float q = -1.486061808e-1f;
        q = q * s + 1.203557641e-1f;
        q = q * s + 4.181745984e-2f;
        q = q * s - 9.665940527e-2f;
        q = q * s + 8.529166114e-2f;
        q = q * s - 6.026174375e-2f;
        q = q * s + 1.178029635e-2f;
        q = q * s + 4.983366735e-2f;
        q = q * s - 9.701486764e-2f;
        q = q * s + 9.835872227e-2f;
        q = q * s - 2.036389084e-2f;
        q = q * s - 1.700351289e-1f;
        q = q * s + 5.023534233e-1f;
        return XMath.Exp(-a * a) * t * q;
    }
}
