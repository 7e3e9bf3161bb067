namespace Dfer.Devices.Ilgpu;

/// <summary>Launch-size arithmetic shared by the ILGPU kernels.</summary>
public static class IlgpuLaunch
{
    /// <summary>A one-thread-per-element launch size; ILGPU's 1D index is an int, so larger tensors are
    /// refused.</summary>
    public static int Count(long elements)
    {
        if (elements > int.MaxValue)
            throw new DferException(
                $"a tensor of {elements} elements is too large for one ILGPU launch (at most {int.MaxValue}); use a "
                + "smaller --batch");
        return (int)elements;
    }
}
