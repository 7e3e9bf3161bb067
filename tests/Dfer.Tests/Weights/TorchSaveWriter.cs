using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Dfer.Tests.Weights;

/// <summary>
/// Writes float32 state dicts in the zip format of <c>torch.save</c> (PyTorch ≥ 1.6), so that tests
/// can build checkpoints of any model without Python. Files from it load with real PyTorch's
/// <c>torch.load</c> and give the same values (checked by hand with PyTorch 1.13).
/// </summary>
/// <remarks>
/// Layout: <c>archive/data.pkl</c> (a protocol-2 pickle of a collections.OrderedDict whose values
/// are <c>torch._utils._rebuild_tensor_v2</c> calls on persistent-id storages),
/// <c>archive/byteorder</c>, one <c>archive/data/&lt;i&gt;</c> record of little-endian float32 per
/// tensor, and <c>archive/version</c>. Records are stored uncompressed, as PyTorch stores them.
/// </remarks>
public static class TorchSaveWriter
{
    /// <param name="path">The file to write.</param>
    /// <param name="tensors">Name, row-major data and shape of each tensor, in state-dict order.</param>
    /// <param name="wrapperKey">When set, the state dict goes under this key of an outer dict that
    /// also holds an int "epoch", as training scripts save it.</param>
    /// <param name="modulePrefix">Prefix every name with DataParallel's "module.".</param>
    public static void Write(string path, IEnumerable<(string Name, float[] Data, long[] Shape)> tensors,
        string? wrapperKey = null, bool modulePrefix = false)
    {
        var list = tensors.ToList();
        byte[] pickle = Pickle(list, wrapperKey, modulePrefix);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        AddRecord(zip, "archive/data.pkl", pickle);
        AddRecord(zip, "archive/byteorder", "little"u8.ToArray());
        for (int i = 0; i < list.Count; i++) AddRecord(zip, $"archive/data/{i}", FloatBytes(list[i].Data));
        AddRecord(zip, "archive/version", "3\n"u8.ToArray());
    }

    /// <summary>
    /// The same checkpoint as <see cref="Write"/>, as the records of a <see cref="RawZip"/>, so
    /// that tests can damage the container: compress records, break CRCs, use zip64.
    /// </summary>
    public static RawZip Zip(IEnumerable<(string Name, float[] Data, long[] Shape)> tensors, bool deflate = false)
    {
        var list = tensors.ToList();
        var zip = new RawZip();
        zip.Add("archive/data.pkl", Pickle(list, null, false), deflate);
        zip.Add("archive/byteorder", "little"u8.ToArray(), deflate);
        for (int i = 0; i < list.Count; i++) zip.Add($"archive/data/{i}", FloatBytes(list[i].Data), deflate);
        zip.Add("archive/version", "3\n"u8.ToArray(), deflate);
        return zip;
    }

    /// <summary>Little-endian float32 bytes, as a storage record holds them.</summary>
    public static byte[] FloatBytes(float[] data)
    {
        var bytes = new byte[data.Length * 4];
        for (int k = 0; k < data.Length; k++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(k * 4), data[k]);
        return bytes;
    }

