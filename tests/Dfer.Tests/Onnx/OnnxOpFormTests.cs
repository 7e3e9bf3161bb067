using Dfer.Backends.Cpu;
using Dfer.Onnx;
using Dfer.Ops;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Onnx;

/// <summary>
/// Each op's ONNX form (<c>&lt;Op&gt;.Onnx.cs</c>) alone, on the op's own numerics cases with fresh random
/// inputs: the one-op model run by ONNX Runtime and judged like a kernel, against the float64 Reference with fp32's
/// bounds (the distance to Dfer's CPU kernel is printed), at the lowest and highest opset written (ReduceMean's
/// axes moved from an attribute to an input in between).
/// </summary>
[TestFixture]
public class OnnxOpFormTests
{
    /// <summary>Cases up to this many input elements (the op's big model-shaped cases take seconds in both
    /// engines and the model test runs those shapes anyway).</summary>
    private const long MaxInputElements = 1 << 20;

    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);

    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    public static IEnumerable<TestCaseData> Cases() =>
        from kind in OpRegistry.All
        from c in OpCases.For(kind)
        where kind.Onnx(c.Op) is not null && c.InputShapes.Sum(s => Tensor.ElementCountOf(s)) <= MaxInputElements
        from opset in new[] { OnnxExport.MinOpset, OnnxExport.MaxOpset }
        select new TestCaseData(c, opset).SetName($"Onnx {c.Name} opset {opset}");

    [TestCaseSource(nameof(Cases))]
    public void OnnxRuntime_MatchesTheCpuKernel(OpCase c, int opset)
    {
        ulong seed = TestSeed.UseFresh();
        float[][] inputs = c.MakeInputs(new DeterministicRandom(seed));
        int[] outShape = c.Op.OutputShape(c.InputShapes);
        float[] ours = _cpu.RunGuarded(c.Op, inputs, c.InputShapes, 0, 0f).Values;

        var graph = new OnnxGraphBuilder(opset, "one-op");
        var names = c.InputShapes.Select((s, i) => graph.Reserve($"x{i}")).ToArray();
        string y = graph.Reserve("y");
        graph.Scope = c.Op.Kind.Name;
        c.Op.Kind.Onnx(c.Op)!.Emit(graph, names, y);
        graph.Scope = "";
        for (int i = 0; i < names.Length; i++)
            graph.Declare(true, names[i], c.InputShapes[i].Select(d => (long?)d).ToArray(), "");
        graph.Declare(false, y, outShape.Select(d => (long?)d).ToArray(), "");
        using var session = OnnxRuntimeSupport.Open(graph.ToModel(c.Name, new Dictionary<string, string>()));
        float[] theirs = OnnxRuntimeSupport.Run(session,
            names.Select((n, i) => (n, inputs[i], c.InputShapes[i])).ToArray())[y];

        // Judged as every kernel is (the op matrix): against the float64 Reference with fp32's bounds. A flat 1e-5
        // between two fp32 engines is stricter than that contract and fails on ill-conditioned cases (attentionpool
        // with one channel: a variance from E[x²] − E[x]² in fp32).
        double[] expected = ReferenceOracle.Instance.Run(c.Op,
            inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray(), c.InputShapes);
        var tolerance = Tolerance.Fp32;
        Comparison cmp = Numerics.Compare(theirs, expected, tolerance.Nmse, tolerance.Atol, tolerance.Rtol);
        double error = OnnxRuntimeSupport.MaxScaledError(theirs, ours);
        TestContext.Out.WriteLine($"seed {seed}: vs the Reference {cmp}; vs the CPU kernel max |Δ|/max(1,|y|) = "
            + $"{error:E2}");
        Assert.That(cmp.Passed, $"seed {seed}: {cmp}");
    }

    [TestCaseSource(typeof(OnnxModelExportTests), nameof(OnnxModelExportTests.ExportableModels))]
    public void EveryOpOfTheModel_HasAnOnnxForm(string name)
    {
        var model = Dfer.Models.ModelRegistry.Get(name);
        var graph = model.Build(model.GenerateWeights(1));
        Assert.That(OnnxExport.MissingForms(graph), Is.Empty);
    }

    [Test]
    public void AnOpWithoutAForm_IsNamedInOneLine_AndNothingIsWritten()
    {
        // nms, the face detector's non-maximum suppression, is not part of any exported model.
        OpCase nms = OpCases.For("nms")[0];
        Assert.That(nms.Op.Kind.Onnx(nms.Op), Is.Null, "nms has an ONNX form now; pick another op for this test");
        var graph = new Graph();
        graph.Outputs["logits"] = graph.Add("suppress", nms.Op, Graph.Input);
        var e = Assert.Throws<DferException>(() => OnnxExport.Write(graph, nms.InputShapes[0][1..], null,
            OnnxExport.DefaultOpset, "", new Dictionary<string, string>(), "toy"));
        Assert.That(e!.Message, Is.EqualTo("toy: not exported to ONNX yet: op nms has no ONNX form; nothing written"));
    }
}
