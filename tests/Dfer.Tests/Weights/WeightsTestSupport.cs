using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

/// <summary>A fresh temporary directory, deleted with everything in it on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Root = Path.Combine(Path.GetTempPath(), "dfer-weights-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string PathOf(string fileName) => Path.Combine(Root, fileName);

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

internal static class WeightsAssert
{
    /// <summary>
    /// Asserts that <paramref name="action"/> fails with a one-line <see cref="DferException"/>
    /// naming the file and containing <paramref name="phrase"/>.
    /// </summary>
    public static DferException FailsWith(string path, string phrase, TestDelegate action)
    {
        DferException ex = Assert.Throws<DferException>(action)!;
        Assert.That(ex.Message, Does.StartWith(path + ": "), "the message names the file");
        Assert.That(ex.Message, Does.Contain(phrase));
        Assert.That(ex.Message, Does.Not.Contain('\n').And.Not.Contain('\r'), "the message is one line");
        return ex;
    }
}

/// <summary>Builds safetensors files byte by byte, bypassing our writer, so that malformed ones can be made.</summary>
internal static class RawSafetensors
{
    public static byte[] Build(string headerJson, byte[]? data = null, ulong? declaredHeaderLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        return Build(header, data, declaredHeaderLength);
    }

    public static byte[] Build(byte[] header, byte[]? data = null, ulong? declaredHeaderLength = null)
    {
        data ??= [];
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }
}