    /// <summary>The data.pkl of <see cref="Write"/>: storage i holds tensor i.</summary>
    public static byte[] Pickle(IReadOnlyList<(string Name, float[] Data, long[] Shape)> list,
        string? wrapperKey = null, bool modulePrefix = false)
    {
        var p = new PickleBuilder();
        p.Proto2();
        if (wrapperKey is not null)
        {
            p.Op('}').Op('(');
            p.Unicode("epoch").Int(7);
            p.Unicode(wrapperKey);
        }
        p.Global("collections", "OrderedDict").Op(')').Op('R').Op('(');
        for (int i = 0; i < list.Count; i++)
        {
            var (name, data, shape) = list[i];
            long count = shape.Aggregate(1L, (a, d) => a * d);
            if (count != data.Length)
                throw new ArgumentException(
                    $"tensor '{name}' has {data.Length} values for shape [{string.Join(", ", shape)}]");
            p.Unicode(modulePrefix ? "module." + name : name);
            p.Global("torch._utils", "_rebuild_tensor_v2").Op('(');
            // The storage: persistent id ('storage', torch.FloatStorage, key, location, numel).
            p.Op('(').Unicode("storage").Global("torch", "FloatStorage")
                .Unicode(i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .Unicode("cpu").Int(data.Length).Op('t').Op('Q');
            p.Int(0); // storage offset
            p.Op('(');
            foreach (long d in shape) p.Int(d);
            p.Op('t').Op('(');
            long stride = 1;
            var strides = new long[shape.Length];
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                strides[d] = stride;
                stride *= shape[d];
            }
            foreach (long s in strides) p.Int(s);
            p.Op('t');
            p.Op(0x89); // requires_grad = False
            p.Global("collections", "OrderedDict").Op(')').Op('R'); // backward hooks
            p.Op('t').Op('R');
        }
        p.Op('u');
        if (wrapperKey is not null) p.Op('u');
        p.Op('.');
        return p.ToArray();
    }

    private static void AddRecord(ZipArchive zip, string name, byte[] data)
    {
        ZipArchiveEntry entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using Stream s = entry.Open();
        s.Write(data);
    }

    /// <summary>Pickle opcodes, protocol 2.</summary>
    private sealed class PickleBuilder
    {
        private readonly MemoryStream _bytes = new();

        public PickleBuilder Proto2()
        {
            _bytes.WriteByte(0x80);
            _bytes.WriteByte(2);
            return this;
        }

        public PickleBuilder Op(char op) => Op((byte)op);

        public PickleBuilder Op(byte op)
        {
            _bytes.WriteByte(op);
            return this;
        }

        public PickleBuilder Global(string module, string name)
        {
            Op('c');
            _bytes.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
            return this;
        }

        public PickleBuilder Unicode(string text)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(text);
            Op('X');
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)utf8.Length);
            _bytes.Write(length);
            _bytes.Write(utf8);
            return this;
        }

        public PickleBuilder Int(long value)
        {
            if (value is >= int.MinValue and <= int.MaxValue)
            {
                Op('J');
                Span<byte> b = stackalloc byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(b, (int)value);
                _bytes.Write(b);
            }
            else
            {
                Op(0x8a).Op(8); // LONG1 of 8 bytes
                Span<byte> b = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(b, value);
                _bytes.Write(b);
            }
            return this;
        }

        public byte[] ToArray() => _bytes.ToArray();
    }
}

/// <summary>
/// Writes zip archives byte by byte (local headers, central directory, end records, optionally
/// zip64), bypassing System.IO.Compression, so that tests can make the damaged and hostile
/// archives no well-behaved writer produces: wrong CRCs, lying sizes, duplicate names, records
/// whose data overlap, compression methods Dfer does not read.
/// </summary>
public sealed class RawZip
{
    private sealed class Record
    {
        public required string Name;
        public required byte[] Payload;   // the bytes in the file (compressed or not)
        public ushort Method;
        public uint Crc;
        public long Size;                 // declared uncompressed size
        public int AliasOf = -1;          // a central entry pointing at another record's local header
        public long Offset;
    }

    private readonly List<Record> _records = [];

    /// <summary>Adds a record; <paramref name="crc"/> and <paramref name="size"/> override the true values.</summary>
    public RawZip Add(string name, byte[] data, bool deflate = false, uint? crc = null, long? size = null,
        ushort? method = null)
    {
        byte[] payload = data;
        if (deflate)
        {
            var ms = new MemoryStream();
            using (var d = new DeflateStream(ms, CompressionLevel.Optimal, leaveOpen: true)) d.Write(data);
            payload = ms.ToArray();
        }
        _records.Add(new Record
        {
            Name = name,
            Payload = payload,
            Method = method ?? (ushort)(deflate ? 8 : 0),
            Crc = crc ?? Crc32Of(data),
            Size = size ?? data.Length,
        });
        return this;
    }

