using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Cli.Commands;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Cli.Scoring;

/// <summary>
/// A model with its weights compiled on a backend, ready to score clips: what a command that runs a
/// DFER model holds from start to end (load, run, dispose).
/// </summary>
/// <remarks>
/// <para><b>Load</b> (<see cref="Open"/>): resolve the model and create the backend, then load the
/// checkpoint (or generate stand-in weights) and compile the graph on the backend, i.e. build the
/// engine's <see cref="Runtime.Session"/>. A failure on the way disposes what was created and is a
/// <see cref="DferException"/> (exit code 2): nothing ran.</para>
/// <para><b>Run</b>: score clips through <see cref="Session"/>, one run at a time.</para>
/// <para><b>Dispose</b>: the session (its compiled graph and device buffers), then the backend it ran
/// on. The loaded model owns both; the weights are plain memory.</para>
/// <para>The engine's <see cref="Runtime.Session"/> is the compiled model itself and knows nothing of a
/// command line; this class adds what a command needs around it: the backend's lifetime, the messages
/// (loading, compiling, the warning about generated weights) and the names reports print.</para>
/// </remarks>
internal sealed class LoadedModel : IDisposable
{
    private LoadedModel(IModel model, IBackend backend, StateDict weights, Session session)
    {
        Model = model;
        Backend = backend;
        Weights = weights;
        Session = session;
    }

    public IModel Model { get; }
    public IBackend Backend { get; }
    public StateDict Weights { get; }
    public Session Session { get; }

    /// <summary>What the backend computes in, as reports name it (fp32, tf32, bf16, fp16; fp64 for the reference
    /// backend).</summary>
    public string Precision => BackendRegistry.PrecisionName(Backend);

    /// <summary>Worker threads the backend really uses (the reference backend is single-threaded).</summary>
    public int Threads => Backend is CpuBackend cpu ? cpu.Threads : 1;

    /// <summary>
    /// Resolves the model and backend, loads (or, without a path, generates) the weights and compiles
    /// them. Any problem is a <see cref="DferException"/>: nothing can run, so the command exits 2.
    /// </summary>
    /// <param name="generatedNote">What the warning about generated weights adds, e.g. why the output is still
    /// useful.</param>
    public static LoadedModel Open(string modelName, string? weightsPath, string? key, string backendName, int threads,
        CliConsole console, string generatedNote, Precision precision = Tensors.Precision.Fp32,
        ClassOrder classes = ClassOrder.Dfew)
    {
        IModel model = ModelRegistry.Get(modelName, classes);
        IBackend backend = BackendRegistry.Create(backendName, threads, precision);
        try
        {
            if (threads > 0 && backend is not CpuBackend)
                console.Warning($"--threads applies to the cpu backend only; {backend.Name} runs on one thread");
            StateDict weights;
            if (key is not null && weightsPath is null)
                throw new DferException("--key names an entry of the --weights checkpoint; give --weights too");
            if (weightsPath is null)
            {
                weights = model.GenerateWeights(SharedOptions.GeneratedWeightsSeed);
                console.Warning(
                    $"no --weights given: using {weights.Source}, not a trained checkpoint; {generatedNote}");
            }
            else
            {
                console.Progress($"loading {weightsPath}");
                weights = StateDict.Load(weightsPath, key);
            }
            console.Progress($"compiling {model.Name} on {backend.Name} ({backend.Device})");
            var session = new Session(model, weights, backend);
            return new LoadedModel(model, backend, weights, session);
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    /// <summary>Rejects a --batch whose clips cannot be laid out in one array (the session takes one span).</summary>
    public void CheckBatch(int batch)
    {
        int max = Array.MaxLength / Session.ClipLength;
        if (batch > max)
            throw new DferException(
                $"--batch {batch} is too large: {Model.Name} clips are {Session.ClipLength} values each, so at "
                + $"most {max} fit in one batch");
    }

    public void Dispose()
    {
        Session.Dispose();
        Backend.Dispose();
    }
}
