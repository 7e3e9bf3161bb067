using Dfer.Media;

namespace Dfer.Models.FaceApi;

/// <summary>The input preparation face-api's detectors share: TF.js's bilinear resize and the padded square.</summary>
internal static class FaceApiImage
{
    /// <summary>
    /// TF's legacy bilinear resize (<c>resizeBilinear</c> with align_corners and half-pixel centres
    /// off): output pixel (x, y) samples the source at (x·sw/dw, y·sh/dh), where the source is
    /// <paramref name="sample"/>(sx, sy, c) over a sw×sh grid.
    /// </summary>
    public static void ResizeBilinear(Func<int, int, int, float> sample, int sw, int sh, int dw, int dh,
        Span<float> dst)
    {
        double fy = (double)sh / dh, fx = (double)sw / dw;
        for (int y = 0; y < dh; y++)
        {
            double syf = y * fy;
            int y0 = (int)Math.Floor(syf), y1 = Math.Min(y0 + 1, sh - 1);
            double dy = syf - y0;
            for (int x = 0; x < dw; x++)
            {
                double sxf = x * fx;
                int x0 = (int)Math.Floor(sxf), x1 = Math.Min(x0 + 1, sw - 1);
                double dx = sxf - x0;
                for (int c = 0; c < 3; c++)
                {
                    double top = sample(x0, y0, c) + (sample(x1, y0, c) - sample(x0, y0, c)) * dx;
                    double bottom = sample(x0, y1, c) + (sample(x1, y1, c) - sample(x0, y1, c)) * dx;
                    dst[(y * dw + x) * 3 + c] = (float)(top + (bottom - top) * dy);
                }
            }
        }
    }

    /// <summary>
    /// face-api's <c>toBatchTensor(size, isCenterInputs: false)</c> for one frame: padded with black at the bottom
    /// or right to a square, resized to size×size; pixel values 0..255 (fractional), [size, size, 3] RGB.
    /// </summary>
    public static void PaddedSquare(RgbImage f, int size, Span<float> dst)
    {
        if (dst.Length != size * size * 3) throw new ArgumentException($"expected room for [{size}, {size}, 3]");
        int s = Math.Max(f.Width, f.Height), w = f.Width, h = f.Height;
        byte[] px = f.Pixels;
        // ResizeBilinear's arithmetic on the bytes directly (this runs for every frame a detector sees): the same
        // source coordinates and the same double expressions, so the values are identical; the padding reads 0.
        double fy = (double)s / size, fx = (double)s / size;
        var x0s = new int[size];
        var x1s = new int[size];
        var dxs = new double[size];
        for (int x = 0; x < size; x++)
        {
            double sxf = x * fx;
            x0s[x] = (int)Math.Floor(sxf);
            x1s[x] = Math.Min(x0s[x] + 1, s - 1);
            dxs[x] = sxf - x0s[x];
        }
        for (int y = 0; y < size; y++)
        {
            double syf = y * fy;
            int y0 = (int)Math.Floor(syf), y1 = Math.Min(y0 + 1, s - 1);
            double dy = syf - y0;
            int row0 = y0 < h ? y0 * w * 3 : -1, row1 = y1 < h ? y1 * w * 3 : -1;
            for (int x = 0; x < size; x++)
            {
                int x0 = x0s[x], x1 = x1s[x];
                double dx = dxs[x];
                int o = (y * size + x) * 3;
                for (int c = 0; c < 3; c++)
                {
                    double a = row0 >= 0 && x0 < w ? px[row0 + x0 * 3 + c] : 0.0;
                    double b = row0 >= 0 && x1 < w ? px[row0 + x1 * 3 + c] : 0.0;
                    double d = row1 >= 0 && x0 < w ? px[row1 + x0 * 3 + c] : 0.0;
                    double e = row1 >= 0 && x1 < w ? px[row1 + x1 * 3 + c] : 0.0;
                    double top = a + (b - a) * dx;
                    double bottom = d + (e - d) * dx;
                    dst[o + c] = (float)(top + (bottom - top) * dy);
                }
            }
        }
    }
}
