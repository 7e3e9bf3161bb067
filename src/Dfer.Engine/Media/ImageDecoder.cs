using Dfer.IO;
using SkiaSharp;

namespace Dfer.Media;

/// <summary>
/// Decodes an image file to the bytes of Pillow's <c>Image.open(path).convert('RGB')</c>.
/// </summary>
/// <remarks>
/// <para>Decoding goes through Skia (SkiaSharp), whose JPEG codec is libjpeg-turbo with the same
/// settings Pillow uses (accurate integer IDCT, fancy chroma upsampling), so JPEGs decode to the
/// same bytes as Pillow's; PNG is lossless. Measured against Pillow 9.4 (Debian's, on the system
/// libjpeg-turbo 2.1.5): 0 differing bytes on 4:2:0, 4:2:2, 4:4:4, progressive, grayscale and CMYK
/// JPEGs and on RGB, RGBA, gray, gray+alpha, palette and 16-bit PNGs (the decode fixtures under
/// tests/fixtures/media/decode). StbImageSharp differed by up to 47, a managed libjpeg port by more.</para>
/// <para>Pixels are requested as unpremultiplied RGBA with no colour space, so Skia does no colour
/// management and alpha does not touch the colour channels; alpha is then dropped, which is what
/// <c>convert('RGB')</c> does (it does not composite). The EXIF orientation is ignored, as Pillow's
/// <c>open</c> ignores it.</para>
/// <para>Truncated data is an error, as in Pillow (which raises "image file is truncated"), never a
/// partly grey image.</para>
/// </remarks>
internal static class ImageDecoder
{
    /// <summary>Decodes <paramref name="path"/>; every failure is a one-line error naming the file.</summary>
    /// <exception cref="DferException">Missing, a directory, unreadable, larger than
    /// <see cref="MediaLimits.MaxImageFileBytes"/>, not an image, larger than
    /// <see cref="MediaLimits.MaxImagePixels"/>, corrupt or truncated.</exception>
    public static RgbImage Decode(string path)
    {
        byte[] bytes = UserFile.ReadAllBytes(path, MediaLimits.MaxImageFileBytes,
            length => $"image file{(length is { } n ? $" of {n} bytes" : "")} is larger than Dfer's limit "
                + $"of {MediaLimits.MaxImageFileBytes} bytes ({MediaLimits.MaxImageFileBytes >> 20} MiB)");
        return Decode(path, bytes);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="path"/> names it in errors.</summary>
    /// <remarks>The size is read from the header (Skia's codec parses it without decoding) and checked
    /// against <see cref="MediaLimits.MaxImagePixels"/> before any pixel is allocated.</remarks>
    public static unsafe RgbImage Decode(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0) throw DferException.ForFile(path, "cannot decode image: the file is empty");
        fixed (byte* encoded = bytes)
        {
            // Wraps the pinned bytes without the copy SKData.CreateCopy would make.
            using SKData data = SKData.Create((IntPtr)encoded, bytes.Length);
            using SKCodec? codec = SKCodec.Create(data);
            if (codec is null)
                throw DferException.ForFile(path,
                    "cannot decode image: not a recognised image format, or its header is corrupt");
            return Decode(path, codec);
        }
    }

    private static unsafe RgbImage Decode(string path, SKCodec codec)
    {
        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0)
            throw DferException.ForFile(path, $"cannot decode image: invalid size {width}x{height}");
        CheckPixels(path, "image", width, height);

        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[(long)width * height * 4];
        SKCodecResult result;
        fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        switch (result)
        {
            case SKCodecResult.Success:
                break;
            case SKCodecResult.IncompleteInput:
                // Skia would hand back the rows it had and fill the rest; Pillow refuses, and so do we.
                throw DferException.ForFile(path, "image file is truncated");
            case SKCodecResult.ErrorInInput:
                throw DferException.ForFile(path, "cannot decode image: the image data is corrupt");
            default:
                throw DferException.ForFile(path, $"cannot decode image ({result})");
        }

        var rgb = new byte[(long)width * height * 3];
        for (long i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgb[i] = rgba[j];
            rgb[i + 1] = rgba[j + 1];
            rgb[i + 2] = rgba[j + 2];
        }
        return new RgbImage(width, height, rgb);
    }

    /// <summary>
    /// Refuses a <paramref name="width"/>×<paramref name="height"/> <paramref name="what"/> of more than
    /// <see cref="MediaLimits.MaxImagePixels"/> pixels, before anything of that size is allocated.
    /// </summary>
    /// <exception cref="DferException">The size is over the limit.</exception>
    internal static void CheckPixels(string path, string what, long width, long height)
    {
        if (width > MediaLimits.MaxImagePixels || height > MediaLimits.MaxImagePixels
            || width * height > MediaLimits.MaxImagePixels)
        {
            throw DferException.ForFile(path,
                $"{what} of {width}x{height} pixels is larger than Dfer's limit of {MediaLimits.MaxImagePixels} pixels "
                + "(8192x8192); scale it down first");
        }
    }
}
