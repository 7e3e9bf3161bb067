using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Dfer.Cli;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary>What one in-process run of <c>dfer</c> produced.</summary>
internal sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines
        => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Stdout parsed as JSON; parsing fails on anything but exactly one JSON value.</summary>
    public JsonElement Json()
    {
        using var doc = JsonDocument.Parse(Stdout);
        Assert.That(doc.RootElement.ValueKind, Is.EqualTo(JsonValueKind.Object), "stdout is one JSON object");
        return doc.RootElement.Clone();
    }

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the CLI in-process and builds its input files in a temporary directory.</summary>
internal sealed class CliHarness : IDisposable
{
    public CliHarness()
    {
        Root = Path.Combine(Path.GetTempPath(), "dfer-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public static IModel Model => ModelRegistry.Get("m3dfel");

    public static int ClipLength => Model.ClipShape.Aggregate(1, (a, b) => a * b);

    public string PathOf(string fileName) => Path.Combine(Root, fileName);

    public static CliRun Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = DferCli.Run(args, stdout, stderr);
        return new CliRun(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Deterministic clips in [0, 1), laid out [clips, 16, 3, 112, 112].</summary>
    public static float[] Clips(int clips, ulong seed)
        => new DeterministicRandom(TestSeed.Use(seed)).Uniform((long)clips * ClipLength, 0f, 1f);

    /// <summary>Writes <paramref name="data"/> as a [clips, 16, 3, 112, 112] float32 .npy.</summary>
    public string WriteClips(string fileName, float[] data)
    {
        string path = PathOf(fileName);
        int clips = data.Length / ClipLength;
        Npy.WriteFloat32(path, data, new[] { clips }.Concat(Model.ClipShape).ToArray());
        return path;
    }

    /// <summary>
    /// Writes a state dict as safetensors, the int64 counters as I64 as PyTorch saves them, every
    /// name prefixed with <paramref name="prefix"/> (e.g. DataParallel's "module.").
    /// </summary>
    public string WriteCheckpoint(string fileName, StateDict weights, string prefix = "")
    {
        string path = PathOf(fileName);
        SafetensorsWriter.Write(path, weights.Names.Select(name =>
        {
            StateTensor t = weights[name];
            byte[] bytes = t.DType == DType.I64 ? Int64Bytes(t.Data) : Float32Bytes(t.Data);
            return (prefix + name, t.DType, t.Shape, bytes);
        }));
        return path;
    }

    /// <summary>A float64 .npy written by hand: our writer only writes float32.</summary>
    public string WriteFloat64Npy(string fileName, int[] shape)
    {
        string header = $"{{'descr': '<f8', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}), }}";
        // NumPy pads so that the data starts on a 64-byte boundary.
        header = header.PadRight(header.Length + (64 - (10 + header.Length + 1) % 64) % 64) + "\n";
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 };
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
        bytes.AddRange(length);
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        bytes.AddRange(new byte[count * sizeof(double)]);
        string path = PathOf(fileName);
        File.WriteAllBytes(path, bytes.ToArray());
        return path;
    }

    private static byte[] Float32Bytes(float[] data)
    {
        var bytes = new byte[data.Length * sizeof(float)];
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
        return bytes;
    }

    private static byte[] Int64Bytes(float[] data)
    {
        var bytes = new byte[data.Length * sizeof(long)];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), (long)data[i]);
        return bytes;
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

internal static class CliAssert
{
    /// <summary>
    /// The run exited with <paramref name="exitCode"/> and reported exactly one error, on one line
    /// of stderr naming <paramref name="file"/> and containing <paramref name="phrase"/>, with no
    /// stack trace anywhere.
    /// </summary>
    public static void FailsWith(CliRun run, int exitCode, string file, string phrase)
    {
        Assert.That(run.ExitCode, Is.EqualTo(exitCode), run.ToString());
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error: ", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), run.ToString());
        Assert.That(errors[0], Does.Contain(file).And.Contain(phrase), run.ToString());
        NoStackTrace(run);
    }

    public static void NoStackTrace(CliRun run)
    {
        Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace on stderr");
        Assert.That(run.Stdout, Does.Not.Contain("   at "), "no stack trace on stdout");
    }

    public static float[] Floats(JsonElement array) => array.EnumerateArray().Select(e => e.GetSingle()).ToArray();
}
