namespace Dfer.Media;

/// <summary>
/// Pillow's <c>Image.resize((w, h), BILINEAR | BICUBIC)</c> for 8-bit RGB, byte for byte: the
/// separable convolution of Pillow's Resample.c, reimplemented from its description.
/// </summary>
/// <remarks>
/// <para>Per axis, with in/out sizes I and O: <c>scale = I/O</c>, <c>filterscale = max(scale, 1)</c>
/// (so a downscale widens the filter, which antialiases), <c>support = filter_support · filterscale</c>.
/// Output pixel o has centre <c>c = (o + 0.5)·scale</c>, source range
/// <c>[max(0, int(c - support + 0.5)), min(I, int(c + support + 0.5)))</c>, and weights
/// <c>filter((x - c + 0.5) / filterscale)</c> over that range divided by their sum (all in double).</para>
/// <para>Weights become fixed point with 22 fraction bits, rounding half away from zero:
/// <c>k = (int)(w·2²² ± 0.5)</c>. A pass sums <c>2²¹ + Σ pixel·k</c> in 32-bit integers and stores
/// <c>clamp(sum &gt;&gt; 22, 0, 255)</c>.</para>
/// <para>The horizontal pass runs first, on only the rows the vertical pass reads, and its 8-bit
/// result feeds the vertical pass. An axis whose size does not change is not filtered at all.</para>
/// </remarks>
public static class PilResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes <paramref name="source"/> to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static RgbImage Resize(RgbImage source, int width, int height, ResizeFilter filter)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}x{height} is not positive");

        bool horizontal = width != source.Width;
        bool vertical = height != source.Height;
        if (!horizontal && !vertical) return new RgbImage(source.Width, source.Height, (byte[])source.Pixels.Clone());

        Coefficients? vert = vertical ? Coefficients.For(source.Height, height, filter) : null;
        RgbImage rows = source;
        int firstRow = 0;
        if (horizontal)
        {
            // Only the rows the vertical pass reads: from the first output row's first tap to the
            // last output row's last tap.
            int lastRow = source.Height;
            if (vert is not null)
            {
                firstRow = vert.Start[0];
                lastRow = vert.Start[height - 1] + vert.Count[height - 1];
            }
            rows = Horizontal(source, firstRow, lastRow - firstRow, Coefficients.For(source.Width, width, filter));
        }
        return vert is null ? rows : Vertical(rows, firstRow, vert);
    }

    private static RgbImage Horizontal(RgbImage src, int firstRow, int rowCount, Coefficients k)
    {
        int outWidth = k.Start.Length;
        var dst = new byte[outWidth * rowCount * 3];
        byte[] s = src.Pixels;
        int srcStride = src.Width * 3;
        for (int y = 0; y < rowCount; y++)
        {
            int rowBase = (firstRow + y) * srcStride;
            int o = y * outWidth * 3;
            for (int x = 0; x < outWidth; x++)
            {
                int start = k.Start[x], count = k.Count[x], w0 = x * k.Stride;
                int r = 1 << (PrecisionBits - 1), g = r, b = r;
                int p = rowBase + start * 3;
                for (int t = 0; t < count; t++, p += 3)
                {
                    int w = k.Weights[w0 + t];
                    r += s[p] * w;
                    g += s[p + 1] * w;
                    b += s[p + 2] * w;
                }
                dst[o++] = Clip8(r);
                dst[o++] = Clip8(g);
                dst[o++] = Clip8(b);
            }
        }
        return new RgbImage(outWidth, rowCount, dst);
    }

    // firstRow: the source row that src's row 0 is (the horizontal pass produced only the rows needed).
    private static RgbImage Vertical(RgbImage src, int firstRow, Coefficients k)
    {
        int outHeight = k.Start.Length;
        int stride = src.Width * 3;
        var dst = new byte[stride * outHeight];
        byte[] s = src.Pixels;
        for (int y = 0; y < outHeight; y++)
        {
            int start = k.Start[y] - firstRow, count = k.Count[y], w0 = y * k.Stride;
            int o = y * stride;
            for (int i = 0; i < stride; i++)
            {
                int sum = 1 << (PrecisionBits - 1);
                int p = start * stride + i;
                for (int t = 0; t < count; t++, p += stride) sum += s[p] * k.Weights[w0 + t];
                dst[o + i] = Clip8(sum);
            }
        }
        return new RgbImage(src.Width, outHeight, dst);
    }

    /// <summary>Drops the fraction bits and saturates; the shift is arithmetic, as in C on every target Pillow runs
    /// on.</summary>
    private static byte Clip8(int sum)
    {
        int v = sum >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    private static double Filter(ResizeFilter filter, double x)
    {
        if (x < 0.0) x = -x;
        switch (filter)
        {
            case ResizeFilter.Bilinear:
                return x < 1.0 ? 1.0 - x : 0.0;
            case ResizeFilter.Bicubic:
                // Evaluated in the same order as Pillow, so the doubles (hence the rounded weights) agree.
                const double a = -0.5;
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            default:
                throw new ArgumentOutOfRangeException(nameof(filter), filter, null);
        }
    }

    private static double Support(ResizeFilter filter) => filter switch
    {
        ResizeFilter.Bilinear => 1.0,
        ResizeFilter.Bicubic => 2.0,
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, null),
    };

    /// <summary>One axis's taps: output pixel o reads <c>Count[o]</c> inputs from <c>Start[o]</c>
    /// with fixed-point weights <c>Weights[o·Stride ..]</c>.</summary>
    private sealed class Coefficients
    {
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required int[] Weights { get; init; }
        public required int Stride { get; init; }

        public static Coefficients For(int inSize, int outSize, ResizeFilter filter)
        {
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = Support(filter) * filterScale;
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * stride];
            var k = new double[stride];
            double inverse = 1.0 / filterScale;
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale;
                // (int) truncates toward zero, as C's cast does; negatives are then clamped.
                int min = (int)(center - support + 0.5);
                if (min < 0) min = 0;
                int max = (int)(center + support + 0.5);
                if (max > inSize) max = inSize;
                int n = max - min;
                double total = 0.0;
                for (int x = 0; x < n; x++)
                {
                    double w = Filter(filter, (x + min - center + 0.5) * inverse);
                    k[x] = w;
                    total += w;
                }
                for (int x = 0; x < n; x++)
                {
                    double w = total != 0.0 ? k[x] / total : k[x];
                    weights[o * stride + x] = w < 0
                        ? (int)(-0.5 + w * (1 << PrecisionBits))
                        : (int)(0.5 + w * (1 << PrecisionBits));
                }
                start[o] = min;
                count[o] = n;
            }
            return new Coefficients { Start = start, Count = count, Weights = weights, Stride = stride };
        }
    }
}
