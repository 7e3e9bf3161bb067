using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;
using Dfer.IO;
using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>One tensor listed in a safetensors header.</summary>
/// <param name="Name">The tensor's name, e.g. "fc.weight".</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions, outermost first; empty for a scalar.</param>
/// <param name="Begin">Offset of the first byte, relative to the start of the data section.</param>
/// <param name="End">Offset one past the last byte, relative to the start of the data section.</param>
public sealed record SafetensorsEntry(string Name, DType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long d in Shape) count = checked(count * d);
            return count;
        }
    }

    /// <summary>Size of the tensor's data in bytes.</summary>
    public long ByteLength => End - Begin;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name} {DType.SafetensorsName()} {SafetensorsHeader.FormatShape(Shape)} @[{Begin}, {End})";
}

/// <summary>
/// A safetensors file, memory-mapped read-only: opening parses and validates the header, and
/// tensor bytes are read straight from the mapping when asked for.
/// </summary>
/// <remarks>
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON describing each tensor
/// (dtype, shape, data_offsets relative to the data section) plus optional string metadata, then
/// the data section. Every problem with the file is reported as a one-line
/// <see cref="DferException"/> naming it. Dispose the file to release the mapping; there is no
/// finalizer because spans handed out by <see cref="GetBytes"/> point into the mapping and do not
/// keep this object alive, so unmapping behind their back could crash the process.
/// </remarks>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data;
    private readonly Dictionary<string, SafetensorsEntry> _byName;
    private bool _disposed;

    private SafetensorsFile(string path, MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* data,
        List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _mapping = mapping;
        _view = view;
        _data = data;
        Entries = entries.AsReadOnly();
        Metadata = metadata.AsReadOnly();
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    /// <summary>The path the file was opened from, as given.</summary>
    public string Path { get; }

    /// <summary>The tensors, in the order the header lists them.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The header's "__metadata__" map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens, memory-maps and validates the safetensors file at <paramref name="path"/>.</summary>
    /// <exception cref="DferException">The file is missing, unreadable, or not a valid safetensors file.</exception>
    public static SafetensorsFile Open(string path)
    {
        FileStream stream = UserFile.OpenRead(path);
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            long fileLength = stream.Length;
            if (fileLength < 8)
                throw UserFile.Fail(path,
                    $"file is {fileLength} bytes, shorter than the 8-byte header length every safetensors file starts "
                    + "with");

            Span<byte> prefix = stackalloc byte[9];
            stream.ReadExactly(prefix[..(int)Math.Min(9, fileLength)]);
            stream.Position = 8;
            // A PyTorch checkpoint under a .safetensors name would otherwise be reported as a
            // header length of billions; say what the file is.
            if (prefix[..4].SequenceEqual("PK\x03\x04"u8))
                throw UserFile.Fail(path,
                    "this is a PyTorch checkpoint (a torch.save zip archive), not safetensors; name it .pth (Dfer "
                    + "reads checkpoints too) or convert it with dfer convert");
            if (prefix[0] == 0x80 && prefix[1] is >= 2 and <= 5 && !(fileLength >= 9 && prefix[8] == (byte)'{'))
                throw UserFile.Fail(path,
                    "this is a PyTorch checkpoint (a legacy torch.save pickle), not safetensors; name it .pth (Dfer "
                    + "reads checkpoints too) or convert it with dfer convert");
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > (ulong)(fileLength - 8))
                throw UserFile.Fail(path,
                    $"header length {headerLength} runs past the end of the file ({fileLength} bytes); the file is "
                    + "truncated or not safetensors");
            if (headerLength > SafetensorsHeader.MaxHeaderBytes)
                throw UserFile.Fail(path,
                    $"header length {headerLength} exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit; not a "
                    + "safetensors file");

            var header = new byte[headerLength];
            stream.ReadExactly(header);
            long dataStart = 8 + (long)headerLength;
            var (entries, metadata) = SafetensorsHeader.Parse(path, header, fileLength - dataStart);

            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            // The view starts at the page boundary below the requested offset.
            byte* data = basePointer + view.PointerOffset + dataStart;
            return new SafetensorsFile(path, mapping, view, data, entries, metadata);
        }
        catch (Exception ex)
        {
            view?.Dispose();
            mapping?.Dispose();
            stream.Dispose();
            if (ex is IOException or UnauthorizedAccessException)
                throw UserFile.Fail(path, $"cannot read: {UserFile.OneLine(ex.Message)}", ex);
            throw;
        }
    }

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGet(string name, [MaybeNullWhen(false)] out SafetensorsEntry entry) =>
        _byName.TryGetValue(name, out entry);

    /// <summary>
    /// The tensor's raw little-endian bytes: a view into the mapping, valid until the file is
    /// disposed.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The file has been disposed.</exception>
    /// <exception cref="ArgumentException"><paramref name="e"/> is not an entry of this file.</exception>
    /// <exception cref="DferException">The tensor is 2 GiB or larger, beyond what a span can view.</exception>
    public ReadOnlySpan<byte> GetBytes(SafetensorsEntry e)
    {
        ArgumentNullException.ThrowIfNull(e);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_byName.TryGetValue(e.Name, out SafetensorsEntry? own)
            || (!ReferenceEquals(own, e) && (own.DType != e.DType || own.Begin != e.Begin || own.End != e.End
                                             || !own.Shape.AsSpan().SequenceEqual(e.Shape))))
            throw new ArgumentException($"{e} is not an entry of {Path}", nameof(e));
        if (e.ByteLength > int.MaxValue)
            throw UserFile.Fail(Path,
                $"tensor {SafeText.Quote(e.Name)} is {e.ByteLength} bytes; Dfer reads tensors of at "
                + $"most {int.MaxValue} bytes");
        return new ReadOnlySpan<byte>(_data + e.Begin, (int)e.ByteLength);
    }

    /// <summary>
    /// Copies the tensor out as float32: F32 as is, F16 and BF16 widened exactly, F64 rounded to
    /// nearest.
    /// </summary>
    /// <exception cref="DferException">The tensor holds integers or booleans.</exception>
    public float[] ReadFloat32(SafetensorsEntry e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.DType is not (DType.F32 or DType.F16 or DType.BF16 or DType.F64))
            throw UserFile.Fail(Path,
                $"tensor {SafeText.Quote(e.Name)} has dtype {e.DType.SafetensorsName()}, which cannot be read as "
                + "float32 (readable: F32, F16, BF16, F64)");
        ReadOnlySpan<byte> src = GetBytes(e);
        var dst = new float[CheckedCount(e)];
        switch (e.DType)
        {
            case DType.F32: ElementConversion.CopyFloat32(src, dst); break;
            case DType.F16: ElementConversion.WidenFloat16(src, dst); break;
            case DType.BF16: ElementConversion.WidenBFloat16(src, dst); break;
            default: ElementConversion.NarrowFloat64(src, dst); break;
        }
        return dst;
    }

    /// <summary>Copies the tensor out as int64: I64 as is, I32, U8 and BOOL widened.</summary>
    /// <exception cref="DferException">The tensor holds floating-point values.</exception>
    public long[] ReadInt64(SafetensorsEntry e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.DType is not (DType.I64 or DType.I32 or DType.U8 or DType.Bool))
            throw UserFile.Fail(Path,
                $"tensor {SafeText.Quote(e.Name)} has dtype {e.DType.SafetensorsName()}, which cannot be read as int64 "
                + "(readable: I64, I32, U8, BOOL)");
        ReadOnlySpan<byte> src = GetBytes(e);
        var dst = new long[CheckedCount(e)];
        switch (e.DType)
        {
            case DType.I64: ElementConversion.CopyInt64(src, dst); break;
            case DType.I32: ElementConversion.WidenInt32(src, dst); break;
            default: ElementConversion.WidenUInt8(src, dst); break;
        }
        return dst;
    }

    /// <summary>Releases the mapping; spans from <see cref="GetBytes"/> must no longer be used.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }

    private int CheckedCount(SafetensorsEntry e)
    {
        long count = e.ElementCount;
        if (count > Array.MaxLength)
            throw UserFile.Fail(Path,
                $"tensor {SafeText.Quote(e.Name)} has {count} elements, more than an array can hold");
        return (int)count;
    }
}
