using System.IO.Compression;
using System.Text.Json;
using Dfer.Cli;
using Dfer.Models;
using Dfer.Reference;
using Dfer.Tensors;
using Dfer.Tests.Cli;
using Dfer.TorchSupport;
using Dfer.Weights;
using TorchSharp;

namespace Dfer.Tests.Models;

/// <summary>
/// RDFER from a trainer checkpoint (<c>*.pth.tar</c>: the state dict under <c>state_dict</c> next to the optimizer,
/// epoch, metric and pickled OmegaConf objects in <c>arch</c> and <c>args</c>). The pickle is the one PyTorch 1.13
/// wrote (tests/fixtures/torch/make_rdfer_trainer.py); the 310 MB of storages around it are written here, as
/// torch.save lays them out, from weights this test draws, so <c>dfer infer</c> on the file is compared with the
/// TorchSharp float64 RDFER on the same weights.
/// </summary>
[TestFixture]
[NonParallelizable]
public class RdferTrainerCheckpointTests
{
    private static readonly Rdfer Model = new();
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "dfer-rdfer-trainer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A torch.save zip around the committed pickle: storage k is the k-th state-dict entry, float32 or
    /// int64 little-endian, stored uncompressed.</summary>
    private string WriteCheckpoint(StateDict weights)
    {
        string pickle = Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "torch",
            "rdfer_trainer.data.pkl");
        string path = Path.Combine(_dir, "model_best.pth.tar");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string name, ReadOnlySpan<byte> bytes)
        {
            using Stream s = zip.CreateEntry($"rdfer_trainer.pth/{name}", CompressionLevel.NoCompression).Open();
            s.Write(bytes);
        }
        Add("data.pkl", File.ReadAllBytes(pickle));
        int k = 0;
        foreach (var (name, _) in Model.StateDictKeys)
        {
            StateTensor t = weights[name];
            byte[] bytes = t.DType == DType.I64
                ? t.Data.SelectMany(v => BitConverter.GetBytes((long)v)).ToArray()
                : System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray();
            Add($"data/{k++}", bytes);
        }
        Add("version", "3\n"u8);
        return path;
    }

    [Test]
    public void InferOnATrainerCheckpoint_MatchesTorchFloat64()
    {
        ulong seed = TestSeed.UseFresh();
        StateDict weights = Model.GenerateWeights(seed);
        string checkpoint = WriteCheckpoint(weights);

        // The state dict is found under "state_dict"; the OmegaConf objects beside it load inert.
        StateDict loaded = StateDict.Load(checkpoint);
        Assert.That(loaded.Names, Is.EquivalentTo(weights.Names));
        foreach (string name in weights.Names)
            Assert.That(loaded[name].Data, Is.EqualTo(weights[name].Data), name);

        int clip = Rdfer.ClipFrames * 3 * 112 * 112;
        float[] clips = new DeterministicRandom(seed + 1).Uniform(clip, 0, 1);
        string input = Path.Combine(_dir, "clip.npy");
        Npy.WriteFloat32(input, clips, Model.ClipShape);
        CliRun run = CliHarness.Run("infer", "--model", "rdfer", "--weights", checkpoint, "--format", "json", input);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Ok), run.ToString());
        JsonElement result = run.Json().GetProperty("results")[0];
        float[] logits = CliAssert.Floats(result.GetProperty("logits"));
        int[] keys = result.GetProperty("key_frames").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        TorchRuntime.EnsureLoaded();
        using var oracle = new TorchRdfer(weights.Names.ToDictionary(n => n, n => (weights[n].Data, weights[n].Shape)),
            torch.ScalarType.Float64);
        var reference = oracle.Forward(clips, 1);
        double max = logits.Select((v, i) => Math.Abs(v - reference.Logits[i])).Max();
        TestContext.Out.WriteLine($"seed {seed}: max |Δlogit| {max:E2}; key frames {string.Join(",", keys)}");
        Assert.That(max, Is.LessThanOrEqualTo(1e-4), $"seed {seed}");
        Assert.That(keys, Is.EqualTo(reference.KeyFrames), $"seed {seed}");
    }

    [Test]
    public void TrainerCheckpointMissingAnEntry_NamesIt()
    {
        StateDict weights = Model.GenerateWeights(3);
        string checkpoint = WriteCheckpoint(weights);
        // The same file with one storage record dropped: a truncated save.
        string broken = Path.Combine(_dir, "broken.pth.tar");
        using (var src = ZipFile.OpenRead(checkpoint))
        using (var dst = ZipFile.Open(broken, ZipArchiveMode.Create))
            foreach (var e in src.Entries.Where(e => e.FullName != "rdfer_trainer.pth/data/100"))
            {
                using Stream from = e.Open(), to = dst.CreateEntry(e.FullName, CompressionLevel.NoCompression).Open();
                from.CopyTo(to);
            }
        CliRun run = CliHarness.Run("infer", "--model", "rdfer", "--weights", broken, "--generated-weights", "x.npy");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        run = CliHarness.Run("infer", "--model", "rdfer", "--weights", broken, "x.npy");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines, Has.Length.EqualTo(1), run.ToString());
        Assert.That(run.Stderr, Does.Contain("broken.pth.tar").And.Contain("100"));
    }
}
