namespace Dfer.Media;

/// <summary>Turns decoded frames into clip tensors per a <see cref="ClipProtocol"/>.</summary>
internal static class ClipBuilder
{
    /// <summary>
    /// torchvision's <c>Resize(Size)</c> then <c>CenterCrop(Size)</c> on a PIL image: the short side
    /// becomes Size and the long side <c>int(Size·long/short)</c> (Pillow resize with the protocol's
    /// filter), then the crop starts at <c>round((extent - Size)/2)</c>, half to even, on each axis.
    /// </summary>
    /// <param name="frame">The decoded frame.</param>
    /// <param name="protocol">The clip size and filter.</param>
    /// <param name="source">The frame's file or video, named in errors.</param>
    /// <exception cref="DferException">The frame is so elongated that the resized image would exceed
    /// <see cref="MediaLimits.MaxResizedPixels"/> (a strip one pixel wide, say).</exception>
    public static RgbImage Prepare(RgbImage frame, ClipProtocol protocol, string source)
    {
        int size = protocol.Size;
        long shortSide = Math.Min(frame.Width, frame.Height), longSide = Math.Max(frame.Width, frame.Height);
        // The resized long side is size·long/short; bounding its area first also keeps it an int.
        if ((double)size * size * longSide / shortSide > MediaLimits.MaxResizedPixels)
        {
            throw DferException.ForFile(source,
                $"a frame of {frame.Width}x{frame.Height} pixels is too elongated: resizing its short side to {size} "
                + $"would make {(long)((double)size * longSide / shortSide)} pixels on the long side "
                + $"(limit {MediaLimits.MaxResizedPixels} pixels in all)");
        }
        (int w, int h) = ResizedSize(frame.Width, frame.Height, size);
        RgbImage resized = PilResize.Resize(frame, w, h, protocol.Filter);
        return CenterCrop(resized, size);
    }

    /// <summary>torchvision's output size for an int <c>size</c>: <c>int(size·long/short)</c> in double arithmetic, as
    /// Python computes it.</summary>
    internal static (int Width, int Height) ResizedSize(int width, int height, int size)
    {
        if (width <= height) return (size, (int)((double)((long)size * height) / width));
        return ((int)((double)((long)size * width) / height), size);
    }

    internal static RgbImage CenterCrop(RgbImage image, int size)
    {
        if (image.Width == size && image.Height == size) return image;
        // The short side is already `size`, so the crop never needs padding.
        int top = (int)Math.Round((image.Height - size) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((image.Width - size) / 2.0, MidpointRounding.ToEven);
        var pixels = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
        {
            Array.Copy(image.Pixels, ((top + y) * image.Width + left) * 3, pixels, y * size * 3, size * 3);
        }
        return new RgbImage(size, size, pixels);
    }

    /// <summary>
    /// One clip from prepared (Size×Size) frames at <paramref name="indices"/>: byte b becomes
    /// <c>b / 255f</c>, placed per <see cref="ClipProtocol.Layout"/>.
    /// </summary>
    public static float[] Build(IReadOnlyList<int> indices, Func<int, RgbImage> preparedFrame, ClipProtocol protocol)
    {
        int t = protocol.Frames, size = protocol.Size, plane = size * size;
        var clip = new float[protocol.ClipElements];
        for (int i = 0; i < t; i++)
        {
            byte[] px = preparedFrame(indices[i]).Pixels;
            for (int c = 0; c < 3; c++)
            {
                int offset = protocol.Layout switch
                {
                    ClipLayout.TimeChannel => (i * 3 + c) * plane,
                    ClipLayout.ChannelTime => (c * t + i) * plane,
                };
                for (int p = 0; p < plane; p++)
                {
                    // ToTensor's float32 division; identical to (float)b / 255f in IEEE single precision.
                    clip[offset + p] = px[p * 3 + c] / 255f;
                }
            }
        }
        return clip;
    }
}
