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
                throw new ArgumentException($"tensor '{name}' has {data.Length} values for shape [{string.Join(", ", shape)}]");
            p.Unicode(modulePrefix ? "module." + name : name);
            p.Global("torch._utils", "_rebuild_tensor_v2").Op('(');
            // The storage: persistent id ('storage', torch.FloatStorage, key, location, numel).
            p.Op('(').Unicode("storage").Global("torch", "FloatStorage").Unicode(i.ToString(System.Globalization.CultureInfo.InvariantCulture))
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

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        AddRecord(zip, "archive/data.pkl", p.ToArray());
        AddRecord(zip, "archive/byteorder", "little"u8.ToArray());
        for (int i = 0; i < list.Count; i++)
        {
            float[] data = list[i].Data;
            var bytes = new byte[data.Length * 4];
            for (int k = 0; k < data.Length; k++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(k * 4), data[k]);
            AddRecord(zip, $"archive/data/{i}", bytes);
        }
        AddRecord(zip, "archive/version", "3\n"u8.ToArray());
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
