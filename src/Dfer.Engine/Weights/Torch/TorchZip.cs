using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Dfer.IO;

namespace Dfer.Weights;

/// <summary>
/// The zip container of a torch.save file, read with suspicion: the central directory is parsed by
/// hand (zip64 included) and checked against the file before anything is allocated, records with
/// the same name or with overlapping data are refused (the first is ambiguous, Python's zipfile
/// taking the last copy; the second is how zip bombs multiply one compressed stream), and every
/// record read is checked against its CRC-32, stored and deflated alike.
/// </summary>
internal sealed class TorchZip
{
    private const uint LocalHeaderSignature = 0x04034b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint EndSignature = 0x06054b50;
    private const uint Zip64EndSignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const int LocalHeaderBytes = 30;
    private const int CentralHeaderBytes = 46;
    private const int EndBytes = 22;

    /// <summary>One record of the central directory, its fields checked to lie inside the file.</summary>
    internal sealed class Entry(string name, int nameBytes, ushort flags, ushort method, uint crc,
        long compressedSize, long size, long headerOffset)
    {
        internal string Name { get; } = name;
        internal int NameBytes { get; } = nameBytes;
        internal ushort Flags { get; } = flags;
        internal ushort Method { get; } = method;
        internal uint Crc { get; } = crc;
        internal long CompressedSize { get; } = compressedSize;
        /// <summary>The size once decompressed, as declared; checked while reading.</summary>
        internal long Size { get; } = size;
        internal long HeaderOffset { get; } = headerOffset;
        /// <summary>Where the next record (or the central directory) begins: this one's data must end before.</summary>
        internal long Limit { get; set; }
    }

    private readonly string _path;
    private readonly Stream _stream;
    private readonly Dictionary<string, Entry> _byName;
    private readonly long _inflateBudget;
    private long _inflated;

    private TorchZip(string path, Stream stream, List<Entry> entries)
    {
        _path = path;
        _stream = stream;
        Entries = entries;
        _byName = new Dictionary<string, Entry>(entries.Count, StringComparer.Ordinal);
        foreach (Entry e in entries)
            if (!_byName.TryAdd(e.Name, e))
                throw Fail($"has two zip records named {SafeText.Quote(e.Name)}; which one is meant is ambiguous "
                    + "(Python's zipfile takes the last, other readers the first)");
        long length = stream.Length;
        _inflateBudget = length
            > (long.MaxValue - CheckpointLimits.ExpandedAllowanceBytes) / CheckpointLimits.ExpandedBytesPerFileByte
            ? long.MaxValue
            : length * CheckpointLimits.ExpandedBytesPerFileByte + CheckpointLimits.ExpandedAllowanceBytes;
    }

    /// <summary>The records in central-directory order.</summary>
    internal IReadOnlyList<Entry> Entries { get; }

    internal Entry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Reads and checks the central directory of the zip archive <paramref name="stream"/>.</summary>
    internal static TorchZip Open(string path, Stream stream)
    {
        long length = stream.Length;
        DferException Bad(string problem)
            => UserFile.Fail(path, $"is not a readable zip archive ({problem}); the file is truncated or corrupt");

        // The end-of-central-directory record: the last one in the final 64 KiB (its comment can be that long).
        int tailLength = (int)Math.Min(length, EndBytes + 0xFFFF);
        var tail = new byte[tailLength];
        stream.Position = length - tailLength;
        stream.ReadExactly(tail);
        int end = -1;
        for (int i = tailLength - EndBytes; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EndSignature) { end = i; break; }
        }
        if (end < 0) throw Bad("no end of central directory record");
        long endOffset = length - tailLength + end;
        ReadOnlySpan<byte> eocd = tail.AsSpan(end, EndBytes);
        ushort disk = BinaryPrimitives.ReadUInt16LittleEndian(eocd[4..]);
        ushort cdDisk = BinaryPrimitives.ReadUInt16LittleEndian(eocd[6..]);
        ulong count = BinaryPrimitives.ReadUInt16LittleEndian(eocd[10..]);
        ulong cdSize = BinaryPrimitives.ReadUInt32LittleEndian(eocd[12..]);
        ulong cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(eocd[16..]);
        long cdEnd = endOffset;

