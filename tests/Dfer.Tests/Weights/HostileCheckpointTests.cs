using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Dfer.Weights;
using NUnit.Framework;
using static Dfer.Tests.Weights.TorchCheckpointTests;

namespace Dfer.Tests.Weights;

/// <summary>
/// Hostile checkpoints, generated here: small files that used to take exponential time, gigabytes
/// of memory, load silently wrong values, or print raw terminal escapes. Each must now end quickly
/// with one DferException line naming the file and the limit (see <see cref="CheckpointLimits"/>),
/// or load correctly. Timeouts are guards against a hang, not benchmarks; memory is measured with
/// GC.GetTotalAllocatedBytes, and the bound asserted for each case is stated beside it.
/// </summary>
[TestFixture]
public class HostileCheckpointTests
{
    /// <summary>Far beyond what any case takes when it is linear (well under a second each).</summary>
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    // ---- CPU: dict keys ----------------------------------------------------------------------

    /// <summary>
    /// A tuple nested 60 deep whose every level holds the level below twice (through the memo):
    /// 2^60 nodes if walked. Used as a key twice, and an equal copy built separately (with True
    /// for 1 at the bottom, equal in Python) too: one key in the end.
    /// </summary>
    [Test]
    public void SharedNestedTupleKeysAreCheap()
    {
        var p = new List<byte> { 0x80, 2, (byte)'}' };
        // Leaves the top level on the stack; every level is in the memo.
        void Chain(byte leaf, int memoBase)
        {
            p.AddRange([leaf == 0 ? (byte)0x88 : (byte)'K', .. leaf == 0 ? Array.Empty<byte>() : [leaf], (byte)'q',
                (byte)memoBase, (byte)'0']);
            for (int i = 1; i <= 60; i++)
                p.AddRange([(byte)'h', (byte)(memoBase + i - 1), (byte)'h', (byte)(memoBase + i - 1), 0x86, (byte)'q',
                    (byte)(memoBase + i), (byte)'0']);
            p.AddRange([(byte)'h', (byte)(memoBase + 60)]);
        }
        Chain(0, 0);
        p.AddRange([(byte)'N', (byte)'s', (byte)'h', 60, (byte)'N', (byte)'s']);
        Chain(1, 100);
        p.AddRange([(byte)'K', 7, (byte)'s', (byte)'.']);
        Assert.That(p, Has.Count.LessThan(1024), "a tiny file");

        var dict = (PyDict)Guarded(() => Unpickle([.. p]));
        Assert.That(dict.Count, Is.EqualTo(1));
        Assert.That(dict.Items.Single().Value, Is.EqualTo(7L), "the last SETITEM of an equal key wins");

        string path = Zip("tuple.pth", [.. p]);
        Refused(path, "holds no state dict where Dfer looks", () => TorchCheckpoint.ReadStateDict(path));
    }

    /// <summary>
    /// Integer keys i + (i &lt;&lt; 32), whose long hash codes are all 0, and tuples ((i,),), whose
    /// top-level hash was all alike: quadratic dict inserts before, linear now.
    /// </summary>
    [TestCase(true, 200_000)]
    [TestCase(false, 100_000)]
    public void KeysThatHashAlikeStayLinear(bool integers, int count)
    {
        var p = new List<byte> { 0x80, 2, (byte)'}', (byte)'(' };
        for (int i = 0; i < count; i++)
        {
            if (integers) p.AddRange(Int(i + ((long)i << 32)));
            else p.AddRange([.. Int(i), 0x85, 0x85]);
            p.Add((byte)'N');
        }
        p.AddRange("u."u8.ToArray());
        var dict = (PyDict)Guarded(() => Unpickle([.. p]));
        Assert.That(dict.Count, Is.EqualTo(count));
    }

    [Test]
    public void TupleHoldingAListIsNotAKey()
    {
        byte[] p = [0x80, 2, (byte)'}', (byte)']', 0x85, (byte)'N', (byte)'s', (byte)'.'];
        string path = Zip("unhashable.pth", p);
        Refused(path, "data.pkl uses a tuple as a dict key", () => TorchCheckpoint.ReadStateDict(path));
    }

    // ---- memory: the unpickler's budget ------------------------------------------------------

