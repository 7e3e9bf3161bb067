using SkiaSharp;

namespace Dfer.Media;

/// <summary>Writes an <see cref="RgbImage"/> as a PNG (lossless: <see cref="ImageDecoder"/> reads back the same
/// bytes), through Skia.</summary>
public static class ImageEncoder
{
    /// <exception cref="DferException">The file cannot be written (one line naming it).</exception>
    public static void WritePng(RgbImage image, string path)
    {
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var rgba = new byte[image.Width * image.Height * 4];
        for (int i = 0, j = 0; i < image.Pixels.Length; i += 3, j += 4)
        {
            rgba[j] = image.Pixels[i];
            rgba[j + 1] = image.Pixels[i + 1];
            rgba[j + 2] = image.Pixels[i + 2];
            rgba[j + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw DferException.ForFile(path, "could not encode the image as PNG");
        try
        {
            using var file = File.Create(path);
            data.SaveTo(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write: {e.Message}");
        }
    }
}