        // Zip64: a locator just before the record points at the 64-bit end record.
        if (endOffset >= 20)
        {
            Span<byte> locator = stackalloc byte[20];
            stream.Position = endOffset - 20;
            stream.ReadExactly(locator);
            if (BinaryPrimitives.ReadUInt32LittleEndian(locator) == Zip64LocatorSignature)
            {
                ulong at = BinaryPrimitives.ReadUInt64LittleEndian(locator[8..]);
                if (endOffset < 20 + 56 || at > (ulong)(endOffset - 20 - 56))
                    throw Bad($"its zip64 end record at offset {at} is outside the file");
                Span<byte> z = stackalloc byte[56];
                stream.Position = (long)at;
                stream.ReadExactly(z);
                if (BinaryPrimitives.ReadUInt32LittleEndian(z) != Zip64EndSignature)
                    throw Bad("its zip64 locator points at no zip64 end record");
                disk = (ushort)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(z[16..]), ushort.MaxValue);
                cdDisk = (ushort)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(z[20..]), ushort.MaxValue);
                count = BinaryPrimitives.ReadUInt64LittleEndian(z[32..]);
                cdSize = BinaryPrimitives.ReadUInt64LittleEndian(z[40..]);
                cdOffset = BinaryPrimitives.ReadUInt64LittleEndian(z[48..]);
                cdEnd = (long)at;
            }
            else if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
                throw Bad("it needs zip64 fields but has no zip64 end record");
        }
        if (disk != 0 || cdDisk != 0)
            throw UserFile.Fail(path, "is a multi-part (spanned) zip archive, which Dfer does not read");
        if (cdOffset > (ulong)cdEnd || cdSize > (ulong)cdEnd - cdOffset)
            throw Bad($"its central directory of {cdSize} bytes at offset {cdOffset} runs past the end of the file");
        if (count > CheckpointLimits.MaxZipEntries)
            throw UserFile.Fail(path,
                $"lists {count} zip records, more than the {CheckpointLimits.MaxZipEntries} Dfer reads");
        if (count * CentralHeaderBytes > cdSize)
            throw Bad($"it lists {count} records in a central directory of only {cdSize} bytes");
        if (cdSize > CheckpointLimits.MaxCentralDirectoryBytes)
            throw UserFile.Fail(path,
                $"has a zip central directory of {cdSize} bytes, more than "
                + $"the {CheckpointLimits.MaxCentralDirectoryBytes} Dfer reads");

        var cd = new byte[cdSize];
        stream.Position = (long)cdOffset;
        stream.ReadExactly(cd);
        var entries = new List<Entry>((int)count);
        int pos = 0;
        for (ulong i = 0; i < count; i++)
        {
            if (cd.Length - pos < CentralHeaderBytes
                || BinaryPrimitives.ReadUInt32LittleEndian(cd.AsSpan(pos)) != CentralHeaderSignature)
                throw Bad($"central directory record {i} is malformed");
            ReadOnlySpan<byte> h = cd.AsSpan(pos, CentralHeaderBytes);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            ushort method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
            ulong csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            ulong usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            uint startDisk = BinaryPrimitives.ReadUInt16LittleEndian(h[34..]);
            ulong offset = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            if (cd.Length - pos - CentralHeaderBytes < nameLength + extraLength + commentLength)
                throw Bad($"central directory record {i} runs past the directory");
            ReadOnlySpan<byte> nameBytes = cd.AsSpan(pos + CentralHeaderBytes, nameLength);
            string name = DecodeName(nameBytes);
            ReadOnlySpan<byte> extra = cd.AsSpan(pos + CentralHeaderBytes + nameLength, extraLength);
            pos += CentralHeaderBytes + nameLength + extraLength + commentLength;

            if (usize == 0xFFFFFFFF || csize == 0xFFFFFFFF || offset == 0xFFFFFFFF || startDisk == 0xFFFF)
            {
                // Zip64 extended information: the 64-bit values of exactly the fields marked 0xFFFFFFFF, in order.
                ReadOnlySpan<byte> z64 = FindExtra(extra, 0x0001);
                bool ok = true;
                int at = 0;
                if (usize == 0xFFFFFFFF) usize = Next64(z64, ref at, ref ok);
                if (csize == 0xFFFFFFFF) csize = Next64(z64, ref at, ref ok);
                if (offset == 0xFFFFFFFF) offset = Next64(z64, ref at, ref ok);
                if (startDisk == 0xFFFF)
                {
                    if (z64.Length - at < 4) ok = false;
                    else startDisk = BinaryPrimitives.ReadUInt32LittleEndian(z64[at..]);
                }
                if (!ok) throw Bad($"record {SafeText.Quote(name)} lacks the zip64 sizes its header promises");
            }
            if (startDisk != 0)
                throw UserFile.Fail(path, "is a multi-part (spanned) zip archive, which Dfer does not read");
            // The data (after a local header at least as long as the fixed part and the name) lies before the central
            // directory.
            if (offset > cdOffset || csize > cdOffset - offset
                || (ulong)(LocalHeaderBytes + nameLength) > cdOffset - offset - csize)
                throw Bad($"record {SafeText.Quote(name)} claims {csize} bytes at offset {offset}, beyond where the "
                    + $"records end ({cdOffset})");
            if (usize > long.MaxValue) throw Bad($"record {SafeText.Quote(name)} claims a size of {usize} bytes");
            entries.Add(new Entry(name, nameLength, flags, method, crc, (long)csize, (long)usize, (long)offset));
        }

        // Each record's local header and data must end before the next record begins: records
        // sharing bytes (one compressed stream listed twice, say) are a zip bomb, not a checkpoint.
        var byOffset = entries.OrderBy(e => e.HeaderOffset).ToList();
        for (int i = 0; i < byOffset.Count; i++)
        {
            Entry e = byOffset[i];
            e.Limit = i + 1 < byOffset.Count ? byOffset[i + 1].HeaderOffset : (long)cdOffset;
            if (e.HeaderOffset + LocalHeaderBytes + e.NameBytes + e.CompressedSize > e.Limit)
            {
                string other = i + 1 < byOffset.Count ? SafeText.Quote(byOffset[i + 1].Name) : "the central directory";
                throw UserFile.Fail(path,
                    $"has zip records {SafeText.Quote(e.Name)} and {other} whose data overlap; refusing (overlapping "
                    + "records are a zip-bomb technique)");
            }
        }
        return new TorchZip(path, stream, entries);
    }

    /// <summary>Reads a whole record of at most <paramref name="max"/> bytes.</summary>
    internal byte[] ReadAll(Entry e, long max, string what)
    {
        if (e.Size > max)
            throw Fail($"record {SafeText.Quote(e.Name)} ({what}) is {e.Size} bytes, more than the {max} Dfer reads");
        var data = new byte[e.Size];
        Read(e, 0, data);
        return data;
    }

    /// <summary>
    /// Streams the whole record, checking its size and CRC-32, and keeps only the bytes
    /// [<paramref name="from"/>, from + window.Length) in <paramref name="window"/>.
    /// </summary>
    internal void Read(Entry e, long from, Span<byte> window)
    {
        string q = SafeText.Quote(e.Name);
        if (from < 0 || from > e.Size || window.Length > e.Size - from)
            throw Fail($"record {q} holds {e.Size} bytes, but bytes [{from}, {from + window.Length}) of it are needed");
        if ((e.Flags & 1) != 0) throw Fail($"record {q} is encrypted, which Dfer does not read");
        if (e.Method is not (0 or 8))
            throw Fail($"record {q} uses zip compression method {e.Method}; Dfer reads stored and deflated records");
        if (e.Method == 0 && e.Size != e.CompressedSize)
            throw Fail($"record {q} is stored uncompressed but declares {e.CompressedSize} bytes in the file "
                + $"and {e.Size} once read; the file is corrupt");
        if (e.Method == 8)
        {
            if (e.Size > _inflateBudget - _inflated)
                throw Fail($"record {q} inflates to {e.Size} bytes; the records Dfer reads may inflate to at "
                    + $"most {_inflateBudget} bytes from a file of {_stream.Length} (a zip bomb?)");
            _inflated += e.Size;
        }

        Span<byte> local = stackalloc byte[LocalHeaderBytes];
        _stream.Position = e.HeaderOffset;
        _stream.ReadExactly(local);
        if (BinaryPrimitives.ReadUInt32LittleEndian(local) != LocalHeaderSignature)
            throw Fail($"record {q} has no local header at offset {e.HeaderOffset}; the file is corrupt");
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(local[26..]);
        int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(local[28..]);
        long dataStart = e.HeaderOffset + LocalHeaderBytes + nameLength + extraLength;
        if (dataStart + e.CompressedSize > e.Limit)
            throw Fail($"record {q}'s data runs into the next record; the file is corrupt");
        var localName = new byte[nameLength];
        _stream.ReadExactly(localName);
        if (DecodeName(localName) != e.Name)
            throw Fail($"record {q} is named {SafeText.Quote(DecodeName(localName))} in its local header; the file is "
                + "corrupt");

        Stream raw = new WindowStream(_stream, dataStart, e.CompressedSize);
        using Stream data = e.Method == 8 ? new DeflateStream(raw, CompressionMode.Decompress) : raw;
        var buffer = new byte[(int)Math.Min(1 << 16, Math.Max(e.Size, 1))];
        // System.IO.Hashing: the BCL team's CRC-32 (zip's polynomial), vectorised, incremental.
        var crc = new System.IO.Hashing.Crc32();
        long done = 0;
        try
        {
            while (done < e.Size)
            {
                int n = data.Read(buffer, 0, (int)Math.Min(buffer.Length, e.Size - done));
                if (n == 0)
                    throw Fail($"record {q} ends after {done} of its {e.Size} bytes; the file is truncated or corrupt");
                ReadOnlySpan<byte> chunk = buffer.AsSpan(0, n);
                crc.Append(chunk);
                // The part of [done, done + n) that the window wants.
                long lo = Math.Max(done, from), hi = Math.Min(done + n, from + window.Length);
                if (lo < hi) chunk[(int)(lo - done)..(int)(hi - done)].CopyTo(window[(int)(lo - from)..]);
                done += n;
            }
            if (e.Method == 8 && data.Read(buffer, 0, 1) > 0)
                throw Fail($"record {q} inflates to more than its declared {e.Size} bytes; the file is corrupt");
        }
        catch (InvalidDataException ex)
        {
            throw UserFile.Fail(_path,
                $"record {q} is not valid deflate data ({UserFile.OneLine(ex.Message)}); the file is corrupt", ex);
        }
        uint actual = crc.GetCurrentHashAsUInt32();
        if (actual != e.Crc)
            throw Fail($"record {q} fails its CRC-32 check (the zip says {e.Crc:x8}, the data gives {actual:x8}); the "
                + "file is corrupt");
    }

    private DferException Fail(string problem) => UserFile.Fail(_path, problem);

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>Zip names are UTF-8 (flag bit 11) or, in old writers, code page 437; both are ASCII for PyTorch's
    /// names.</summary>
    private static string DecodeName(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(bytes);
        }
    }

    private static ulong Next64(ReadOnlySpan<byte> fields, ref int at, ref bool ok)
    {
        if (fields.Length - at < 8)
        {
            ok = false;
            return 0;
        }
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(fields[at..]);
        at += 8;
        return v;
    }

    private static ReadOnlySpan<byte> FindExtra(ReadOnlySpan<byte> extra, ushort id)
    {
        while (extra.Length >= 4)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (size > extra.Length - 4) break;
            if (tag == id) return extra.Slice(4, size);
            extra = extra[(4 + size)..];
        }
        return [];
    }

    /// <summary>A read-only window [start, start + length) of a seekable stream, for DeflateStream to read
    /// from.</summary>
    private sealed class WindowStream(Stream inner, long start, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            long left = length - _position;
            if (left <= 0 || buffer.IsEmpty) return 0;
            if (buffer.Length > left) buffer = buffer[..(int)left];
            inner.Position = start + _position;
            int n = inner.Read(buffer);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
