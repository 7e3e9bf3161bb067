using System.Globalization;
using System.Text.Json;
using Dfer.Devices.Cuda;

namespace Dfer.Workbench;

/// <summary>The workbench's output: a table for people, JSON for perf/gpu/workbench_table.py.</summary>
internal static class Report
{
    public static void Json(TextWriter output, CudaDevice cuda, IReadOnlyList<BenchResult> results, bool truncated)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("device", cuda.Description);
            json.WriteBoolean("truncated", truncated);
            json.WriteStartArray("results");
            foreach (BenchResult r in results)
            {
                json.WriteStartObject();
                json.WriteString("layer", r.Layer.Name);
                json.WriteNumber("batch", r.Batch);
                json.WriteNumber("occurrences", r.Layer.Occurrences);
                json.WriteString("variant", r.Variant);
                json.WriteString("precision", r.Precision);
                json.WriteBoolean("valid", r.Valid);
                Number(json, "nmse", r.Nmse);
                Number(json, "max_abs_err", r.MaxAbsError);
                if (r.Problem is not null) json.WriteString("problem", r.Problem);
                Number(json, "median_ms", r.MedianMs);
                Number(json, "tflops", r.Tflops);
                json.WriteNumber("flops", r.Flops);
                json.WriteNumber("registers", r.Registers);
                json.WriteStartObject("shape");
                json.WriteNumber("n", r.InputShape[0]);
                json.WriteNumber("t", r.InputShape[1]);
                json.WriteNumber("h", r.InputShape[2]);
                json.WriteNumber("w", r.InputShape[3]);
                json.WriteNumber("c", r.InputShape[4]);
                json.WriteNumber("co", r.Layer.Co);
                Triple(json, "k", r.Layer.K);
                Triple(json, "s", r.Layer.S);
                Triple(json, "p", r.Layer.P);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void Number(Utf8JsonWriter json, string name, double v)
    {
        if (double.IsFinite(v)) json.WriteNumber(name, v);
        else json.WriteNull(name);
    }

    private static void Triple(Utf8JsonWriter json, string name, (int T, int H, int W) v)
    {
        json.WriteStartArray(name);
        json.WriteNumberValue(v.T);
        json.WriteNumberValue(v.H);
        json.WriteNumberValue(v.W);
        json.WriteEndArray();
    }

    public static void Table(TextWriter output, CudaDevice cuda, IReadOnlyList<BenchResult> results)
    {
        output.WriteLine($"conv3d workbench on {cuda.Description}");
        output.WriteLine(
            $"{"layer",-16} {"batch",5} {"variant",-18} {"regs",4} {"check",-8} {"nmse",8} {"ms",9} {"TFLOP/s",8}");
        foreach (BenchResult r in results)
        {
            string check = r.Valid ? "ok" : "INVALID";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Layer.Name,-16} {r.Batch,5} {r.Variant,-18} {r.Registers,4} {check,-8} "
                + $"{r.Nmse,8:E1} {r.MedianMs,9:F3} {r.Tflops,8:F1}"));
            if (r.Problem is not null) output.WriteLine($"    {r.Problem}");
        }
    }
}