    /// <summary>
    /// 10 MB of one-byte opcodes deflated to a file of about 10 KB: each opcode builds an object,
    /// a stack slot or a memo entry. Refused at the budget of the file (64 MiB plus 64 bytes per
    /// file byte); what the load allocates stays under 256 MB (it was gigabytes).
    /// </summary>
    [TestCase("lists", new byte[] { 0x80, 2 }, new byte[] { (byte)']' })]
    [TestCase("dup", new byte[] { 0x80, 2, (byte)']' }, new byte[] { (byte)'2' })]
    [TestCase("marks", new byte[] { 0x80, 2 }, new byte[] { (byte)'(' })]
    [TestCase("binget", new byte[] { 0x80, 2, (byte)']', (byte)'q', 0 }, new byte[] { (byte)'h', 0 })]
    [TestCase("memoize", new byte[] { 0x80, 4, (byte)']' }, new byte[] { 0x94 })]
    [TestCase("tuples", new byte[] { 0x80, 2 }, new byte[] { (byte)')' })]
    public void OpcodeBombsAreRefusedWithinTheBudget(string name, byte[] head, byte[] unit)
    {
        const int size = 10_000_000;
        var pickle = new byte[size];
        head.CopyTo(pickle, 0);
        for (int i = head.Length; i + unit.Length < size; i += unit.Length) unit.CopyTo(pickle, i);
        pickle[^1] = (byte)'.';
        string path = _dir.PathOf(name + ".pth");
        File.WriteAllBytes(path,
            new RawZip().Add("archive/data.pkl", pickle, deflate: true).Add("archive/version", "3\n"u8.ToArray())
            .Build());
        long fileLength = new FileInfo(path).Length;
        Assert.That(fileLength, Is.LessThan(64 << 10), "a small file");
        long limit = CheckpointLimits.PickleHeapAllowanceBytes + CheckpointLimits.PickleHeapBytesPerFileByte
            * fileLength;

        Refused(path,
            $"data.pkl needs more than {limit} bytes of memory to unpickle, the budget for a file of {fileLength} "
            + "bytes",
            () => TorchCheckpoint.ReadStateDict(path), maxAllocated: 256L << 20);
    }

    [Test]
    public void BudgetScalesWithTheFileUpToAFixedCap()
    {
        Assert.That(PickleBudget.ForFile(0).Limit, Is.EqualTo(CheckpointLimits.PickleHeapAllowanceBytes));
        Assert.That(PickleBudget.ForFile(1 << 20).Limit, Is.EqualTo((64L << 20) + (64L << 20)));
        Assert.That(PickleBudget.ForFile(long.MaxValue).Limit, Is.EqualTo(CheckpointLimits.MaxPickleHeapBytes));
    }

    /// <summary>A data.pkl inflating to 100 MB from a file of ~100 KB: refused before it is inflated.</summary>
    [Test]
    public void InflatedPickleBeyondTheBudgetIsNotInflated()
    {
        const long size = 100_000_000;
        var (deflated, crc) = DeflateRepeated("N0"u8.ToArray(), size);
        string path = _dir.PathOf("bigpickle.pth");
        File.WriteAllBytes(path, new RawZip().AddDeflated("archive/data.pkl", deflated, size, crc).Build());
        long limit = PickleBudget.ForFile(new FileInfo(path).Length).Limit;
        Assert.That(limit, Is.LessThan(size), "a file this small cannot justify the pickle");
        Refused(path, $"record 'archive/data.pkl' is {size} bytes, more than the {limit}-byte unpickling budget",
            () => TorchCheckpoint.ReadStateDict(path), maxAllocated: 16L << 20);

        // The same stream declared as 1000 bytes: it is not believed past them.
        File.WriteAllBytes(path, new RawZip().AddDeflated("archive/data.pkl", deflated, 1000, crc).Build());
        Refused(path, "record 'archive/data.pkl' inflates to more than its declared 1000 bytes; the file is corrupt",
            () => TorchCheckpoint.ReadStateDict(path), maxAllocated: 16L << 20);
    }

    // ---- memory: storages --------------------------------------------------------------------

