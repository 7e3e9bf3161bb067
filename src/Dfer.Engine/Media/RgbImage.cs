namespace Dfer.Media;

/// <summary>One decoded RGB image: interleaved 8-bit R, G, B, row-major, no padding between rows.</summary>
public sealed class RgbImage
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied), which must hold exactly <c>width·height·3</c>
    /// bytes.</summary>
    /// <exception cref="ArgumentException">A non-positive size or a pixel array of another length.</exception>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size {width}x{height} is not positive");
        if (pixels.LongLength != (long)width * height * 3)
        {
            throw new ArgumentException(
                $"a {width}x{height} RGB image needs {(long)width * height * 3} bytes, got {pixels.LongLength}",
                nameof(pixels));
        }
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixel at (x, y) has R, G, B at <c>(y·Width + x)·3 + 0, 1, 2</c>.</summary>
    public byte[] Pixels { get; }
}
