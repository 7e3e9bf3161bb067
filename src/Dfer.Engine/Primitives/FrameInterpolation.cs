namespace Dfer.Primitives;

/// <summary>
/// IFDD's sampling of frames at fractional time positions (<c>normalize_grid</c> + bilinear
/// <c>grid_sample</c>, border padding, align_corners=False): <c>p = clamp(idx·T/D − 0.5, 0, T−1)</c> with
/// divisor D (IFDD: 7, for 8 frames). Shared by the framesample and lifting ops.
/// </summary>
public sealed class FrameInterpolation(double divisor)
{
    /// <summary>What <c>normalize_grid</c> divides the index by (IFDD: 7, for 8 frames).</summary>
    public double Divisor { get; } =
        divisor > 0 ? divisor : throw new ArgumentOutOfRangeException(nameof(divisor), divisor, "must be positive");

    /// <summary>
    /// The sampling position of a fractional index on <paramref name="frames"/> frames, clamped to the border.
    /// </summary>
    public double Position(double index, int frames) => Math.Clamp(index * frames / Divisor - 0.5, 0, frames - 1);
}
