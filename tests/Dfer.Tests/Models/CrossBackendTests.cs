using Dfer.Backends;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Tests.Models;

/// <summary>Whole-model agreement: M3DFEL's and RDFER's logits (and RDFER's key frames) on every available backend
/// against the CPU backend's.</summary>
[TestFixture]
public class CrossBackendTests
{
    /// <summary>
    /// Two clips at 32×32 (the graph is M3DFEL's; only the frame size is smaller, so the slow ILGPU
    /// CPU accelerator takes seconds): logits within 1e-4 of the CPU backend, which the TorchSharp
    /// model test ties to PyTorch.
    /// </summary>
    [TestCase("ilgpu-cpu")]
    [TestCase("ilgpu-cuda")]
    public void M3dfelLogits_AgreeWithTheCpuBackend(string name)
    {
        BackendInfo info = BackendRegistry.List().Single(b => b.Name == name);
        if (info.UnavailableReason is string reason) Assert.Ignore($"{name}: {reason}");
        IModel model = new M3dfel(size: 32);
        var weights = model.GenerateWeights(seed: 21);
        using IBackend cpu = BackendRegistry.Create("cpu", threads: 2);
        using IBackend other = BackendRegistry.Create(name);

        var checks = ModelValidation.Compare(model, weights, cpu, new[] { other }, batch: 2, seed: TestSeed.UseFresh());

        Assert.That(checks[0].Logits, Has.Length.EqualTo(14));
        Assert.That(checks[0].Logits.Distinct().Count(), Is.GreaterThan(7), "scores depend on the clip");
        Assert.That(checks[1].MaxAbsDifference, Is.LessThanOrEqualTo(ModelValidation.LogitTolerance),
            $"{name}: {string.Join(", ", checks[1].Logits)} vs cpu {string.Join(", ", checks[0].Logits)}");
        Assert.That(checks[1].Passed);
    }

    /// <summary>
    /// RDFER at 32×32 (its graph, frames small enough that the ILGPU CPU accelerator takes about a minute), one clip:
    /// logits within 1e-4 of the CPU backend and the same 16 key frames. Every op of it is also in the op matrix on
    /// each backend, odd shapes included.
    /// </summary>
    [TestCase("ilgpu-cpu")]
    [TestCase("ilgpu-cuda")]
    public void RdferLogitsAndKeyFrames_AgreeWithTheCpuBackend(string name)
    {
        BackendInfo info = BackendRegistry.List().Single(b => b.Name == name);
        if (info.UnavailableReason is string reason) Assert.Ignore($"{name}: {reason}");
        IModel model = new Rdfer(size: 32);
        var weights = model.GenerateWeights(seed: 22);
        using IBackend cpu = BackendRegistry.Create("cpu", threads: 2);
        using IBackend other = BackendRegistry.Create(name);

        var checks = ModelValidation.Compare(model, weights, cpu, new[] { other }, batch: 1, seed: TestSeed.UseFresh());

        Assert.That(checks[0].KeyFramesMatch, Is.True);
        Assert.That(checks[1].KeyFramesMatch, Is.True, $"{name} chose other key frames than cpu");
        Assert.That(checks[1].MaxAbsDifference, Is.LessThanOrEqualTo(ModelValidation.LogitTolerance),
            $"{name}: {string.Join(", ", checks[1].Logits)} vs cpu {string.Join(", ", checks[0].Logits)}");
        Assert.That(checks[1].Passed);
    }
}
