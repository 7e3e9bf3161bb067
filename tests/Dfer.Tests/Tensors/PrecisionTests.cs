using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Tensors;

/// <summary>Host 16-bit conversions against hand-computed bit patterns, and the precision modes' names and
/// bounds.</summary>
[TestFixture]
public class PrecisionTests
{
    [Test]
    public void Bf16_RoundsToNearestEven()
    {
        Assert.That(HalfBits.ToBf16(1f), Is.EqualTo(0x3F80));
        Assert.That(HalfBits.ToBf16(-2f), Is.EqualTo(0xC000));
        // 1 + 2^-8 lies exactly halfway between bf16 1.0 (0x3F80) and 1 + 2^-7 (0x3F81): ties go to the even one.
        Assert.That(HalfBits.ToBf16(1f + 1f / 256), Is.EqualTo(0x3F80));
        // 1 + 3·2^-8 is halfway between 0x3F81 and 0x3F82: even is 0x3F82.
        Assert.That(HalfBits.ToBf16(1f + 3f / 256), Is.EqualTo(0x3F82));
        // just above the halfway point rounds up
        Assert.That(HalfBits.ToBf16(BitConverter.UInt32BitsToSingle(0x3F808001)), Is.EqualTo(0x3F81));
        Assert.That(HalfBits.ToBf16(float.PositiveInfinity), Is.EqualTo(0x7F80));
        Assert.That(float.IsNaN(HalfBits.FromBf16(HalfBits.ToBf16(float.NaN))), Is.True);
        // a NaN whose payload sits only in the low bits must not round to infinity
        Assert.That(float.IsNaN(HalfBits.FromBf16(HalfBits.ToBf16(BitConverter.UInt32BitsToSingle(0x7F800001)))),
            Is.True);
        // the largest finite float rounds to infinity in bf16 (it is above bf16's max + half an ulp)
        Assert.That(HalfBits.ToBf16(float.MaxValue), Is.EqualTo(0x7F80));
        Assert.That(HalfBits.FromBf16(0x3FC0), Is.EqualTo(1.5f));
    }

    [Test]
    public void F16_RoundsToNearestEven_WithSubnormalsAndOverflow()
    {
        Assert.That(HalfBits.ToF16(1f), Is.EqualTo(0x3C00));
        Assert.That(HalfBits.ToF16(65504f), Is.EqualTo(0x7BFF));
        Assert.That(HalfBits.ToF16(65520f), Is.EqualTo(0x7C00));                  // halfway to 2^16 rounds to infinity
        Assert.That(HalfBits.ToF16(MathF.Pow(2, -24)), Is.EqualTo(0x0001));        // smallest subnormal
        Assert.That(HalfBits.ToF16(1f + MathF.Pow(2, -11)), Is.EqualTo(0x3C00));  // tie to even
        Assert.That(HalfBits.FromF16(0xC200), Is.EqualTo(-3f));
    }

    [Test]
    public void Round_IsNarrowThenWiden()
    {
        float[] v = [0.1f, -3.3f, 1e-3f, 12345.678f];
        float[] r = HalfBits.Round(v, bf16: true);
        ushort[] n = HalfBits.Narrow(v, bf16: true);
        for (int i = 0; i < v.Length; i++)
        {
            Assert.That(r[i], Is.EqualTo(HalfBits.FromBf16(n[i])));
            Assert.That(Math.Abs(r[i] - v[i]), Is.LessThanOrEqualTo(Math.Abs(v[i]) * Math.Pow(2, -8)));
        }
    }

    [Test]
    public void Precision_ParsesCliNames_AndRefusesOthers()
    {
        foreach (Precision p in Enum.GetValues<Precision>())
            Assert.That(PrecisionExtensions.Parse(p.Name()), Is.EqualTo(p));
        var ex = Assert.Throws<DferException>(() => PrecisionExtensions.Parse("int8"));
        Assert.That(ex!.Message, Does.Contain("int8").And.Contain("bf16"));
    }

    [Test]
    public void Tolerances_LoosenWithFewerMantissaBits()
    {
        Assert.That(Tolerance.For(Precision.Fp32), Is.SameAs(Tolerance.Fp32));
        Assert.That(Tolerance.For(Precision.Tf32).Nmse, Is.GreaterThan(Tolerance.Fp32.Nmse));
        Assert.That(Tolerance.For(Precision.Bf16).Nmse, Is.GreaterThan(Tolerance.For(Precision.Fp16).Nmse));
        // each bound sits above the expected NMSE of its rounding (2^-2p/3 per rounding) with a margin, not orders of
        // magnitude above
        Assert.That(Tolerance.Bf16.Nmse, Is.InRange(3 * Math.Pow(2, -18) / 3 * 5, 3 * Math.Pow(2, -18) / 3 * 100));
    }
}
