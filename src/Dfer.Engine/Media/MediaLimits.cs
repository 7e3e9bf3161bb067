namespace Dfer.Media;

/// <summary>
/// The bounds Dfer puts on images and videos, so that a hostile or broken file (a header claiming
/// 100000×100000 pixels, a video of a million frames) ends in a one-line error within seconds
/// instead of exhausting memory. Each is far above what facial-expression data needs: DFEW's frames
/// are 224×224 or at most video resolution, its clips a few seconds long.
/// </summary>
public static class MediaLimits
{
    /// <summary>
    /// The most pixels of one image or video frame: 8192×8192 = 67 108 864 (64 Mi, about 67
    /// megapixels; 8K video is 33). Checked from the image header or ffprobe's report before any
    /// pixel is allocated; decoding takes 7 bytes a pixel (RGBA from the codec, then RGB), so at most
    /// 448 MiB.
    /// </summary>
    public const long MaxImagePixels = 1L << 26;

    /// <summary>
    /// The largest image file read, in bytes (256 MiB): an uncompressed 64 Mi-pixel RGB image is
    /// 192 MiB. The file is held in memory while it decodes, so this bounds that part.
    /// </summary>
    public const long MaxImageFileBytes = 256L << 20;

    /// <summary>
    /// The most pixels of a frame after the clip resize (short side to the clip size, long side in
    /// proportion), the same 64 Mi as <see cref="MaxImagePixels"/>: an image 1 pixel wide and
    /// millions tall would otherwise be stretched to gigabytes.
    /// </summary>
    public const long MaxResizedPixels = MaxImagePixels;

    /// <summary>
    /// The most frames read from one video: 100 000, 55 minutes at 30 fps. Checked against
    /// ffprobe's frame count (or duration × frame rate) before decoding, and again while frames arrive.
    /// </summary>
    public const int MaxVideoFrames = 100_000;

    /// <summary>
    /// The most bytes of frames one video may hold in memory at once (512 MiB), raw or prepared
    /// (at a clip size of 112, 14 000 frames): a longer or larger video is refused with advice to
    /// shorten it rather than exhausting memory. Checked before each frame is allocated.
    /// </summary>
    public const long MaxVideoBytes = 512L << 20;

    /// <summary>The most bytes of ffprobe output read (4 MiB); its report on a real file is a few kilobytes.</summary>
    public const int MaxProbeOutputBytes = 4 << 20;
}