    /// <summary>
    /// A one-element view of a 200 MB storage (deflated to ~200 KB): the whole record is inflated
    /// once to check its CRC, but only the element is kept, so the load allocates under 32 MB.
    /// </summary>
    [Test]
    public void OneElementViewOfAHugeStorageKeepsOneElement()
    {
        const long numel = 50_000_000, at = 12_345_678;
        byte[] pickle = StateDictPickle([("w", Rebuild("0", numel, at, [1], [1]))]);
        var (deflated, crc) = DeflateStorage(numel, at, 1.5f);
        string path = _dir.PathOf("view.pth");
        File.WriteAllBytes(path,
            new RawZip().Add("archive/data.pkl", pickle).AddDeflated("archive/data/0", deflated, numel * 4, crc)
            .Build());

        IReadOnlyList<RawTensor> tensors = null!;
        long allocated = Allocated(() => tensors = TorchCheckpoint.ReadStateDict(path));
        Assert.That(Floats(tensors.Single().Data), Is.EqualTo(new[] { 1.5f }));
        Assert.That(allocated, Is.LessThan(32L << 20), "the 200 MB storage is not kept");
    }

    [Test]
    public void StorageInflatingBeyondTheBudgetIsRefusedBeforeInflating()
    {
        const long numel = 75_000_000; // 300 MB, from a file of ~300 KB
        byte[] pickle = StateDictPickle([("w", Rebuild("0", numel, 0, [1], [1]))]);
        var (deflated, crc) = DeflateStorage(numel, 0, 0f);
        string path = _dir.PathOf("inflate.pth");
        File.WriteAllBytes(path,
            new RawZip().Add("archive/data.pkl", pickle).AddDeflated("archive/data/0", deflated, numel * 4, crc)
            .Build());
        long budget = CheckpointLimits.ExpandedBytesPerFileByte * new FileInfo(path).Length
            + CheckpointLimits.ExpandedAllowanceBytes;
        Refused(path,
            $"record 'archive/data/0' inflates to {numel * 4} bytes; the records Dfer reads may inflate to at "
            + $"most {budget} bytes",
            () => TorchCheckpoint.ReadStateDict(path), maxAllocated: 16L << 20);
    }

    // ---- zip: CRCs, duplicates, overlaps, lies -----------------------------------------------

    [Test]
    public void Crc32OfTheTestWriterMatchesTheStandardCheckValue()
    {
        // The bit-by-bit CRC that crafts the wrong CRCs below, against the standard check value and
        // the library the reader uses (System.IO.Hashing).
        Assert.That(RawZip.Crc32Of("123456789"u8.ToArray()), Is.EqualTo(0xCBF43926u));
        var bytes = new byte[1000];
        TestSeed.Random(5).NextBytes(bytes);
        Assert.That(System.IO.Hashing.Crc32.HashToUInt32(bytes), Is.EqualTo(RawZip.Crc32Of(bytes)));
    }

