using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Tests.Cli;
using Dfer.Tests.Weights;
using Dfer.TorchSupport;
using Dfer.Weights;

namespace Dfer.Tests.Torch;

/// <summary>
/// Dfer's IFDD graph on the CPU backend against the TorchSharp IFDD (written separately from the
/// spec) in float64, on that fixture's weights and clip — weights drawn by a generator the engine
/// never saw — stage by stage and on the logits.
/// </summary>
public sealed partial class TorchIfddTests
{
    /// <summary>TorchIfdd intermediate → the engine graph node whose output is the same tensor.</summary>
    private static readonly (string Torch, string Node)[] Stages =
    [
        ("embed", "embed.tokens"),
        .. Enumerable.Range(0, 10).Select(i => ($"block{i}", $"blocks.{i}.mlp.residual")),
        ("stage3", "backbone.norm"),
        ("pan", "PANLayer.tokens"),
        ("Y", "CatConv"),
        ("idx_a", "adapt_split.approx"),
        ("idx_d", "adapt_split.detail"),
        ("xd_lift", "WaveLifts.lifting"),
        ("Z", "WaveLifts.mlp.3"),
        ("feat", "WaveLifts.feat"),
        ("logits", "head.head.1"),
    ];

    private Lazy<IReadOnlyDictionary<string, float[]>>? _engine;

    private IReadOnlyDictionary<string, float[]> Engine() => (_engine ??= new(() =>
    {
        var sd = new StateDict("TorchIfddTests weights");
        foreach (var (name, (data, shape)) in _weights)
            sd.Add(name, name.Contains("index_") ? DType.I64 : DType.F32, shape, data);
        var graph = new Ifdd().Build(sd);
        foreach (var (torchName, node) in Stages)
            graph.Outputs[torchName] = graph.Nodes.Single(n => n.Name == node).Output;
        using var cpu = new CpuBackend(Environment.ProcessorCount);
        using var exe = cpu.Compile(graph);
        return exe.Run(_clip, [1, 16, 3, 224, 224]);
    })).Value;

    [Test]
    public void EngineKeys_AreTheOfficialListing()
    {
        var ours = new Ifdd().StateDictKeys;
        Assert.That(ours.Select(k => k.Name), Is.EqualTo(IfddShapes.All.Select(k => k.Name)));
        for (int i = 0; i < ours.Count; i++)
            Assert.That(ours[i].Shape, Is.EqualTo(IfddShapes.All[i].Shape), ours[i].Name);
    }

    [Test]
    public void CpuBackend_MatchesTorchFloat64_StageByStage()
    {
        var torch = _results.Value.Run64;
        var ours = Engine();
        var report = new List<string>();
        foreach (var (name, _) in Stages)
        {
            float[] a = ours[name], b = torch[name];
            Assert.That(a.Length, Is.EqualTo(b.Length), name);
            double diff = 0, scale = 0;
            for (int i = 0; i < a.Length; i++)
            {
                Assert.That(float.IsFinite(a[i]), name);
                diff = Math.Max(diff, Math.Abs((double)a[i] - b[i]));
                scale = Math.Max(scale, Math.Abs((double)b[i]));
            }
            report.Add($"{name}: max |diff| {diff:E2} (max |value| {scale:G3})");
            // fp32 through ~96 GFLOP of work: relative error stays near 1e-5 at every stage.
            Assert.That(diff, Is.LessThanOrEqualTo(1e-4 * Math.Max(1, scale)), string.Join("\n", report));
        }
        TestContext.Out.WriteLine(string.Join("\n", report));
        double logitDiff = ours["logits"].Zip(torch["logits"], (x, y) => Math.Abs((double)x - y)).Max();
        Assert.That(logitDiff, Is.LessThanOrEqualTo(1e-4),
            "logits against float64 PyTorch (the spec's fp32 tolerance)");
    }

    /// <summary>
    /// The acceptance command: <c>dfer infer --model ifdd --weights W --format json X.npy</c> on a
    /// torch.save checkpoint shaped like IFDD's trainer saves it (the state dict under <c>model</c>) and a
    /// [1, 16, 3, 224, 224] .npy, against the float64 TorchSharp model.
    /// </summary>
    [Test]
    public void Infer_OnATrainerCheckpoint_ReproducesTorchFloat64()
    {
        using var files = new CliHarness();
        string checkpoint = files.PathOf("ifdd-trainer.pth");
        TorchSaveWriter.Write(checkpoint, _weights.Select(kv => (kv.Key, kv.Value.Data, kv.Value.Shape)),
            wrapperKey: "model");
        string input = files.PathOf("clip.npy");
        Npy.WriteFloat32(input, _clip, [1, 16, 3, 224, 224]);

        CliRun run = CliHarness.Run("infer", "--model", "ifdd", "--weights", checkpoint, "--format", "json", input);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        var result = run.Json().GetProperty("results").EnumerateArray().Single();
        float[] logits = CliAssert.Floats(result.GetProperty("logits"));
        float[] want = _results.Value.Run64["logits"];
        Assert.That(logits, Has.Length.EqualTo(7));
        for (int c = 0; c < 7; c++)
            Assert.That(Math.Abs((double)logits[c] - want[c]), Is.LessThanOrEqualTo(1e-4),
                $"logit {c}: {logits[c]} vs {want[c]}");
    }
}
