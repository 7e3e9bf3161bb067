using System.Text.Json;
using Dfer.Backends;
using Dfer.Cli.Datasets;
using Dfer.Cli.Scoring;
using Dfer.Media;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Ops.Reshape;
using Dfer.Ops.Softmax;
using Dfer.Runtime;
using Dfer.Weights;

namespace Dfer.Tests.Cli;

/// <summary>
/// A model and backend on the host small enough to drive the scoring machinery (batcher, dataset runner) clip by
/// clip: a clip is 7 values and its logits are the clip itself, except for two marker values that stand for what a
/// real model and backend can do wrong.
/// </summary>
internal static class ScoringFakes
{
    public const int Classes = 7;

    /// <summary>A clip whose first value is this gets NaN logits (as overflowing weights give).</summary>
    public const float NaNMarker = 999f;

    /// <summary>A batch holding a clip whose first value is this throws a non-Dfer exception (a bug) when
    /// collected.</summary>
    public const float BugMarker = -999f;

    /// <summary>A clip of 7 equal values.</summary>
    public static float[] Clip(float value) => Enumerable.Repeat(value, Classes).ToArray();

    /// <summary>A job of one clip per value.</summary>
    public static ScoreJob Job(string name, params float[] clipValues) =>
        new(name, clipValues.Select(Clip).ToArray(), perClip: clipValues.Length > 1);

    /// <summary>Metadata of a run of the fake model, for runs that need some.</summary>
    public static ResultsMetadata Metadata()
    {
        using var doc = JsonDocument.Parse("""{"dfer_results": 1, "model": "echo"}""");
        return ResultsMetadata.Parse(doc.RootElement, "test");
    }

    /// <summary>Clips of 7 values; logits = the clip, probabilities = its softmax.</summary>
    public sealed class EchoModel : IModel
    {
        public string Name => "echo";
        public IReadOnlyList<(string Name, long[] Shape)> StateDictKeys => [];
        public int[] ClipShape => [ScoringFakes.Classes];
        public ClipProtocol Protocol => throw new NotSupportedException();
        public IReadOnlyList<string> Classes => EmotionClasses.Seven;
        public StateDict GenerateWeights(ulong seed) => new("none");

        public Graph Build(StateDict weights)
        {
            var g = new Graph();
            int logits = g.Add("logits", new ReshapeOp(-1, ScoringFakes.Classes), Graph.Input);
            g.Outputs["logits"] = logits;
            g.Outputs["probabilities"] = g.Add("probabilities", new SoftmaxOp(), logits);
            return g;
        }
    }

    /// <summary>
    /// Computes on the host what <see cref="EchoModel"/> says, logging "submit k" and "wait k" for batch k. Pipelined:
    /// Submit only copies the input and the outputs are computed when collected, as cuda does; otherwise Submit
    /// computes them before it returns, as the cpu backend does. A pipelined batch number
    /// <paramref name="failingBatch"/>
    /// (1-based; 0 for none) fails when collected, as a device error would.
    /// </summary>
    public sealed class EchoBackend(List<string> log, bool pipelined, int failingBatch = 0) : IBackend
    {
        public string Name => pipelined ? "deferred" : "synchronous";
        public string Device => "host";
        public IExecutable Compile(Graph graph) => new Executable(log, pipelined, failingBatch);
        public void Dispose() { }

        private sealed class Executable(List<string> log, bool pipelined, int failingBatch) : IExecutable
        {
            private int _batches;

            public NodeTimer? Timer { get; set; }
            public bool Pipelined => pipelined;

            public IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape)
                => Submit(input, shape).Wait();

            public PendingRun Submit(ReadOnlySpan<float> input, int[] shape)
            {
                int k = ++_batches;
                float[] copy = input.ToArray();
                lock (log) log.Add($"submit {k}");
                if (!pipelined) return PendingRun.Completed(Compute(copy));
                return new PendingRun(() =>
                {
                    lock (log) log.Add($"wait {k}");
                    if (k == failingBatch) throw new DferException($"batch {k} failed on the device");
                    return Compute(copy);
                });
            }

            private static Dictionary<string, float[]> Compute(float[] input)
            {
                var logits = (float[])input.Clone();
                var probs = new float[logits.Length];
                for (int r = 0; r < logits.Length; r += Classes)
                {
                    if (input[r] == BugMarker)
                        throw new OverflowException("Arithmetic operation resulted in an overflow.");
                    if (input[r] == NaNMarker) logits.AsSpan(r, Classes).Fill(float.NaN);
                    float max = logits.Skip(r).Take(Classes).Max();
                    double sum = 0;
                    for (int c = 0; c < Classes; c++) sum += Math.Exp(logits[r + c] - max);
                    for (int c = 0; c < Classes; c++) probs[r + c] = (float)(Math.Exp(logits[r + c] - max) / sum);
                }
                return new Dictionary<string, float[]> { ["logits"] = logits, ["probabilities"] = probs };
            }

            public void Dispose() { }
        }
    }
}
