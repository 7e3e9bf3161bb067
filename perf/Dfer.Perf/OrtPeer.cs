using Dfer.Models;
using Dfer.Runtime;
using Dfer.Weights;
using Microsoft.ML.OnnxRuntime;

namespace Dfer.Perf;

/// <summary>
/// The ONNX Runtime peer of the model benchmark: the model's graph exported in-process by
/// <see cref="OnnxExport"/> (README.md, "ONNX export") at the benchmark's batch size, run by ONNX Runtime's
/// CPU execution provider with every graph optimisation on. The input and every output are bound once to
/// pinned managed buffers, so <see cref="Run"/> times inference, not allocation or copies.
/// </summary>
internal sealed class OrtPeer : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames = [OnnxExport.InputName];
    private readonly OrtValue[] _inputs;
    private readonly string[] _outputNames;
    private readonly OrtValue[] _outputs;

    /// <summary>The "logits" output of the latest <see cref="Run"/>, [batch, classes] row-major.</summary>
    public float[] Logits { get; }

    /// <summary>ONNX Runtime's version, as the native library reports it.</summary>
    public static string Version => OrtEnv.Instance().GetVersionString();

    /// <summary>
    /// Exports <paramref name="model"/> with <paramref name="weights"/> at <paramref name="batch"/> and opens it
    /// on <paramref name="threads"/> intra-op threads, bound to <paramref name="clips"/> [batch, clip shape...].
    /// </summary>
    /// <exception cref="DferException">The model cannot be exported (an op has no ONNX form yet) or ONNX
    /// Runtime refuses the exported file; the message is one line.</exception>
    public OrtPeer(IModel model, StateDict weights, float[] clips, int batch, int threads)
    {
        byte[] onnx = OnnxExport.Write(model, weights, batch: batch);
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        try
        {
            _session = new InferenceSession(onnx, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DferException($"ONNX Runtime cannot open the exported {model.Name}: "
                + e.Message.ReplaceLineEndings(" "));
        }
        finally
        {
            options.Dispose();
        }

        _inputs = [OrtValue.CreateTensorValueFromMemory(clips, [batch, .. model.ClipShape.Select(d => (long)d)])];
        _outputNames = _session.OutputMetadata.Keys.ToArray();
        _outputs = new OrtValue[_outputNames.Length];
        float[]? logits = null;
        for (int i = 0; i < _outputNames.Length; i++)
        {
            // The export fixes the batch, so every output dimension is concrete.
            long[] shape = _session.OutputMetadata[_outputNames[i]].Dimensions.Select(d => (long)d).ToArray();
            var buffer = new float[shape.Aggregate(1L, (a, d) => a * d)];
            _outputs[i] = OrtValue.CreateTensorValueFromMemory(buffer, shape);
            if (_outputNames[i] == "logits") logits = buffer;
        }
        Logits = logits ?? throw new DferException($"the exported {model.Name} has no \"logits\" output");
    }

    /// <summary>One forward pass of the bound input into the bound outputs.</summary>
    public void Run() => _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);

    public void Dispose()
    {
        foreach (var v in _inputs) v.Dispose();
        foreach (var v in _outputs) v?.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}
