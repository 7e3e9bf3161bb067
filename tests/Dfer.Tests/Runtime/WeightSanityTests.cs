using Dfer.Models;
using Dfer.Runtime;
using Dfer.Weights;

namespace Dfer.Tests.Runtime;

/// <summary>
/// <see cref="WeightSanity"/>: weights that load but cannot be right (NaN/Inf, a negative BatchNorm running variance)
/// are refused when a model builds from them, in one line naming the tensors; names and shapes are judged first.
/// </summary>
[TestFixture]
public class WeightSanityTests
{
    private static StateDict Generated() => new M3dfel().GenerateWeights(1);

    [Test]
    public void GeneratedWeights_PassAndBuild()
    {
        StateDict weights = Generated();
        Assert.DoesNotThrow(() => WeightSanity.Validate(weights, "M3DFEL", new M3dfel().StateDictKeys));
    }

    [Test]
    public void ANegativeRunningVariance_IsRefusedByTheModel_NamingTheTensorAndTheValue()
    {
        StateDict weights = Generated();
        weights["features.1.0.conv1.1.running_var"].Data[3] = -0.5f;
        var ex = Assert.Throws<DferException>(() => new M3dfel().Build(weights))!;
        Assert.That(ex.Message, Is.EqualTo("generated weights (seed 1): 1 tensor holds weights that cannot be right: "
            + "'features.1.0.conv1.1.running_var' (1 negative BatchNorm running variance of 64, first -0.5 at index "
            + "3); "
            + "the checkpoint is broken (did training diverge?)"));
    }

    [Test]
    public void NonFiniteValues_InManyTensors_NameTheFirstFourAndCountTheRest()
    {
        StateDict weights = Generated();
        weights["features.0.0.weight"].Data[0] = float.NaN;
        weights["features.0.0.weight"].Data[1] = float.NaN;
        weights["features.0.0.weight"].Data[2] = float.PositiveInfinity;
        weights["features.0.1.running_var"].Data[0] = float.NegativeInfinity;
        weights["features.1.0.conv1.0.weight"].Data[7] = float.NaN;
        weights["lstm.weight_ih_l0"].Data[0] = float.NaN;
        weights["fc.weight"].Data[0] = float.PositiveInfinity;
        weights["fc.bias"].Data[6] = float.NaN;
        var ex = Assert.Throws<DferException>(() => new M3dfel().Build(weights))!;
        Assert.That(ex.Message, Is.EqualTo("generated weights (seed 1): 6 tensors hold weights that cannot be right: "
            + "'features.0.0.weight' (2 NaN, 1 Inf of 28224 values), "
            + "'features.0.1.running_var' (1 Inf of 64 values; 1 negative BatchNorm running variance of 64, first "
            + "-Infinity at index 0), "
            + "'features.1.0.conv1.0.weight' (1 NaN of 110592 values), "
            + "'lstm.weight_ih_l0' (1 NaN of 1048576 values), and 2 more; "
            + "the checkpoint is broken (did training diverge?)"));
    }

    /// <summary>Weights of another shape are that first: their values are not looked at.</summary>
    [Test]
    public void KeysAndShapes_AreJudgedBeforeValues()
    {
        StateDict weights = Generated();
        var broken = new StateDict("w.safetensors");
        foreach (string name in weights.Names.Where(n => n != "fc.bias"))
        {
            StateTensor t = weights[name];
            broken.Add(name, t.DType, t.Shape, t.Data);
        }
        broken["fc.weight"].Data[0] = float.NaN;
        var ex = Assert.Throws<DferException>(() => new M3dfel().Build(broken))!;
        Assert.That(ex.Message,
            Does.StartWith("w.safetensors: not a valid M3DFEL state dict: missing 1 of").And.Contain("fc.bias"));
    }

    [Test]
    public void ZeroAndNegativeZeroVariances_AreAccepted()
    {
        StateDict weights = Generated();
        weights["features.0.1.running_var"].Data[0] = 0f;
        weights["features.0.1.running_var"].Data[1] = -0f;
        Assert.DoesNotThrow(() => WeightSanity.CheckValues(weights, weights.Names));
    }
}
