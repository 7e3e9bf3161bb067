using System.Runtime.InteropServices;

namespace Dfer.Tensors;

/// <summary>
/// 64-byte aligned, zero-initialised native memory that never moves, so kernels can hold raw
/// pointers across a whole forward pass without pinning.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    private void* _ptr;

    public NativeBuffer(long bytes)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes));
        Bytes = bytes;
        _ptr = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 64), 64);
        NativeMemory.Clear(_ptr, (nuint)Math.Max(bytes, 64));
    }

    public long Bytes { get; }

    public void* Pointer => _ptr != null ? _ptr : throw new ObjectDisposedException(nameof(NativeBuffer));

    public void Dispose()
    {
        if (_ptr != null)
        {
            NativeMemory.AlignedFree(_ptr);
            _ptr = null;
        }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer()
    {
        if (_ptr != null) NativeMemory.AlignedFree(_ptr);
    }
}
