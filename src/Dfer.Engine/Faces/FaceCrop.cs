using Dfer.Media;

namespace Dfer.Faces;

/// <summary>A square of a frame in whole pixels: columns [X, X + Side), rows [Y, Y + Side); parts may lie outside
/// the frame.</summary>
public readonly record struct CropSquare(int X, int Y, int Side);

/// <summary>
/// The face crop the DFER models see (docs/faces.md, "The crop"): a square centred on the face box whose side is the
/// box's longer side enlarged by a margin, moved inside the frame when it fits, padded with black when it is larger
/// than the frame, then resized to the datasets' crop size with Pillow's bicubic filter. The model's own protocol
/// (its PIL resize to 112 or 224, ToTensor) then applies to that image as to a frame of its dataset.
/// </summary>
public static class FaceCrop
{
    /// <summary>The default margin: the square's side is 1.25 × the box's longer side.</summary>
    public const double DefaultMargin = 0.25;

    /// <summary>DFEW's released face clips are 224×224; crops are made at that size.</summary>
    public const int DefaultSize = 224;

    /// <summary>
    /// The crop square of <paramref name="box"/> in a <paramref name="width"/>×<paramref name="height"/> frame: side
    /// <c>max(1, round(max(w, h)·(1 + margin)))</c>, top-left <c>round(centre − side/2)</c> (half away from zero);
    /// then, on each axis where the side fits in the frame, shifted by the least amount that puts it inside;
    /// where it does not fit, centred on the frame.
    /// </summary>
    public static CropSquare Square(FaceBox box, double margin, int width, int height)
    {
        if (!(margin >= 0) || double.IsInfinity(margin))
            throw new DferException($"the face margin must be a finite number ≥ 0, got {margin}");
        double longer = Math.Max(box.Width, box.Height);
        int side = (int)Math.Max(1, Math.Min(int.MaxValue / 4, Math.Round(longer * (1 + margin))));
        int x = (int)Math.Round(box.CenterX - side / 2.0, MidpointRounding.AwayFromZero);
        int y = (int)Math.Round(box.CenterY - side / 2.0, MidpointRounding.AwayFromZero);
        return new CropSquare(Fit(x, side, width), Fit(y, side, height), side);
    }

    private static int Fit(int start, int side, int extent)
    {
        if (side > extent) return -(side - extent) / 2;
        return Math.Clamp(start, 0, extent - side);
    }

    /// <summary>The pixels of <paramref name="square"/>, black where it leaves the frame.</summary>
    public static RgbImage Cut(RgbImage frame, CropSquare square)
    {
        int s = square.Side, w = frame.Width, h = frame.Height;
        if ((long)s * s * 3 > MediaLimits.MaxImagePixels * 3L)
            throw new DferException($"a face crop of {s}x{s} pixels is larger than the image limit");
        var px = new byte[s * s * 3];
        int x0 = Math.Max(0, square.X), x1 = Math.Min(w, square.X + s);
        if (x1 <= x0) return new RgbImage(s, s, px);
        for (int row = 0; row < s; row++)
        {
            int y = square.Y + row;
            if (y < 0 || y >= h) continue;
            Array.Copy(frame.Pixels, ((long)y * w + x0) * 3, px, ((long)row * s + x0 - square.X) * 3, (x1 - x0) * 3);
        }
        return new RgbImage(s, s, px);
    }

    /// <summary>The face crop of <paramref name="box"/>: <see cref="Square"/>, <see cref="Cut"/>, then Pillow's bicubic
    /// resize to <paramref name="size"/>² (skipped when the square already has that side).</summary>
    public static RgbImage Crop(RgbImage frame, FaceBox box, double margin = DefaultMargin, int size = DefaultSize)
    {
        var cut = Cut(frame, Square(box, margin, frame.Width, frame.Height));
        return cut.Width == size ? cut : PilResize.Resize(cut, size, size, ResizeFilter.Bicubic);
    }

    /// <summary>
    /// What the tracker compares faces by: the box's pixels averaged over an 8×8 grid of cells, per channel, minus
    /// their mean and scaled to unit length (192 values); all zeros for a flat box.
    /// </summary>
    public static float[] Appearance(RgbImage frame, FaceBox box)
    {
        const int grid = 8;
        var v = new double[grid * grid * 3];
        var counts = new int[grid * grid];
        int x0 = Math.Clamp((int)Math.Floor(box.X0), 0, frame.Width - 1),
            x1 = Math.Clamp((int)Math.Ceiling(box.X1), x0 + 1, frame.Width);
        int y0 = Math.Clamp((int)Math.Floor(box.Y0), 0, frame.Height - 1),
            y1 = Math.Clamp((int)Math.Ceiling(box.Y1), y0 + 1, frame.Height);
        // At most 32 samples a side: a descriptor, not an image.
        int stepX = Math.Max(1, (x1 - x0) / 32), stepY = Math.Max(1, (y1 - y0) / 32);
        for (int y = y0; y < y1; y += stepY)
        {
            int gy = (y - y0) * grid / (y1 - y0);
            for (int x = x0; x < x1; x += stepX)
            {
                int gx = (x - x0) * grid / (x1 - x0), cell = gy * grid + gx;
                int p = (y * frame.Width + x) * 3;
                for (int c = 0; c < 3; c++) v[cell * 3 + c] += frame.Pixels[p + c];
                counts[cell]++;
            }
        }
        for (int cell = 0; cell < counts.Length; cell++)
            for (int c = 0; c < 3; c++) v[cell * 3 + c] /= Math.Max(1, counts[cell]);
        double mean = v.Average(), norm = 0;
        for (int i = 0; i < v.Length; i++) { v[i] -= mean; norm += v[i] * v[i]; }
        var r = new float[v.Length];
        if (norm > 1e-9)
            for (int i = 0; i < v.Length; i++) r[i] = (float)(v[i] / Math.Sqrt(norm));
        return r;
    }
}
