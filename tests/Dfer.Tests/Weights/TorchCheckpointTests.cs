using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Dfer.Tensors;
using Dfer.Weights;
using NUnit.Framework;

namespace Dfer.Tests.Weights;

/// <summary>
/// TorchCheckpoint against files written by real PyTorch 1.13 (tests/fixtures/torch, made by
/// make_fixtures.py, with what torch.load read back in expected.json), hostile and broken files,
/// and files mutated at many positions.
/// </summary>
[TestFixture]
public class TorchCheckpointTests
{
    private const string Pwned = "/tmp/dfer-pwned";

    private static readonly string FixtureDir =
        Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "torch");

    private static readonly string[] RealFixtures =
        ["dtypes.pth", "views.pth", "m3dfel_wrapper.pth", "ifdd_wrapper.pth", "legacy.pth", "bigendian.pth",
         "protocol1.pth", "protocol4.pth", "protocol5.pth"];

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static string Fixture(string name) => Path.Combine(FixtureDir, name);

    private static JsonElement Expected(string fixture)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("expected.json")));
        return doc.RootElement.GetProperty(fixture).Clone();
    }

    // ---- real PyTorch files ----------------------------------------------------------------

    [TestCaseSource(nameof(RealFixtures))]
    public void ReadsWhatPyTorchReads(string fixture)
    {
        JsonElement expected = Expected(fixture);
        AssertMatches(TorchCheckpoint.ReadStateDict(Fixture(fixture)), expected.GetProperty("tensors"));
    }

    [TestCase("m3dfel_wrapper.pth")]
    [TestCase("ifdd_wrapper.pth")]
    public void ExplicitKeyReadsTheSameAsDetection(string fixture)
    {
        JsonElement expected = Expected(fixture);
        JsonElement key = expected.GetProperty("key");
        AssertMatches(TorchCheckpoint.ReadStateDict(Fixture(fixture), key.GetString()),
            expected.GetProperty("tensors"));
    }

    private static void AssertMatches(IReadOnlyList<RawTensor> tensors, JsonElement expected)
    {
        var want = expected.EnumerateObject().ToList();
        Assert.That(tensors.Select(t => t.Name), Is.EqualTo(want.Select(p => p.Name)), "names, in file order");
        for (int i = 0; i < want.Count; i++)
        {
            RawTensor t = tensors[i];
            JsonElement e = want[i].Value;
            Assert.That(t.DType, Is.EqualTo(DTypeOf(e.GetProperty("dtype").GetString()!)), t.Name);
            Assert.That(t.Shape,
                Is.EqualTo(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray()), t.Name);
            JsonElement[] values = [.. e.GetProperty("values").EnumerateArray()];
            Assert.That(t.Data.Length, Is.EqualTo(values.Length * t.DType.Size()), t.Name);
            for (int k = 0; k < values.Length; k++)
            {
                ReadOnlySpan<byte> b = t.Data.AsSpan(k * t.DType.Size());
                switch (t.DType)
                {
                    case DType.I64:
                        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(b),
                        Is.EqualTo(values[k].GetInt64()), $"{t.Name}[{k}]"); break;
                    case DType.I32:
                        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(b),
                        Is.EqualTo(values[k].GetInt64()), $"{t.Name}[{k}]"); break;
                    case DType.U8: Assert.That(b[0], Is.EqualTo(values[k].GetInt64()), $"{t.Name}[{k}]"); break;
                    case DType.Bool:
                        Assert.That(b[0] != 0, Is.EqualTo(values[k].GetBoolean()),
                        $"{t.Name}[{k}]"); break;
                    default:
                        double got = t.DType switch
                        {
                            DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
                            DType.F16 => (double)BinaryPrimitives.ReadHalfLittleEndian(b),
                            DType.BF16 => BitConverter.Int32BitsToSingle(
                            BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
                            _ => BinaryPrimitives.ReadDoubleLittleEndian(b),
                        };
                        // Exact: every value is representable in its dtype, and JSON kept all its digits.
                        Assert.That(got, Is.EqualTo(values[k].GetDouble()), $"{t.Name}[{k}]");
                        break;
                }
            }
        }
    }

    private static DType DTypeOf(string name) => name switch
    {
        "float32" => DType.F32,
        "float16" => DType.F16,
        "bfloat16" => DType.BF16,
        "float64" => DType.F64,
        "int64" => DType.I64,
        "int32" => DType.I32,
        "uint8" => DType.U8,
        "bool" => DType.Bool,
        _ => throw new ArgumentException(name),
    };

    [Test]
    public void WrapperIsDetectedAndModulePrefixStripped()
    {
        var tensors = TorchCheckpoint.ReadStateDict(Fixture("m3dfel_wrapper.pth"));
        Assert.That(tensors.Select(t => t.Name), Does.Contain("conv.weight").And.Contain("bn.num_batches_tracked"));
        Assert.That(tensors.Any(t => t.Name.StartsWith("module.", StringComparison.Ordinal)), Is.False);
        // The optimizer's exp_avg tensors are not mistaken for weights.
        Assert.That(tensors,
            Has.Count.EqualTo(Expected("m3dfel_wrapper.pth").GetProperty("tensors").EnumerateObject().Count()));
    }

    [Test]
    public void KeySelectsAnEntryAndExplainsWhatIsThere()
    {
        string path = Fixture("m3dfel_wrapper.pth");
        WeightsAssert.FailsWith(path, "entry 'optimizer' is not a state dict",
            () => TorchCheckpoint.ReadStateDict(path, "optimizer"));
        WeightsAssert.FailsWith(path, "entry 'epoch' holds an int, not a state dict",
            () => TorchCheckpoint.ReadStateDict(path, "epoch"));
        var ex = WeightsAssert.FailsWith(path, "has no entry 'weights'",
            () => TorchCheckpoint.ReadStateDict(path, "weights"));
        Assert.That(ex.Message, Does.Contain("'epoch', 'state_dict', 'best_wa', 'best_ua', 'optimizer', 'args'"));
        WeightsAssert.FailsWith(path,
            "has no entry 'state_dict.conv.x'; the keys of 'state_dict' are 'module.conv.weight'", ()
            => TorchCheckpoint.ReadStateDict(path, "state_dict.conv.x"));
    }

    [Test]
    public void NestedKeyWalksDicts()
    {
        // {"outer": {"inner": {"w": tensor}}}
        var p = new List<byte>();
        p.AddRange([0x80, 2, (byte)'}']);
        p.AddRange(Unicode("outer"));
        p.Add((byte)'}');
        p.AddRange(Unicode("inner"));
        p.AddRange(StateDictPickleBody([("w", Rebuild("0", 6, 1, [2, 2], [2, 1]))]));
        p.AddRange("ss."u8.ToArray());
        string path = ZipWithPickle("nested.pth", [.. p], ("0", Floats(0, 1, 2, 3, 4, 5)));

        var tensors = TorchCheckpoint.ReadStateDict(path, "outer.inner");
        Assert.That(tensors.Single().Name, Is.EqualTo("w"));
        Assert.That(Floats(tensors[0].Data), Is.EqualTo(new float[] { 1, 2, 3, 4 }));
        WeightsAssert.FailsWith(path, "holds no state dict where Dfer looks",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void UndetectableWrapperListsItsKeysAndSuggestsKey()
    {
        string path = _dir.PathOf("custom.pth");
        TorchSaveWriter.Write(path, [("fc.weight", [1, 2], [1, 2])], wrapperKey: "weights");
        var ex = WeightsAssert.FailsWith(path, "holds no state dict", () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(ex.Message, Does.Contain("'epoch', 'weights'").And.Contain("--key"));
        Assert.That(TorchCheckpoint.ReadStateDict(path, "weights").Single().Name, Is.EqualTo("fc.weight"));
    }

    [Test]
    public void TorchScriptIsRefused()
    {
        string path = Fixture("scripted.pt");
        WeightsAssert.FailsWith(path,
            "this is a TorchScript archive (torch.jit.save); save the state dict with torch.save(model.state_dict(), "
            + "path)",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void SharedStorageIsReadOnceAndViewsDoNotAlias()
    {
        var tensors = TorchCheckpoint.ReadStateDict(Fixture("views.pth")).ToDictionary(t => t.Name);
        Assert.That(tensors["shared.a"].Data, Is.Not.SameAs(tensors["shared.b"].Data));
        Assert.That(Floats(tensors["shared.b"].Data), Is.EqualTo(new float[] { 3, 4, 5, 6, 7, 8 }));
        Assert.That(tensors["num_batches_tracked"].Shape, Is.Empty);
        Assert.That(tensors["empty"].Data, Is.Empty);
    }

    // ---- the unpickler on its own ----------------------------------------------------------

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void PlainContainersOfEveryProtocolUnpickleAsPythonDoes(int protocol)
    {
        string name = $"containers_p{protocol}.pkl";
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("expected.json")));
        string expected = doc.RootElement.GetProperty("containers").GetProperty(name).GetString()!;
        Assert.That(Render(Unpickle(Fixture(name))), Is.EqualTo(expected));
    }

    [Test]
    public void Python2OpcodesAreRead()
    {
        // What Python 3 never writes but Python 2 did: STRING with escapes, BINSTRING, SHORT_BINSTRING,
        // INST and OBJ (on an inert class), POP, POP_MARK, DUP, PERSID-free text memo ops.
        byte[] pkl = Encoding.ASCII.GetBytes(
            "(lp0\n" +
            "S'a\\'b\\x41\\101\\n'\np1\na" +
            "S\"q\"\na" +
            "g1\na" +
            "I01\naI00\naI-12\naL123456789012345678901234567890L\naF-0.5\na" +
            "(iargparse\nNamespace\na" +
            "(cargparse\nNamespace\noa" +
            "N0" +
            "(NN1" +
            "K\u0007a" + "20" + "K\u0007a" + // DUP the list, POP the copy
            ".");
        pkl = [.. pkl.Take(pkl.Length - 1), (byte)'T', 2, 0, 0, 0, (byte)'h', (byte)'i', (byte)'a', (byte)'U', 1,
            (byte)'!', (byte)'a', (byte)'.'];
        Assert.That(Render(Unpickle(pkl)), Is.EqualTo(
            "[" + Str("a'bAA\n") + "," + Str("q") + "," + Str("a'bAA\n")
            + ",True,False,-12,123456789012345678901234567890,"
            + "f" + BitConverter.DoubleToInt64Bits(-0.5).ToString("x16", CultureInfo.InvariantCulture)
            + ",<argparse.Namespace>,<argparse.Namespace>,7,7," + Str("hi") + "," + Str("!") + "]"));
    }

    private static string Str(string s) => "s" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(s));

    private object Unpickle(string path)
    {
        using var stream = File.OpenRead(path);
        return new Unpickler(new PickleInput(stream, path, "the pickle"),
            (_, input) => throw input.Fail("no persistent ids here")).Load();
    }

    private object Unpickle(byte[] pickle)
    {
        string path = _dir.PathOf("p.pkl");
        File.WriteAllBytes(path, pickle);
        return Unpickle(path);
    }

    /// <summary>The same canonical text as make_fixtures.py's render().</summary>
    private static string Render(object o) => o switch
    {
        PyNone => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger big => big.ToString(CultureInfo.InvariantCulture),
        double d => "f" + BitConverter.DoubleToInt64Bits(d).ToString("x16", CultureInfo.InvariantCulture),
        string s => Str(s),
        byte[] bytes => "b" + Convert.ToHexStringLower(bytes),
        PySet => "set",
        PyInert { Name: "builtins.set" or "builtins.frozenset" } => "set",
        PyInert { Name: "numpy.core.multiarray.scalar" or "numpy._core.multiarray.scalar" } => "<numpy scalar>",
        PyInert i => "<" + i.Name + ">",
        PyList l => "[" + string.Join(",", l.Items.Select(Render)) + "]",
        PyTuple t => "(" + string.Join(",", t.Items.Select(Render)) + ")",
        PyDict d => "{" + string.Join(",", d.Items.Select(kv => Render(kv.Key) + ":" + Render(kv.Value))) + "}",
        _ => "?" + o.GetType().Name,
    };

    // ---- hostile files ---------------------------------------------------------------------

    [TestCase("evil_os_system.pth", "'os.system'")]
    [TestCase("evil_posix_system.pth", "'posix.system'")]
    [TestCase("evil_eval.pth", "'builtins.eval'")]
    [TestCase("evil_builtin_eval.pth", "'__builtin__.eval'")]
    [TestCase("evil_popen.pth", "'subprocess.Popen'")]
    [TestCase("evil_stack_global.pth", "'os.system'")]
    [TestCase("evil_hidden.pth", "'os.system'")]
    public void GlobalsOutsideTheTableAreRefusedAndNothingRuns(string fixture, string global)
    {
        File.Delete(Pwned);
        string path = Fixture(fixture);
        WeightsAssert.FailsWith(path,
            $"refuses to load global {global} (nothing in a checkpoint is executed; Dfer only rebuilds tensors and "
            + "plain containers)",
            () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(File.Exists(Pwned), Is.False, "the payload did not run");
    }

    [TestCase("getattr")]
    [TestCase("exec")]
    [TestCase("__import__")]
    [TestCase("open")]
    public void DangerousBuiltinsAreRefused(string name)
    {
        byte[] pkl = [0x80, 2, .. Encoding.ASCII.GetBytes($"c__builtin__\n{name}\n"), .. Unicode("x"), 0x85, (byte)'R',
            (byte)'.'];
        string path = ZipWithPickle("b.pth", pkl);
        WeightsAssert.FailsWith(path, $"refuses to load global '__builtin__.{name}'",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void PickledModelsAreRefusedWithAHint()
    {
        byte[] pkl = [0x80, 2, .. Global("models.m3dfel", "M3DFEL"), (byte)')', 0x81, (byte)'.'];
        string path = ZipWithPickle("model.pth", pkl);
        var ex = WeightsAssert.FailsWith(path, "refuses to load global 'models.m3dfel.M3DFEL'",
            () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(ex.Message, Does.Contain("save model.state_dict() instead"));
        path = Fixture("evil_popen.pth");
        Assert.That(Assert.Throws<DferException>(() => TorchCheckpoint.ReadStateDict(path))!.Message,
            Does.Not.Contain("state_dict()"));
    }

    [Test]
    public void InertMetadataIsSkippedNotBuilt()
    {
        // argparse.Namespace via NEWOBJ + BUILD, a numpy scalar via REDUCE, a defaultdict with
        // items, a set: all beside the state dict, none of them matters.
        var p = new List<byte> { 0x80, 2, (byte)'}', (byte)'(' };
        p.AddRange(Unicode("args"));
        p.AddRange(Global("argparse", "Namespace"));
        p.AddRange([(byte)')', 0x81, (byte)'}']);
        p.AddRange(Unicode("lr"));
        p.AddRange([(byte)'G', 0x3f, 0x50, 0x62, 0x4d, 0xd2, 0xf1, 0xa9, 0xfc, (byte)'s', (byte)'b']);
        p.AddRange(Unicode("best"));
        p.AddRange(Global("numpy.core.multiarray", "scalar"));
        p.AddRange(Global("numpy", "dtype"));
        p.AddRange(Unicode("f8"));
        p.AddRange([0x89, 0x88, 0x87, (byte)'R']);
        p.AddRange([(byte)'C', 8, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0x86, (byte)'R']);
        p.AddRange(Unicode("dd"));
        p.AddRange(Global("collections", "defaultdict"));
        p.AddRange(Global("__builtin__", "list"));
        p.AddRange([0x85, (byte)'R', (byte)'(']);
        p.AddRange(Unicode("k"));
        p.AddRange([(byte)'K', 1, (byte)'u']);
        p.AddRange(Unicode("tags"));
        p.AddRange(Global("__builtin__", "set"));
        p.AddRange([(byte)']', (byte)'K', 3, (byte)'a', 0x85, (byte)'R']);
        p.AddRange(Unicode("state_dict"));
        p.AddRange(StateDictPickleBody([("w", Rebuild("0", 2, 0, [2], [1]))]));
        p.AddRange("u."u8.ToArray());
        string path = ZipWithPickle("meta.pth", [.. p], ("0", Floats(1, 2)));
        Assert.That(Floats(TorchCheckpoint.ReadStateDict(path).Single().Data), Is.EqualTo(new float[] { 1, 2 }));
    }

    [Test]
    public void TensorReachingPastItsStorageIsRefused()
    {
        string path = Fixture("oversize_tensor.pth");
        WeightsAssert.FailsWith(path, "tensor 'w' reaches element 8 of a storage of 6 elements",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void StorageLargerThanItsRecordIsRefused()
    {
        string path = Fixture("oversize_storage.pth");
        WeightsAssert.FailsWith(path, "holds 24 bytes, but its storage of 1000 torch.FloatStorage elements needs 4000",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void NegativeStrideIsRefused()
    {
        string path = Fixture("negative_stride.pth");
        WeightsAssert.FailsWith(path, "tensor 'w' has a negative stride", () => TorchCheckpoint.ReadStateDict(path));
    }

    [TestCase("truncated.pth", "not a readable zip archive")]
    [TestCase("unbalanced_mark.pth", "unbalanced MARK")]
    [TestCase("stack_underflow.pth", "stack underflow")]
    public void BrokenFilesFailWithOneLine(string fixture, string phrase)
    {
        string path = Fixture(fixture);
        WeightsAssert.FailsWith(path, phrase, () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void AbsurdSizesAndStridesAreRefusedBeforeAllocating()
    {
        string overflow = ZipWithPickle("overflow.pth",
            StateDictPickle([("w", Rebuild("0", 6, 0, [int.MaxValue, int.MaxValue, int.MaxValue], [1, 1, 1]))]),
            ("0", Floats(0, 1, 2, 3, 4, 5)));
        WeightsAssert.FailsWith(overflow, "overflow 64 bits", () => TorchCheckpoint.ReadStateDict(overflow));

        // Expanded with stride 0: valid in PyTorch, but 8 GiB once made contiguous.
        string huge = ZipWithPickle("huge.pth",
            StateDictPickle([("w", Rebuild("0", 1, 0, [1 << 30, 2], [0, 0]))]), ("0", Floats(1)));
        WeightsAssert.FailsWith(huge, "Dfer reads tensors of at most", () => TorchCheckpoint.ReadStateDict(huge));

        // 512 MiB, allowed per tensor but not from a file of a few hundred bytes.
        string big = ZipWithPickle("big.pth",
            StateDictPickle([("w", Rebuild("0", 1, 0, [1 << 27], [0]))]), ("0", Floats(1)));
        WeightsAssert.FailsWith(big, "once expanded", () => TorchCheckpoint.ReadStateDict(big));

        byte[] deep = [0x80, 2, .. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'(',
            .. Unicode("w"),
            .. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(', .. StorageId("0", 1), 0x4b, 0,
            (byte)'(', .. Enumerable.Repeat<byte>(0x88, 100).ToArray(), (byte)'t', (byte)'(',
                .. Enumerable.Repeat<byte>(0x88, 100).ToArray(), (byte)'t',
            0x89, (byte)')', (byte)'t', (byte)'R', (byte)'u', (byte)'.'];
        string rank = ZipWithPickle("rank.pth", deep, ("0", Floats(1)));
        WeightsAssert.FailsWith(rank, "has 100 dimensions", () => TorchCheckpoint.ReadStateDict(rank));
    }

    [Test]
    public void MalformedPicklesAreDferExceptions()
    {
        var cases = new (string Phrase, byte[] Pickle)[]
        {
            ("never stored", [0x80, 2, (byte)'h', 5, (byte)'.']),
            ("EXT1", [0x80, 2, 0x82, 1, (byte)'.']),
            ("NEXT_BUFFER", [0x80, 5, 0x97, (byte)'.']),
            ("not a pickle opcode", [0x80, 2, 0xff, (byte)'.']),
            ("only", [0x80, 4, 0x8d, .. BitConverter.GetBytes(1L << 62), (byte)'.']),
            ("only", [0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0x7f, (byte)'a']),
            ("only", [0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, 0]),
            ("unknown persistent id", [0x80, 2, .. Unicode("foo"), (byte)'Q', (byte)'.']),
            ("newest", [0x80, 9, (byte)'.']),
            ("without a MARK", [0x80, 2, (byte)'t', (byte)'.']),
            ("truncated", [0x80, 2, (byte)'}']),
            ("objects on the stack", [0x80, 2, (byte)'}', (byte)'}', (byte)'.']),
            ("as a dict key", [0x80, 2, (byte)'}', (byte)']', (byte)'N', (byte)'s', (byte)'.']),
            ("not valid UTF-8", [0x80, 2, (byte)'X', 1, 0, 0, 0, 0xff, (byte)'.']),
            ("not a class or function", [0x80, 2, .. Unicode("x"), (byte)')', (byte)'R', (byte)'.']),
        };
        foreach (var (phrase, pickle) in cases)
        {
            string path = ZipWithPickle("m.pth", pickle);
            WeightsAssert.FailsWith(path, phrase, () => TorchCheckpoint.ReadStateDict(path));
        }
    }

    [Test]
    public void DeepNestingCostsHeapNotStack()
    {
        const int depth = 1_000_000;
        // [[[[...]]]] a million deep, then a million unclosed MARKs.
        var lists = new List<byte> { 0x80, 2 };
        lists.AddRange(Enumerable.Repeat((byte)']', depth));
        lists.AddRange(Enumerable.Repeat((byte)'a', depth - 1));
        lists.Add((byte)'.');
        string path = ZipWithPickle("lists.pth", [.. lists]);
        WeightsAssert.FailsWith(path, "holds a list, not a state dict", () => TorchCheckpoint.ReadStateDict(path));

        var marks = new List<byte> { 0x80, 2 };
        marks.AddRange(Enumerable.Repeat((byte)'(', depth));
        marks.Add((byte)'N');
        marks.Add((byte)'.');
        path = ZipWithPickle("marks.pth", [.. marks]);
        WeightsAssert.FailsWith(path, "unbalanced MARK", () => TorchCheckpoint.ReadStateDict(path));

        // Two equal tuples nested 200,000 deep as keys of one dict: compared without recursion
        // (a million deep takes more memory than the budget of a 2 MB file allows).
        const int keyDepth = 200_000;
        var keys = new List<byte> { 0x80, 2, (byte)'}', (byte)')' };
        for (int i = 0; i < keyDepth; i++) keys.Add(0x85);
        keys.AddRange([(byte)'N', (byte)'s', (byte)')']);
        for (int i = 0; i < keyDepth; i++) keys.Add(0x85);
        keys.AddRange([(byte)'N', (byte)'s', (byte)'.']);
        path = ZipWithPickle("keys.pth", [.. keys]);
        WeightsAssert.FailsWith(path, "holds no state dict", () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void LegacyFileWithoutMagicIsNotACheckpoint()
    {
        string path = _dir.PathOf("plain.pkl");
        File.WriteAllBytes(path, [0x80, 2, (byte)'}', (byte)'.']);
        WeightsAssert.FailsWith(path, "no PyTorch magic number", () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void MutatedFilesFailOnlyWithDferException()
    {
        var random = TestSeed.Random(20240611);
        int failures = 0, successes = 0;
        foreach (string fixture in new[] { "dtypes.pth", "views.pth", "legacy.pth", "m3dfel_wrapper.pth" })
        {
            byte[] original = File.ReadAllBytes(Fixture(fixture));
            byte[]? pickle = null;
            string? pickleName = null;
            if (original[0] == (byte)'P')
            {
                using var zip = new ZipArchive(new MemoryStream(original), ZipArchiveMode.Read);
                ZipArchiveEntry entry =
                    zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
                pickleName = entry.FullName;
                using var ms = new MemoryStream();
                entry.Open().CopyTo(ms);
                pickle = ms.ToArray();
            }
            for (int round = 0; round < 150; round++)
            {
                byte[] mutated;
                if (pickle is not null && round % 2 == 0)
                    // reaches the unpickler past the zip CRCs
                    mutated = Rezip(original, pickleName!, Mutate(pickle, random));
                else
                    mutated = Mutate(original, random);
                string path = _dir.PathOf($"fuzz-{round}.pth");
                File.WriteAllBytes(path, mutated);
                try
                {
                    TorchCheckpoint.ReadStateDict(path);
                    successes++;
                }
                catch (DferException ex)
                {
                    Assert.That(ex.Message, Does.StartWith(path + ": ").And.Not.Contain('\n'), fixture);
                    failures++;
                }
                catch (Exception ex)
                {
                    Assert.Fail($"{fixture} round {round}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
                }
            }
        }
        TestContext.Out.WriteLine($"{failures} refused, {successes} read");
        Assert.That(failures, Is.GreaterThan(100));
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        byte[] b = (byte[])original.Clone();
        switch (random.Next(4))
        {
            case 0:
                return b[..random.Next(b.Length)];
            case 1:
                b[random.Next(b.Length)] ^= (byte)(1 << random.Next(8));
                return b;
            case 2:
                for (int i = 0; i < 4; i++) b[random.Next(b.Length)] = (byte)random.Next(256);
                return b;
            default:
                {
                    // Overwrite with a value that is often a length or a count.
                    int at = random.Next(Math.Max(1, b.Length - 4));
                    BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at),
                        random.Next(2) == 0 ? int.MaxValue : random.Next(-2, 1 << 20));
                    return b;
                }
        }
    }

    private static byte[] Rezip(byte[] original, string replacedName, byte[] replacement)
    {
        using var src = new ZipArchive(new MemoryStream(original), ZipArchiveMode.Read);
        var output = new MemoryStream();
        using (var dst = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (ZipArchiveEntry e in src.Entries)
            {
                using var ms = new MemoryStream();
                e.Open().CopyTo(ms);
                using Stream w = dst.CreateEntry(e.FullName, CompressionLevel.NoCompression).Open();
                w.Write(e.FullName == replacedName ? replacement : ms.ToArray());
            }
        }
        return output.ToArray();
    }

    // ---- StateDict.Load and the test writer ------------------------------------------------

    [Test]
    public void StateDictLoadReadsTorchFilesOfAnyExtension()
    {
        string copy = _dir.PathOf("weights.tar");
        File.Copy(Fixture("dtypes.pth"), copy);
        StateDict sd = StateDict.Load(copy);
        Assert.That(sd.Names, Is.EqualTo(new[] { "f32", "f16", "bf16", "f64", "i64", "i32", "u8", "bool" }));
        Assert.That(sd["f32"].Data, Is.EqualTo(new[] { 1.5f, -2.25f, 3f, 0.1f, -0f, 1e-30f }));
        Assert.That(sd["i64"].DType, Is.EqualTo(DType.I64));
        Assert.That(sd["i64"].Data, Is.EqualTo(new[] { (float)-(1L << 62), 0f, 42f, (float)(1L << 40) }));
        Assert.That(sd["bool"].Data, Is.EqualTo(new[] { 1f, 0f, 1f }));
        Assert.That(sd["bf16"].Shape, Is.EqualTo(new long[] { 2, 2 }));

        StateDict wrapped = StateDict.Load(Fixture("ifdd_wrapper.pth"), "model");
        Assert.That(wrapped.Names, Does.Contain("fc.bias"));
    }

    [Test]
    public void StateDictLoadRefusesOtherFiles()
    {
        string text = _dir.PathOf("notes.pth");
        File.WriteAllText(text, "hello, not weights");
        WeightsAssert.FailsWith(text, "is neither a PyTorch checkpoint (torch.save) nor a safetensors file",
            () => StateDict.Load(text));

        string st = _dir.PathOf("w.safetensors");
        SafetensorsWriter.WriteFloat32(st, [("w", [1], [1f])]);
        WeightsAssert.FailsWith(st, "--key state_dict applies to PyTorch checkpoints only",
            () => StateDict.Load(st, "state_dict"));
        Assert.That(StateDict.Load(st)["w"].Data, Is.EqualTo(new[] { 1f }));
        // A safetensors file under another name is still recognised by content.
        string renamed = _dir.PathOf("w.bin");
        File.Copy(st, renamed);
        Assert.That(StateDict.Load(renamed)["w"].Data, Is.EqualTo(new[] { 1f }));
    }

    [Test]
    public void LooksLikeTorchFileChecksTheMagic()
    {
        Assert.That(TorchCheckpoint.LooksLikeTorchFile(Fixture("dtypes.pth")), Is.True);
        Assert.That(TorchCheckpoint.LooksLikeTorchFile(Fixture("legacy.pth")), Is.True);
        Assert.That(TorchCheckpoint.LooksLikeTorchFile(_dir.PathOf("absent.pth")), Is.False);
        string st = _dir.PathOf("w.safetensors");
        // A header of 0x280 bytes starts with 0x80 0x02, like a pickle; the '{' at byte 8 tells them apart.
        File.WriteAllBytes(st, RawSafetensors.Build("{" + new string(' ', 0x280 - 2) + "}"));
        Assert.That(File.ReadAllBytes(st)[..2], Is.EqualTo(new byte[] { 0x80, 2 }));
        Assert.That(TorchCheckpoint.LooksLikeTorchFile(st), Is.False);
    }

    [Test]
    public void WriterOutputReadsBack()
    {
        float[] w = [1.5f, -2f, 3.25f, 0f, float.MaxValue, -1e-20f];
        (string, float[], long[])[] tensors =
            [("conv.weight", w, [2, 3]), ("conv.bias", [0.5f], [1]), ("scale", [4f], [])];

        string bare = _dir.PathOf("bare.pth");
        TorchSaveWriter.Write(bare, tensors);
        var read = TorchCheckpoint.ReadStateDict(bare);
        Assert.That(read.Select(t => t.Name), Is.EqualTo(new[] { "conv.weight", "conv.bias", "scale" }));
        Assert.That(read.Select(t => t.DType), Is.All.EqualTo(DType.F32));
        Assert.That(read[0].Shape, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(Floats(read[0].Data), Is.EqualTo(w));
        Assert.That(read[2].Shape, Is.Empty);

        string wrapped = _dir.PathOf("wrapped.pth");
        TorchSaveWriter.Write(wrapped, tensors, wrapperKey: "state_dict", modulePrefix: true);
        StateDict sd = StateDict.Load(wrapped);
        Assert.That(sd.Names, Is.EqualTo(new[] { "conv.weight", "conv.bias", "scale" }));
        Assert.That(sd["conv.weight"].Data, Is.EqualTo(w));
    }

    // ---- building pickles by hand ----------------------------------------------------------

    private string ZipWithPickle(string name, byte[] pickle, params (string Key, byte[] Data)[] storages)
    {
        string path = _dir.PathOf(name);
        using var file = new FileStream(path, FileMode.Create);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        void Add(string entry, byte[] data)
        {
            using Stream s = zip.CreateEntry(entry, CompressionLevel.NoCompression).Open();
            s.Write(data);
        }
        Add("archive/data.pkl", pickle);
        foreach (var (key, data) in storages) Add("archive/data/" + key, data);
        Add("archive/version", "3\n"u8.ToArray());
        return path;
    }

    internal static byte[] Unicode(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        return [(byte)'X', .. BitConverter.GetBytes(utf8.Length), .. utf8];
    }

    internal static byte[] Global(string module, string name)
        => [(byte)'c', .. Encoding.ASCII.GetBytes(module + "\n" + name + "\n")];

    /// <summary>BININT for values that fit in 32 bits, else LONG1 of 8 bytes.</summary>
    internal static byte[] Int(long v) =>
        v is >= int.MinValue and <= int.MaxValue ? [(byte)'J', .. BitConverter.GetBytes((int)v)]
        : [0x8a, 8, .. BitConverter.GetBytes(v)];

    internal static byte[] StorageId(string key, long numel) =>
        [(byte)'(', .. Unicode("storage"), .. Global("torch", "FloatStorage"), .. Unicode(key), .. Unicode("cpu"),
        .. Int(numel), (byte)'t', (byte)'Q'];

    internal static byte[] Rebuild(string key, long numel, long offset, long[] size, long[] stride) =>
        [.. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(', .. StorageId(key, numel), .. Int(offset),
         (byte)'(', .. size.SelectMany(Int), (byte)'t', (byte)'(', .. stride.SelectMany(Int), (byte)'t',
         0x89, .. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'t', (byte)'R'];

    /// <summary>OrderedDict() REDUCE MARK name tensor ... SETITEMS: an OrderedDict on the stack.</summary>
    internal static byte[] StateDictPickleBody((string Name, byte[] Tensor)[] entries) =>
        [.. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'(',
         .. entries.SelectMany(e => Unicode(e.Name).Concat(e.Tensor)), (byte)'u'];

    internal static byte[] StateDictPickle((string Name, byte[] Tensor)[] entries)
        => [0x80, 2, .. StateDictPickleBody(entries), (byte)'.'];

    internal static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    internal static float[] Floats(byte[] data)
    {
        var values = new float[data.Length / 4];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(i * 4));
        return values;
    }
}