    /// <summary>One flipped bit in a stored storage turned 1.0 into 1.0000001 without a word.</summary>
    [Test]
    public void FlippedBitInAStoredStorageFailsTheCrc()
    {
        string path = _dir.PathOf("flip.pth");
        TorchSaveWriter.Write(path, [("w", [1f, 2f], [2])]);
        Assert.That(Floats(TorchCheckpoint.ReadStateDict(path).Single().Data), Is.EqualTo(new[] { 1f, 2f }));
        byte[] bytes = File.ReadAllBytes(path);
        int at = bytes.AsSpan().IndexOf(TorchSaveWriter.FloatBytes([1f, 2f]));
        Assert.That(at, Is.GreaterThan(0));
        bytes[at] ^= 1;
        File.WriteAllBytes(path, bytes);
        Refused(path, "record 'archive/data/0' fails its CRC-32 check (the zip says",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [TestCase("archive/data.pkl", false)]
    [TestCase("archive/data.pkl", true)]
    [TestCase("archive/data/0", false)]
    [TestCase("archive/data/0", true)]
    [TestCase("archive/byteorder", true)]
    public void WrongCrcIsRefusedForEveryRecordRead(string record, bool deflate)
    {
        var tensors = new[] { ("w", new[] { 1f, 2f, 3f }, new long[] { 3 }) };
        byte[] pickle = TorchSaveWriter.Pickle(tensors);
        byte[] Data(string name) => name switch
        {
            "archive/data.pkl" => pickle,
            "archive/byteorder" => "little"u8.ToArray(),
            _ => TorchSaveWriter.FloatBytes([1f, 2f, 3f]),
        };
        var zip = new RawZip();
        foreach (string name in new[] { "archive/data.pkl", "archive/byteorder", "archive/data/0" })
            zip.Add(name, Data(name), deflate, crc: name == record ? RawZip.Crc32Of(Data(name)) ^ 0x10 : null);
        string path = _dir.PathOf("crc.pth");
        File.WriteAllBytes(path, zip.Build());
        Refused(path, $"record '{record}' fails its CRC-32 check", () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void DeflatedAndZip64ArchivesLoad()
    {
        var tensors = new[] { ("a", new[] { 1f, -2f, 3.5f, 4f }, new long[] { 2, 2 }),
            ("b", new[] { 0.25f }, Array.Empty<long>()) };
        foreach (var (deflate, zip64) in new[] { (true, false), (false, true), (true, true) })
        {
            string path = _dir.PathOf($"ok-{deflate}-{zip64}.pth");
            File.WriteAllBytes(path, TorchSaveWriter.Zip(tensors, deflate).Build(zip64));
            var read = TorchCheckpoint.ReadStateDict(path);
            Assert.That(read.Select(t => t.Name), Is.EqualTo(new[] { "a", "b" }));
            Assert.That(Floats(read[0].Data), Is.EqualTo(new[] { 1f, -2f, 3.5f, 4f }));
            Assert.That(read[0].Shape, Is.EqualTo(new long[] { 2, 2 }));
            Assert.That(Floats(read[1].Data), Is.EqualTo(new[] { 0.25f }));
        }
    }

    [Test]
    public void TwoRecordsWithTheSameNameAreAmbiguous()
    {
        RawZip zip = TorchSaveWriter.Zip([("w", [1f], [1])]).Add("archive/data/0", TorchSaveWriter.FloatBytes([9f]));
        string path = _dir.PathOf("dup.pth");
        File.WriteAllBytes(path, zip.Build());
        Refused(path, "has two zip records named 'archive/data/0'; which one is meant is ambiguous",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    /// <summary>Two central entries for one compressed stream: the zip-bomb trick of quoting data twice.</summary>
    [Test]
    public void RecordsSharingDataAreRefused()
    {
        byte[] pickle = StateDictPickle([("a", Rebuild("0", 4, 0, [4], [1])), ("b", Rebuild("1", 4, 0, [4], [1]))]);
        var zip = new RawZip().Add("archive/data.pkl", pickle)
            .Add("archive/data/0", TorchSaveWriter.FloatBytes([1, 2, 3, 4]), deflate: true)
            .Alias("archive/data/1", 1);
        string path = _dir.PathOf("overlap.pth");
        File.WriteAllBytes(path, zip.Build());
        Refused(path, "whose data overlap; refusing (overlapping records are a zip-bomb technique)",
            () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void CentralDirectoryLiesAreRefused()
    {
        byte[] good = TorchSaveWriter.Zip([("w", [1f, 2f], [2])]).Build();
        int end = good.Length - 22;
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(good.AsSpan(end)), Is.EqualTo(0x06054b50u));
        int cdStart = (int)BinaryPrimitives.ReadUInt32LittleEndian(good.AsSpan(end + 16));

        var cases = new List<(string Phrase, byte[] Bytes)>();
        byte[] b = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(end + 16), 0x7FFFFFF0);
        cases.Add(("its central directory of", b));
        b = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(end + 10), 5000);
        cases.Add(("it lists 5000 records in a central directory of only", b));
        b = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(end + 10), 0xFFFF);
        cases.Add(("it needs zip64 fields but has no zip64 end record", b));
        b = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(cdStart + 20), 0x7FFFFFFF); // data.pkl's compressed size
        cases.Add(("record 'archive/data.pkl' claims 2147483647 bytes at offset 0", b));
        b = (byte[])good.Clone();
        b[good.AsSpan(1).IndexOf("PK\x03\x04"u8) + 1] = 0; // the second local header's signature (byteorder's)
        cases.Add(("record 'archive/byteorder' has no local header at offset", b));
        b = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(cdStart + 10), 12); // data.pkl "compressed" with bzip2
        cases.Add(("record 'archive/data.pkl' uses zip compression method 12; Dfer reads stored and deflated records",
            b));
        b = (byte[])good.Clone();
        b[30 + 8] = (byte)'X'; // the local header's copy of the name
        cases.Add(("record 'archive/data.pkl' is named 'archive/Xata.pkl' in its local header", b));
        cases.Add(("no end of central directory record", good[..(good.Length - 30)]));

        foreach (var (phrase, bytes) in cases)
        {
            string path = _dir.PathOf("lie.pth");
            File.WriteAllBytes(path, bytes);
            Refused(path, phrase, () => TorchCheckpoint.ReadStateDict(path));
        }
    }

    /// <summary>Random damage to deflated and zip64 checkpoints: never anything but a DferException.</summary>
    [Test]
    public void MutatedDeflatedAndZip64FilesFailOnlyWithDferException()
    {
        var random = TestSeed.Random(21);
        var tensors = new[] { ("conv.weight", new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new long[] { 2, 3 }),
            ("conv.bias", new[] { 0.5f, -1f }, new long[] { 2 }) };
        int refused = 0;
        foreach (var (deflate, zip64) in new[] { (true, false), (false, true), (true, true) })
        {
            byte[] original = TorchSaveWriter.Zip(tensors, deflate).Build(zip64);
            for (int round = 0; round < 200; round++)
            {
                byte[] b = (byte[])original.Clone();
                switch (round % 4)
                {
                    case 0: b = b[..random.Next(b.Length)]; break;
                    case 1: b[random.Next(b.Length)] ^= (byte)(1 << random.Next(8)); break;
                    case 2: for (int i = 0; i < 4; i++) b[random.Next(b.Length)] = (byte)random.Next(256); break;
                    default:
                        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(random.Next(b.Length - 4)),
                            random.Next(2) == 0 ? -1 : random.Next(1 << 20));
                        break;
                }
                string path = _dir.PathOf($"m{round}.pth");
                File.WriteAllBytes(path, b);
                try
                {
                    TorchCheckpoint.ReadStateDict(path);
                }
                catch (DferException ex)
                {
                    Assert.That(ex.Message, Does.StartWith(path + ": ").And.Not.Contain('\n'));
                    Assert.That(ex.Message, Has.Length.LessThan(1000));
                    refused++;
                }
                catch (Exception ex)
                {
                    Assert.Fail($"deflate={deflate} zip64={zip64} "
                        + $"round {round}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
                }
            }
        }
        Assert.That(refused, Is.GreaterThan(300));
    }

    // ---- messages ----------------------------------------------------------------------------

    [Test]
    public void NamesFromTheFileAreEscapedAndCapped()
    {
        const string escape = "\u001b[2J\u001b[31mowned";
        string path = Zip("escape.pth", StateDictPickle([(escape, Rebuild("0", 6, 0, [8], [1]))]),
            ("0", Floats(0, 1, 2, 3, 4, 5)));
        var ex = Refused(path, "tensor '\\x1b[2J\\x1b[31mowned' reaches element 7 of a storage of 6 elements",
            () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(ex.Message, Does.Not.Contain('\u001b'));

        string longName = new('a', 100_000);
        path = Zip("long.pth", StateDictPickle([(longName, Rebuild("0", 6, 0, [8], [1]))]),
            ("0", Floats(0, 1, 2, 3, 4, 5)));
        ex = Refused(path, $"tensor '{new string('a', 168)}… (99832 more characters)' reaches element 7",
            () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(ex.Message, Has.Length.LessThan(path.Length + 400));

        // Twenty top-level keys of 50,000 characters and no state dict: the list of keys stays short.
        var p = new List<byte> { 0x80, 2, (byte)'}', (byte)'(' };
        for (int i = 0; i < 20; i++) p.AddRange([.. Unicode(new string((char)('a' + i), 50_000)), (byte)'N']);
        p.AddRange("u."u8.ToArray());
        path = Zip("keys.pth", [.. p]);
        ex = Refused(path, "holds no state dict where Dfer looks", () => TorchCheckpoint.ReadStateDict(path));
        // Each key is cut to 168 characters, and the whole message to DferException's 1000.
        Assert.That(ex.Message, Does.Contain("… (49832 more characters)', 'bbbb"));
        Assert.That(ex.Message, Has.Length.LessThanOrEqualTo(DferException.MaxMessageChars));
    }

    [Test]
    public void QuoteCountsEscapesAndKeepsSurrogatePairs()
    {
        // SafeText.Quote: at most 200 characters between the quotes; a cut keeps 168 of them and says
        // how many characters of the name were left out.
        Assert.That(SafeText.Quote("fc.weight"), Is.EqualTo("'fc.weight'"));
        Assert.That(SafeText.Quote("a\u001bb"), Is.EqualTo("'a\\x1bb'"));
        string escapes = SafeText.Quote(new string('\u001b', 1000));
        Assert.That(escapes,
            Is.EqualTo("'" + string.Concat(Enumerable.Repeat("\\x1b", 42)) + "… (958 more characters)'"));
        // 167 letters and an emoji (two UTF-16 units) where the cut falls: the pair is not cut in half.
        string emoji = SafeText.Quote(new string('x', 167) + "\U0001F600" + new string('y', 40));
        Assert.That(emoji, Is.EqualTo("'" + new string('x', 167) + "… (42 more characters)'"));
    }

    [Test]
    public void GlobalNamesAreCapped()
    {
        byte[] p = [0x80, 2, .. Unicode(new string('m', 100_000)), .. Unicode("n"), 0x93, (byte)'.'];
        string path = Zip("global.pth", p);
        var ex = Refused(path, $"refuses to load global '{new string('m', 168)}… (99834 more characters)'",
            () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(ex.Message, Has.Length.LessThan(path.Length + 500));
    }

    /// <summary>Random damage to a safetensors file, opened and read whole: never anything but a short
    /// DferException.</summary>
    [Test]
    public void MutatedSafetensorsFailOnlyWithDferException()
    {
        string source = _dir.PathOf("src.safetensors");
        SafetensorsWriter.WriteFloat32(source,
            [("conv.weight", [2, 3], [1f, 2f, 3f, 4f, 5f, 6f]), ("conv.bias", [2], [0.5f, -1f])]);
        byte[] original = File.ReadAllBytes(source);
        var random = TestSeed.Random(2121);
        int refused = 0;
        for (int round = 0; round < 400; round++)
        {
            byte[] b = (byte[])original.Clone();
            switch (round % 4)
            {
                case 0: b = b[..random.Next(b.Length)]; break;
                case 1: b[random.Next(b.Length)] ^= (byte)(1 << random.Next(8)); break;
                case 2:
                    for (int i = 0; i < 3; i++) b[random.Next(b.Length)] =
                    (byte)"{}[]\",:0123456789\"e-"[random.Next(17)]; break;
                default:
                    BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(random.Next(b.Length - 4)),
                        random.Next(2) == 0 ? -1 : random.Next(1 << 20));
                    break;
            }
            string path = _dir.PathOf($"m{round}.safetensors");
            File.WriteAllBytes(path, b);
            try
            {
                using SafetensorsFile file = SafetensorsFile.Open(path);
                foreach (SafetensorsEntry e in file.Entries)
                {
                    if (e.DType is Dfer.Tensors.DType.I64 or Dfer.Tensors.DType.I32 or Dfer.Tensors.DType.U8
                        or Dfer.Tensors.DType.Bool)
                        file.ReadInt64(e);
                    else file.ReadFloat32(e);
                }
            }
            catch (DferException ex)
            {
                Assert.That(ex.Message, Does.StartWith(path + ": ").And.Not.Contain('\n'));
                Assert.That(ex.Message, Has.Length.LessThan(path.Length + 400));
                refused++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"round {round}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
            }
        }
        Assert.That(refused, Is.GreaterThan(200));
    }

    [Test]
    public void LargeIntegersAreNamedForWhatTheyAre()
    {
        // A storage offset of 2^64, beyond 64 bits.
        byte[] offset = [0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        byte[] tensor = [.. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(', .. StorageId("0", 1), .. offset,
            (byte)'(', .. Int(1), (byte)'t', (byte)'(', .. Int(1), (byte)'t', 0x89, (byte)')', (byte)'t', (byte)'R'];
        string path = Zip("bigint.pth", StateDictPickle([("w", tensor)]), ("0", Floats(1)));
        Refused(path, "data.pkl has a storage offset of 18446744073709551616, which does not fit in 64 bits",
            () => TorchCheckpoint.ReadStateDict(path));

        // LONG1, which pickle uses from 2^31 on, gives a 64-bit integer when the value fits.
        Assert.That(Unpickle([0x80, 2, 0x8a, 5, 0, 0, 0, 0, 1, (byte)'.']), Is.EqualTo(1L << 32));
        Assert.That(Unpickle([0x80, 2, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, (byte)'.']),
            Is.TypeOf<System.Numerics.BigInteger>());

        // 2^40 fits in 64 bits: it is read as a number and checked against the storage.
        path = Zip("big.pth", StateDictPickle([("w", Rebuild("0", 1, 0, [1L << 40], [1]))]), ("0", Floats(1)));
        Refused(path, "tensor 'w' reaches element 1099511627775 of a storage of 1 elements",
            () => TorchCheckpoint.ReadStateDict(path));

        // A storage's element count beyond 64 bits.
        byte[] pid = [(byte)'(', .. Unicode("storage"), .. Global("torch", "FloatStorage"), .. Unicode("0"),
            .. Unicode("cpu"), .. offset, (byte)'t', (byte)'Q'];
        path = Zip("numel.pth", [0x80, 2, .. pid, (byte)'.']);
        Refused(path, "has storage '0' with element count 18446744073709551616 (beyond 64 bits)",
            () => TorchCheckpoint.ReadStateDict(path));

        byte[] floatSize = [.. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(', .. StorageId("0", 1), .. Int(0),
            (byte)'(', (byte)'G', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, (byte)'t', (byte)'(', .. Int(1), (byte)'t', 0x89,
                (byte)')', (byte)'t', (byte)'R'];
        path = Zip("float.pth", StateDictPickle([("w", floatSize)]), ("0", Floats(1)));
        Refused(path, "has a tensor size that is a float, not an integer", () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void MalformedUnicodeEscapeIsADferException()
    {
        byte[] p = [0x80, 2, (byte)'V', .. "\\UFFFFFFFF\n"u8.ToArray(), (byte)'.'];
        string path = Zip("u.pth", p);
        Refused(path, "has a UNICODE argument with an invalid code point", () => TorchCheckpoint.ReadStateDict(path));
    }

    [Test]
    public void CheckpointNamedSafetensorsSaysWhatItIs()
    {
        string zip = _dir.PathOf("w.safetensors");
        TorchSaveWriter.Write(zip, [("w", [1f], [1])]);
        Refused(zip, "this is a PyTorch checkpoint (a torch.save zip archive), not safetensors; name it .pth",
            () => SafetensorsFile.Open(zip).Dispose());
        Refused(zip, "this is a PyTorch checkpoint (a torch.save zip archive), not safetensors",
            () => StateDict.Load(zip));

        string legacy = _dir.PathOf("legacy.safetensors");
        File.Copy(Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "torch", "legacy.pth"), legacy);
        Refused(legacy, "this is a PyTorch checkpoint (a legacy torch.save pickle), not safetensors",
            () => SafetensorsFile.Open(legacy).Dispose());
    }

    [Test]
    public void SafetensorsNamedPthSaysWhatItIs()
    {
        string path = _dir.PathOf("w.pth");
        SafetensorsWriter.WriteFloat32(path, [("w", [1], [1f])]);
        Refused(path, "is a safetensors file, not a PyTorch checkpoint (torch.save); it needs no conversion",
            () => TorchCheckpoint.ReadStateDict(path));
        Assert.That(StateDict.Load(path)["w"].Data, Is.EqualTo(new[] { 1f }), "loading weights reads it by content");
    }

    [Test]
    public void SafetensorsHeaderAbuseIsOneShortLine()
    {
        string rank = _dir.PathOf("rank.safetensors");
        string dims = string.Join(",", Enumerable.Repeat("1", 100_000));
        File.WriteAllBytes(rank,
            RawSafetensors.Build($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{dims}],\"data_offsets\":[0,4]}}}}",
            new byte[4]));
        Refused(rank, "tensor 'w' has 100000 dimensions; Dfer reads at most 64",
            () => SafetensorsFile.Open(rank).Dispose());

        string longName = _dir.PathOf("name.safetensors");
        string name = "\u001b]0;" + new string('n', 20_000);
        File.WriteAllBytes(longName, RawSafetensors.Build(
            $"{{\"{name.Replace("\u001b", "\\u001b", StringComparison.Ordinal)}\":"
            + $"{{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}}}", new byte[1]));
        var ex = Refused(longName, "has dtype 'Q8', which Dfer does not support",
            () => SafetensorsFile.Open(longName).Dispose());
        Assert.That(ex.Message,
            Does.Contain("'\\x1b]0;nnn").And.Contain("… (19839 more characters)").And.Not.Contain('\u001b'));
        Assert.That(ex.Message, Has.Length.LessThan(longName.Length + 400));

        // A header length within a (sparse) file of 120 MB but over the 100 MB cap.
        string big = _dir.PathOf("big.safetensors");
        using (var f = new FileStream(big, FileMode.Create))
        {
            f.Write(BitConverter.GetBytes(110_000_000UL));
            f.WriteByte((byte)'{');
            f.SetLength(120_000_000);
        }
        Refused(big, "header length 110000000 exceeds the 100000000-byte limit",
            () => SafetensorsFile.Open(big).Dispose(), maxAllocated: 16L << 20);
    }

    // ---- helpers -----------------------------------------------------------------------------

    private string Zip(string name, byte[] pickle, params (string Key, byte[] Data)[] storages)
    {
        var zip = new RawZip().Add("archive/data.pkl", pickle);
        foreach (var (key, data) in storages) zip.Add("archive/data/" + key, data);
        string path = _dir.PathOf(name);
        File.WriteAllBytes(path, zip.Add("archive/version", "3\n"u8.ToArray()).Build());
        return path;
    }

    private static object Unpickle(byte[] pickle)
    {
        using var ms = new MemoryStream(pickle);
        return new Unpickler(new PickleInput(ms, "p.pkl", "the pickle"),
            (_, input) => throw input.Fail("no persistent ids here")).Load();
    }

    /// <summary>Runs <paramref name="action"/> under the guard timeout and returns its result.</summary>
    private static T Guarded<T>(Func<T> action)
    {
        var task = Task.Run(action);
        Assert.That(task.ContinueWith(_ => { }).Wait(Guard), Is.True, $"did not finish within {Guard}");
        return task.GetAwaiter().GetResult();
    }

    /// <summary>Bytes allocated (by every thread) while <paramref name="action"/> ran.</summary>
    private static long Allocated(Action action)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        Guarded(() => { action(); return 0; });
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    /// <summary>
    /// Asserts that <paramref name="action"/> ends, within the guard, in one DferException line naming
    /// <paramref name="path"/> and containing <paramref name="phrase"/>, having allocated less than
    /// <paramref name="maxAllocated"/> bytes.
    /// </summary>
    private static DferException Refused(string path, string phrase, Action action, long maxAllocated = long.MaxValue)
    {
        Exception? caught = null;
        long allocated = Allocated(() =>
        {
            try { action(); }
            catch (Exception ex) { caught = ex; }
        });
        Assert.That(caught, Is.TypeOf<DferException>(), caught?.ToString() ?? "no exception");
        string message = caught!.Message;
        Assert.That(message, Does.StartWith(path + ": "), "the message names the file");
        Assert.That(message, Does.Contain(phrase));
        Assert.That(message, Does.Not.Contain('\n').And.Not.Contain('\r'), "one line");
        Assert.That(allocated, Is.LessThan(maxAllocated), $"allocated {allocated} bytes");
        return (DferException)caught;
    }

    /// <summary>Deflates <paramref name="unit"/> repeated to <paramref name="size"/> bytes without holding
    /// them.</summary>
    private static (byte[] Deflated, uint Crc) DeflateRepeated(byte[] unit, long size)
    {
        var chunk = new byte[unit.Length * 32768];
        for (int i = 0; i < chunk.Length; i += unit.Length) unit.CopyTo(chunk, i);
        var ms = new MemoryStream();
        var crc = new System.IO.Hashing.Crc32();
        using (var d = new DeflateStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            for (long done = 0; done < size;)
            {
                int n = (int)Math.Min(chunk.Length, size - done);
                d.Write(chunk, 0, n);
                crc.Append(chunk.AsSpan(0, n));
                done += n;
            }
        }
        return (ms.ToArray(), crc.GetCurrentHashAsUInt32());
    }

    /// <summary>A deflated float32 storage of zeros but for <paramref name="value"/> at element
    /// <paramref name="at"/>.</summary>
    private static (byte[] Deflated, uint Crc) DeflateStorage(long numel, long at, float value)
    {
        var chunk = new byte[1 << 20];
        var ms = new MemoryStream();
        var crc = new System.IO.Hashing.Crc32();
        using (var d = new DeflateStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            for (long done = 0; done < numel * 4;)
            {
                int n = (int)Math.Min(chunk.Length, numel * 4 - done);
                Array.Clear(chunk);
                if (at * 4 >= done && at * 4 < done + n)
                    BinaryPrimitives.WriteSingleLittleEndian(chunk.AsSpan((int)(at * 4 - done)), value);
                d.Write(chunk, 0, n);
                crc.Append(chunk.AsSpan(0, n));
                done += n;
            }
        }
        return (ms.ToArray(), crc.GetCurrentHashAsUInt32());
    }
}
