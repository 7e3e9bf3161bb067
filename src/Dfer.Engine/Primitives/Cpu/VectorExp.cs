using System.Runtime.Intrinsics;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// e^x for eight floats at once, computed in double and rounded once: each half is widened to four doubles, run
/// through <see cref="Vector256.Exp(Vector256{double})"/> and narrowed back. The float overload of
/// <c>Vector256.Exp</c> is off by up to about 2.5 ulp (e⁰ comes out as 1.0000001); this one gives the
/// correctly rounded float wherever the double exponential is within half a float ulp (all but ties), at about
/// the same speed. Special values are the scalar <see cref="MathF.Exp"/>'s: e^−∞ = 0, e^+∞ = +∞, NaN stays NaN,
/// arguments past ±88.7 underflow to (sub)normals or zero and overflow to +∞ when narrowed.
/// </summary>
public static class VectorExp
{
    public static Vector256<float> Exp(Vector256<float> x)
    {
        (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(x);
        return Vector256.Narrow(Vector256.Exp(lo), Vector256.Exp(hi));
    }
}
