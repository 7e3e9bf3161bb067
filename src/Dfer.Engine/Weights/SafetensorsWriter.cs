using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Dfer.IO;
using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>
/// Writes safetensors files: the header lists tensors in the order given, and their data follows
/// contiguously in that order.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes tensors given as raw little-endian bytes.</summary>
    /// <param name="path">The file to create or overwrite.</param>
    /// <param name="tensors">Name, dtype, shape and data of each tensor; each data array must hold exactly
    /// element count × dtype size bytes.</param>
    /// <param name="metadata">Written as "__metadata__" unless null or empty.</param>
    /// <exception cref="ArgumentException">A name is repeated or reserved, a dimension is negative, or the
    /// data length does not match the shape.</exception>
    /// <exception cref="DferException">The file cannot be written.</exception>
    public static void Write(string path, IEnumerable<(string Name, DType DType, long[] Shape, byte[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        WriteCore(path, tensors.Select(t => new Pending(t.Name, t.DType, t.Shape, t.Data, null)).ToList(), metadata);
    }

    /// <summary>Writes float32 tensors.</summary>
    /// <param name="path">The file to create or overwrite.</param>
    /// <param name="tensors">Name, shape and data of each tensor; each data array must hold exactly as many
    /// elements as its shape.</param>
    /// <param name="metadata">Written as "__metadata__" unless null or empty.</param>
    /// <exception cref="ArgumentException">A name is repeated or reserved, a dimension is negative, or the
    /// data length does not match the shape.</exception>
    /// <exception cref="DferException">The file cannot be written.</exception>
    public static void WriteFloat32(string path, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        WriteCore(path, tensors.Select(t => new Pending(t.Name, DType.F32, t.Shape, null, t.Data)).ToList(), metadata);
    }

    /// <summary>A tensor about to be written; exactly one of the two payloads is set.</summary>
    private sealed record Pending(string Name, DType DType, long[] Shape, byte[]? Bytes, float[]? Floats)
    {
        public long ByteLength => Bytes?.LongLength ?? Floats!.LongLength * sizeof(float);
    }

    private static void WriteCore(string path, List<Pending> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(path);
        Validate(tensors);
        byte[] header = BuildHeader(tensors, metadata);

        using FileStream stream = UserFile.Create(path);
        try
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (Pending t in tensors)
            {
                if (t.Bytes is not null) stream.Write(t.Bytes);
                else WriteFloats(stream, t.Floats!);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw UserFile.Fail(path, $"cannot write: {UserFile.OneLine(ex.Message)}", ex);
        }
    }

    private static void Validate(List<Pending> tensors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Pending t in tensors)
        {
            ArgumentNullException.ThrowIfNull(t.Name, "tensor name");
            ArgumentNullException.ThrowIfNull(t.Shape, $"shape of '{t.Name}'");
            if (t.Bytes is null && t.Floats is null) throw new ArgumentNullException($"data of '{t.Name}'");
            if (t.Name == SafetensorsHeader.MetadataKey)
                throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor");
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' is given twice");

            long count = 1;
            foreach (long d in t.Shape)
            {
                if (d < 0)
                    throw new ArgumentException(
                        $"tensor '{t.Name}' has a negative dimension in {SafetensorsHeader.FormatShape(t.Shape)}");
                count = checked(count * d);
            }
            long expected = checked(count * t.DType.Size());
            if (t.ByteLength != expected)
                throw new ArgumentException(
                    $"tensor '{t.Name}' ({t.DType.SafetensorsName()} {SafetensorsHeader.FormatShape(t.Shape)}) "
                    + $"needs {expected} bytes of data, got {t.ByteLength}");
        }
    }

    private static byte[] BuildHeader(List<Pending> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new MemoryStream();
        // Names may be any Unicode; keep them readable in the header rather than \u-escaped.
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var json = new Utf8JsonWriter(buffer, options))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (Pending t in tensors)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += t.ByteLength;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        // Padding the header to a multiple of 8 puts the data section, and so every tensor whose
        // offset is a multiple of its element size, on an aligned address; readers that map the
        // file rely on it, and the reference implementation pads with spaces the same way.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static void WriteFloats(Stream stream, float[] data)
    {
        // Chunked so that a tensor of 2 GiB or more never needs a byte span longer than int.MaxValue.
        const int chunk = 1 << 26;
        if (BitConverter.IsLittleEndian)
        {
            for (int start = 0; start < data.Length; start += chunk)
                stream.Write(MemoryMarshal.AsBytes(data.AsSpan(start, Math.Min(chunk, data.Length - start))));
            return;
        }
        var bytes = new byte[Math.Min(data.Length, chunk) * sizeof(float)];
        for (int start = 0; start < data.Length; start += chunk)
        {
            int n = Math.Min(chunk, data.Length - start);
            for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[start + i]);
            stream.Write(bytes, 0, n * 4);
        }
    }
}