    /// <summary>Adds an already deflated record of <paramref name="size"/> bytes and CRC-32
    /// <paramref name="crc"/>.</summary>
    public RawZip AddDeflated(string name, byte[] deflated, long size, uint crc)
    {
        _records.Add(new Record { Name = name, Payload = deflated, Method = 8, Crc = crc, Size = size });
        return this;
    }

    /// <summary>A second central-directory entry named <paramref name="name"/> for the data of record
    /// <paramref name="index"/>.</summary>
    public RawZip Alias(string name, int index)
    {
        Record r = _records[index];
        _records.Add(
            new Record { Name = name, Payload = [], Method = r.Method, Crc = r.Crc, Size = r.Size, AliasOf = index });
        return this;
    }

    /// <summary>The archive; with <paramref name="zip64"/>, sizes and offsets live in zip64 fields and end
    /// records.</summary>
    public byte[] Build(bool zip64 = false)
    {
        var o = new MemoryStream();
        var w = new BinaryWriter(o);
        foreach (Record r in _records)
        {
            if (r.AliasOf >= 0) continue;
            r.Offset = o.Position;
            byte[] name = Encoding.UTF8.GetBytes(r.Name);
            w.Write(0x04034b50u); w.Write((ushort)20); w.Write((ushort)0x0800); w.Write(r.Method);
            w.Write((ushort)0); w.Write((ushort)0x21); w.Write(r.Crc);
            w.Write((uint)r.Payload.Length); w.Write((uint)r.Size);
            w.Write((ushort)name.Length); w.Write((ushort)0); w.Write(name);
            w.Write(r.Payload);
        }
        long cdStart = o.Position;
        foreach (Record r in _records)
        {
            Record data = r.AliasOf >= 0 ? _records[r.AliasOf] : r;
            byte[] name = Encoding.UTF8.GetBytes(r.Name);
            w.Write(0x02014b50u); w.Write((ushort)45); w.Write((ushort)45); w.Write((ushort)0x0800); w.Write(
                data.Method);
            w.Write((ushort)0); w.Write((ushort)0x21); w.Write(data.Crc);
            w.Write(zip64 ? 0xFFFFFFFFu : (uint)data.Payload.Length);
            w.Write(zip64 ? 0xFFFFFFFFu : (uint)data.Size);
            w.Write((ushort)name.Length); w.Write((ushort)(zip64 ? 28 : 0)); w.Write((ushort)0);
            w.Write((ushort)0); w.Write((ushort)0); w.Write(0u);
            w.Write(zip64 ? 0xFFFFFFFFu : (uint)data.Offset);
            w.Write(name);
            if (zip64)
            {
                w.Write((ushort)1); w.Write((ushort)24);
                w.Write(data.Size); w.Write((long)data.Payload.Length); w.Write(data.Offset);
            }
        }
        long cdSize = o.Position - cdStart;
        if (zip64)
        {
            long end64 = o.Position;
            w.Write(0x06064b50u); w.Write(44L); w.Write((ushort)45); w.Write((ushort)45); w.Write(0u); w.Write(0u);
            w.Write((long)_records.Count); w.Write((long)_records.Count); w.Write(cdSize); w.Write(cdStart);
            w.Write(0x07064b50u); w.Write(0u); w.Write(end64); w.Write(1u);
        }
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0);
        w.Write(zip64 ? (ushort)0xFFFF : (ushort)_records.Count); w.Write(
            zip64 ? (ushort)0xFFFF : (ushort)_records.Count);
        w.Write(zip64 ? 0xFFFFFFFFu : (uint)cdSize); w.Write(zip64 ? 0xFFFFFFFFu : (uint)cdStart); w.Write((ushort)0);
        return o.ToArray();
    }

    /// <summary>The zip CRC-32, computed here bit by bit, independently of Dfer's table.</summary>
    public static uint Crc32Of(ReadOnlySpan<byte> data) => ~Crc32Update(0xFFFFFFFFu, data);

    /// <summary>The running (not yet inverted) CRC-32 after <paramref name="data"/>.</summary>
    public static uint Crc32Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return crc;
    }
}
