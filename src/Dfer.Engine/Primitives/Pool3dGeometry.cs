namespace Dfer.Primitives;

/// <summary>
/// The window of a 3D max pooling over t, h, w: kernel, stride and padding triples. Padding is at most
/// half the kernel, as in PyTorch, so every window holds at least one element; extents are
/// <c>(size + 2p − k)/s + 1</c>. Shared by the maxpool3d and tokenmaxpool ops.
/// </summary>
public sealed class Pool3dGeometry
{
    /// <summary>Throws, naming <paramref name="op"/>, when a triple is out of range.</summary>
    public Pool3dGeometry(
        (int T, int H, int W) kernel, (int T, int H, int W) stride, (int T, int H, int W) pad, string op)
    {
        if (kernel.T < 1 || kernel.H < 1 || kernel.W < 1)
            throw new ArgumentException($"{op} kernel must be at least 1 on every axis");
        if (stride.T < 1 || stride.H < 1 || stride.W < 1)
            throw new ArgumentException($"{op} stride must be at least 1 on every axis");
        if (pad.T < 0 || pad.H < 0 || pad.W < 0 || 2 * pad.T > kernel.T || 2 * pad.H > kernel.H || 2 * pad.W > kernel.W)
            throw new ArgumentException($"{op} padding must be between 0 and half the kernel");
        Kernel = kernel; Stride = stride; Pad = pad;
    }

    public (int T, int H, int W) Kernel { get; }
    public (int T, int H, int W) Stride { get; }
    public (int T, int H, int W) Pad { get; }

    /// <summary>Elements in one window.</summary>
    public long WindowSize => (long)Kernel.T * Kernel.H * Kernel.W;

    /// <summary>The pooled extents of a (t, h, w) grid, or null when the grid is smaller than the kernel.</summary>
    public (int T, int H, int W)? OutGrid(int t, int h, int w)
    {
        int to = Extent(t, Kernel.T, Stride.T, Pad.T), ho = Extent(h, Kernel.H, Stride.H, Pad.H);
        int wo = Extent(w, Kernel.W, Stride.W, Pad.W);
        if (to <= 0 || ho <= 0 || wo <= 0
            || t + 2 * Pad.T < Kernel.T || h + 2 * Pad.H < Kernel.H || w + 2 * Pad.W < Kernel.W) return null;
        return (to, ho, wo);
    }

    private static int Extent(int size, int k, int s, int p) => (size + 2 * p - k) / s + 1;
}
