namespace Dfer.Media;

/// <summary>The resampling filter of a resize, as Pillow defines it.</summary>
public enum ResizeFilter
{
    /// <summary>Pillow's BILINEAR: the triangle filter <c>max(0, 1 - |x|)</c>, support 1.</summary>
    Bilinear,

    /// <summary>
    /// Pillow's BICUBIC: Keys' cubic with a = -0.5, support 2:
    /// <c>((a+2)|x| - (a+3))x² + 1</c> for |x| &lt; 1, <c>(((|x|-5)|x|+8)|x|-4)·a</c> for |x| &lt; 2, else 0.
    /// </summary>
    Bicubic,
}

/// <summary>The memory layout of one clip.</summary>
public enum ClipLayout
{
    /// <summary><c>[T, 3, H, W]</c>: element (t, c, y, x) at <c>((t·3 + c)·H + y)·W + x</c>.</summary>
    TimeChannel,

    /// <summary><c>[3, T, H, W]</c>: element (t, c, y, x) at <c>((c·T + t)·H + y)·W + x</c>.</summary>
    ChannelTime,
}

/// <summary>Which frames of a video make its clips.</summary>
public enum FrameSampling
{
    /// <summary>
    /// One clip; with N frames and T = <see cref="ClipProtocol.Frames"/>, clip frame i is frame
    /// <c>int(N·i/T)</c> (M3DFEL's loader). With jitter, each then becomes
    /// <c>min(N-1, frame + int(random()·T))</c> with one Python <c>random.random()</c> per frame in order.
    /// Fewer than T frames repeat frames, as the formula implies.
    /// </summary>
    Spread,

    /// <summary>
    /// Every complete run of T consecutive frames: clips <c>[0, T)</c>, <c>[T, 2T)</c>, … (IFDD); a
    /// trailing partial window is dropped and fewer than T frames is an error.
    /// </summary>
    Windows,
}

/// <summary>How a model turns a video into clips (each model owns one).</summary>
/// <param name="Frames">Frames per clip (T).</param>
/// <param name="Size">
/// The square side of a frame in the clip: the short side is resized to <c>Size</c> (the long side to
/// <c>int(Size·long/short)</c>, torchvision's <c>Resize(Size)</c>), then the centre <c>Size×Size</c> is
/// cropped with torchvision's <c>CenterCrop</c> offsets <c>round((extent - Size)/2)</c> (half to even).
/// Each byte b becomes the float32 <c>b / 255f</c> (torchvision's ToTensor).
/// </param>
/// <param name="Filter">The resize filter.</param>
/// <param name="Layout">The clip's layout.</param>
/// <param name="Sampling">Which frames make the clips.</param>
public sealed record ClipProtocol(int Frames, int Size, ResizeFilter Filter, ClipLayout Layout, FrameSampling Sampling)
{
    /// <summary>Floats in one clip: <c>Frames · 3 · Size · Size</c>.</summary>
    public int ClipElements => Frames * 3 * Size * Size;
}
