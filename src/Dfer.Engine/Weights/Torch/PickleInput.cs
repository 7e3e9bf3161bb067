using System.Buffers.Binary;
using Dfer.IO;

namespace Dfer.Weights;

/// <summary>
/// Reads a pickle stream (or the legacy checkpoint format around it) with its own small buffer,
/// so that the logical position is exact when one pickle ends and raw data follows. Every length
/// taken from the file is checked against the bytes that remain before anything is allocated.
/// </summary>
internal sealed class PickleInput
{
    private readonly Stream _stream;
    private readonly long _end;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _bufferPos;
    private int _bufferLength;
    private long _bufferStart;

    /// <param name="stream">A seekable stream positioned where reading starts.</param>
    /// <param name="path">The file, for messages.</param>
    /// <param name="what">What is being read ("data.pkl"), for messages.</param>
    internal PickleInput(Stream stream, string path, string what)
    {
        _stream = stream;
        _end = stream.Length;
        _bufferStart = stream.Position;
        Path = path;
        What = what;
    }

    internal string Path { get; }

    /// <summary>Names the part of the file being read, e.g. "data.pkl".</summary>
    internal string What { get; set; }

    internal long Position => _bufferStart + _bufferPos;

    internal long Remaining => _end - Position;

    /// <summary>The length of the whole input (the file, or the pickle record of a zip).</summary>
    internal long Length => _end;

    internal byte ReadByte()
    {
        if (_bufferPos == _bufferLength) Fill();
        return _buffer[_bufferPos++];
    }

    /// <summary>Reads <paramref name="count"/> bytes, failing before allocating when fewer remain.</summary>
    internal byte[] ReadBytes(long count, string purpose)
    {
        CheckAvailable(count, purpose);
        var result = new byte[count];
        ReadInto(result);
        return result;
    }

    internal void ReadInto(Span<byte> dst)
    {
        CheckAvailable(dst.Length, "data");
        while (dst.Length > 0)
        {
            if (_bufferPos == _bufferLength) Fill();
            int n = Math.Min(dst.Length, _bufferLength - _bufferPos);
            _buffer.AsSpan(_bufferPos, n).CopyTo(dst);
            _bufferPos += n;
            dst = dst[n..];
        }
    }

    internal void Skip(long count, string purpose)
    {
        CheckAvailable(count, purpose);
        long target = Position + count;
        if (target <= _bufferStart + _bufferLength)
        {
            _bufferPos = (int)(target - _bufferStart);
            return;
        }
        Seek(target);
    }

    internal void Seek(long position)
    {
        if (position < 0 || position > _end) throw Fail($"position {position} is outside the file");
        _stream.Position = position;
        _bufferStart = position;
        _bufferPos = 0;
        _bufferLength = 0;
    }

    internal ushort ReadUInt16()
    {
        Span<byte> b = stackalloc byte[2]; ReadInto(
        b); return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }
    internal int ReadInt32()
    {
        Span<byte> b = stackalloc byte[4]; ReadInto(
        b); return BinaryPrimitives.ReadInt32LittleEndian(b);
    }
    internal uint ReadUInt32()
    {
        Span<byte> b = stackalloc byte[4]; ReadInto(
        b); return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }
    internal long ReadInt64()
    {
        Span<byte> b = stackalloc byte[8]; ReadInto(
        b); return BinaryPrimitives.ReadInt64LittleEndian(b);
    }
    internal ulong ReadUInt64()
    {
        Span<byte> b = stackalloc byte[8]; ReadInto(
        b); return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }
    internal double ReadDoubleBigEndian()
    {
        Span<byte> b = stackalloc byte[8]; ReadInto(
        b); return BinaryPrimitives.ReadDoubleBigEndian(b);
    }

    /// <summary>
    /// Reads up to and excluding the next '\n'. Text opcodes are short (numbers, module names);
    /// the cap stops a file without newlines from being buffered whole.
    /// </summary>
    internal byte[] ReadLine(int maxLength = CheckpointLimits.MaxTextLineBytes)
    {
        var line = new List<byte>(32);
        while (true)
        {
            if (Remaining <= 0) throw Fail("ends in the middle of a text line");
            byte b = ReadByte();
            if (b == (byte)'\n') return line.ToArray();
            if (line.Count >= maxLength) throw Fail($"has a text line longer than {maxLength} bytes");
            line.Add(b);
        }
    }

    /// <summary>An error about the pickle at the current position.</summary>
    internal DferException Fail(string problem) =>
        UserFile.Fail(Path, $"{What} {problem} (at byte {Position})");

    private void CheckAvailable(long count, string purpose)
    {
        if (count < 0 || count > Remaining)
            throw Fail($"declares {purpose} of {count} bytes, but only {Remaining} remain; the file is truncated or "
                + "corrupt");
    }

    private void Fill()
    {
        _bufferStart += _bufferLength;
        _bufferPos = 0;
        _bufferLength = 0;
        if (_bufferStart >= _end) throw Fail("ends unexpectedly; the file is truncated");
        int n;
        try
        {
            n = _stream.Read(_buffer, 0, (int)Math.Min(_buffer.Length, _end - _bufferStart));
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            throw UserFile.Fail(Path, $"cannot read {What}: {UserFile.OneLine(ex.Message)}", ex);
        }
        if (n <= 0) throw Fail("ends unexpectedly; the file is truncated");
        _bufferLength = n;
    }
}
