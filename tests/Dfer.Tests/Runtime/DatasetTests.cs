using Dfer.Runtime;

namespace Dfer.Tests.Runtime;

[TestFixture]
public class DatasetTests
{
    private string _root = null!;

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "dfer-dataset-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private string Clip(string id)
    {
        string dir = Path.Combine(_root, "Clip", "clip_224x224", id);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Test]
    public void DfewCsv_PadsNames_MapsLabels_AndFlagsBadRowsOneByOne()
    {
        Clip("00001");
        Clip("00012");
        Clip("00100");
        string csv = Path.Combine(_root, "test.csv");
        File.WriteAllText(csv, "video_name,label\n1,1\n12,7\n100,9\n404,2\nabc\n\n");

        var items = Dataset.FromCsv(csv, _root, 7);

        Assert.That(items.Select(i => i.Name), Is.EqualTo(new[] { "1", "12", "100", "404", "abc" }));
        Assert.That(items[0].Path, Is.EqualTo(Path.Combine(_root, "Clip/clip_224x224", "00001")));
        Assert.That(items[0].Target, Is.EqualTo(0));
        Assert.That(items[0].Error, Is.Null);
        Assert.That(items[1].Target, Is.EqualTo(6));
        Assert.That(items[2].Error, Does.Contain("test.csv:4").And.Contain("label '9'"));
        Assert.That(items[3].Error, Does.Contain("test.csv:5").And.Contain("missing").And.Contain("00404"));
        Assert.That(items[4].Error, Does.Contain("test.csv:6").And.Contain("no label"));
    }

    [Test]
    public void CsvWithoutHeader_KeepsTheFirstRow()
    {
        Clip("00003");
        string csv = Path.Combine(_root, "split.csv");
        File.WriteAllText(csv, "3,4\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items, Has.Count.EqualTo(1));
        Assert.That(items[0].Target, Is.EqualTo(3));
    }

    [Test]
    public void Directory_ListsFrameFoldersAndVideos_InNumericOrder()
    {
        Directory.CreateDirectory(Path.Combine(_root, "10"));
        Directory.CreateDirectory(Path.Combine(_root, "9"));
        File.WriteAllText(Path.Combine(_root, "2.mp4"), "");
        File.WriteAllText(Path.Combine(_root, "11.mp4"), "");
        File.WriteAllText(Path.Combine(_root, "notes.txt"), "");
        var items = Dataset.FromDirectory(_root);
        Assert.That(items.Select(i => i.Name), Is.EqualTo(new[] { "2.mp4", "9", "10", "11.mp4" }));
        Assert.That(items.All(i => i.Target is null && i.Error is null));
    }

    [Test]
    public void EmptyDirectory_AndEmptyCsv_AreOneLineErrors()
    {
        var ex = Assert.Throws<DferException>(() => Dataset.FromDirectory(_root));
        Assert.That(ex!.Message, Does.StartWith(_root).And.Contain("no frame folders or video files"));
        string csv = Path.Combine(_root, "empty.csv");
        File.WriteAllText(csv, "video_name,label\n");
        ex = Assert.Throws<DferException>(() => Dataset.FromCsv(csv, _root, 7));
        Assert.That(ex!.Message, Does.StartWith(csv).And.Contain("lists no videos"));
    }

    private string WriteCsv(string text, string name = "split.csv")
    {
        string csv = Path.Combine(_root, name);
        File.WriteAllText(csv, text);
        return csv;
    }

    private string WriteCsv(byte[] bytes)
    {
        string csv = Path.Combine(_root, "split.csv");
        File.WriteAllBytes(csv, bytes);
        return csv;
    }

    private static void AssertOneLine(string message)
    {
        Assert.That(message,
            Does.Not.Contain('\n').And.Not.Contain('\r').And.Not.Contain('\u001b').And.Not.Contain('\0'));
        Assert.That(message.Length, Is.LessThan(700));
    }

    private DferException Rejected(string csv, string start, string phrase)
    {
        var ex = Assert.Throws<DferException>(() => Dataset.FromCsv(csv, _root, 7))!;
        Assert.That(ex.Message, Does.StartWith(start + ": "));
        Assert.That(ex.Message, Does.Contain(phrase));
        AssertOneLine(ex.Message);
        return ex;
    }

    [Test]
    public void CsvThatIsADirectorySaysSo()
    {
        string csv = Path.Combine(_root, "split.csv");
        Directory.CreateDirectory(csv);
        Rejected(csv, csv, "is a directory, not a file");
    }

    [Test]
    public void ByteOrderMarkAndCrLfAreAccepted()
    {
        Clip("00001");
        Clip("00002");
        string csv = WriteCsv([0xEF, 0xBB, 0xBF, .. "video_name,label\r\n1,1\r\n2,2\r\n"u8.ToArray()]);
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items.Select(i => (i.Name, i.Target, i.Error)),
            Is.EqualTo(new (string, int?, string?)[] { ("1", 0, null), ("2", 1, null) }));
    }

    [Test]
    public void QuotedFieldsAndSpacesAreRead()
    {
        Clip("00001");
        Clip("a,b");
        Clip("say \"hi\"");
        string csv = WriteCsv("\"video_name\",\"label\"\n \"1\" , \" 3 \"\n\"a,b\",4\n\"say \"\"hi\"\"\",+5\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items.Select(i => (i.Name, i.Target, i.Error)),
            Is.EqualTo(new (string, int?, string?)[] { ("1", 2, null), ("a,b", 3, null), ("say \"hi\"", 4, null) }));
    }

    [Test]
    public void MalformedQuotingIsABadRowWithItsLine()
    {
        Clip("00001");
        string csv = WriteCsv("video_name,label\n\"1,1\n1,1\n\"2\"x,3\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items[0].Error,
            Is.EqualTo($"{csv}:2: malformed CSV row '\"1,1' (a quote is not closed, or text follows a closing quote)"));
        Assert.That(items[1].Error, Is.Null);
        Assert.That(items[2].Error, Does.StartWith($"{csv}:4: malformed CSV row"));
    }

    [Test, CancelAfter(20_000)]
    public void AHugeLineIsABadRowNotAnAllocation()
    {
        Clip("00001");
        string csv = WriteCsv("video_name,label\n" + new string('7', 5_000_000) + ",1\n1,1\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items, Has.Count.EqualTo(2));
        Assert.That(items[0].Error,
            Is.EqualTo($"{csv}:2: line of 5000002 characters is longer than Dfer's limit of 4096 (expected "
                + "'video_name,label')"));
        Assert.That(items[1].Error, Is.Null);
        // At the limit a line is still read (and here fails only for its label).
        string exact = WriteCsv("video_name,label\n1," + new string('9', Dataset.MaxCsvLineChars - 2) + "\n",
            "exact.csv");
        Assert.That(Dataset.FromCsv(exact, _root, 7)[0].Error, Does.Contain("exact.csv:2: label '999"));
    }

    [Test]
    public void BinaryGarbageIsRefusedWithItsLine()
    {
        string csv = WriteCsv([.. "video_name,label\n1,1\n"u8.ToArray(), 0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0xFF]);
        Rejected(csv, csv + ":3", "binary data (a NUL byte): not a CSV text file");
    }

    [Test]
    public void InvalidUtf8IsRefusedWithItsLine()
    {
        string csv = WriteCsv([.. "video_name,label\n1,1\n2,"u8.ToArray(), 0xC3, 0x28, 0x0A]);
        Rejected(csv, csv + ":3", "not UTF-8 text: save the CSV as UTF-8");
    }

    [Test]
    public void Utf16IsRefused()
    {
        string csv = WriteCsv([0xFF, 0xFE, (byte)'1', 0, (byte)',', 0, (byte)'1', 0]);
        Rejected(csv, csv, "the CSV is UTF-16 text; save it as UTF-8");
    }

    [TestCase("1,0", "label '0' of video '1' is not a class id 1..7")]
    [TestCase("1,8", "label '8' of video '1' is not a class id 1..7")]
    [TestCase("1,-1", "label '-1' of video '1'")]
    [TestCase("1,1.0", "label '1.0'")]
    [TestCase("1,99999999999999999999", "label '99999999999999999999'")]
    [TestCase("1,\u0663", "label '\u0663'")]
    [TestCase("1,\u001b[31m", "label '\\x1b[31m'")]
    public void BadLabelsAreBadRows(string row, string phrase)
    {
        Clip("00001");
        string csv = WriteCsv("video_name,label\n" + row + "\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items[0].Error, Does.StartWith($"{csv}:2: ").And.Contain(phrase));
        AssertOneLine(items[0].Error!);
    }

    [TestCase("../../etc")]
    [TestCase("/etc")]
    [TestCase("a/b")]
    [TestCase("a\\b")]
    [TestCase("..")]
    [TestCase("x\u001b[2J")]
    public void NamesThatLeaveTheClipFolderAreBadRows(string name)
    {
        string csv = WriteCsv("video_name,label\n" + name + ",1\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items[0].Error, Does.StartWith($"{csv}:2: video name '").And.Contain("is not a plain folder name"));
        Assert.That(items[0].Path, Is.EqualTo(csv));
        AssertOneLine(items[0].Error!);
    }

    [Test]
    public void DuplicateVideosAreBadRows()
    {
        Clip("00001");
        string csv = WriteCsv("video_name,label\n1,1\n00001,2\n1,1\n");
        var items = Dataset.FromCsv(csv, _root, 7);
        Assert.That(items[0].Error, Is.Null);
        Assert.That(items[1].Error, Is.EqualTo($"{csv}:3: video '00001' is listed twice (first on line 2)"));
        Assert.That(items[2].Error, Is.EqualTo($"{csv}:4: video '1' is listed twice (first on line 2)"));
    }

    [Test, CancelAfter(30_000)]
    public void MoreRowsThanTheLimitAreRefused()
    {
        var sb = new System.Text.StringBuilder("video_name,label\n");
        for (int i = 0; i <= Dataset.MaxCsvRows; i++) sb.Append(i).Append(",0\n");
        string csv = WriteCsv(sb.ToString());
        Rejected(csv, $"{csv}:{Dataset.MaxCsvRows + 2}", "the CSV lists more than Dfer's limit of 500000 videos");
    }

    [Test, CancelAfter(20_000)]
    public void CsvOverTheSizeLimitIsRefusedUnread()
    {
        string csv = WriteCsv("1,1\n");
        using (var f = new FileStream(csv, FileMode.Open)) f.SetLength(Dataset.MaxCsvBytes + 1);
        Rejected(csv, csv, "CSV of 67108865 bytes is larger than Dfer's limit of 64 MiB for a split file");
    }

    /// <summary>Random bytes and corruptions: items or one DferException line, nothing else.</summary>
    [Test, CancelAfter(60_000)]
    public void RandomCorruptionsGiveOnlyItemsOrDferException()
    {
        Clip("00001");
        byte[] good = "video_name,label\n1,1\n\"2\",3\n"u8.ToArray();
        var rng = TestSeed.Random(3);
        const string alphabet = ",\"\n\r 0123456789-+a/.\\\t";
        string csv = Path.Combine(_root, "fuzz.csv");
        for (int round = 0; round < 3000; round++)
        {
            byte[] bytes = (byte[])good.Clone();
            int edits = rng.Next(1, 6);
            for (int e = 0; e < edits; e++)
                bytes[rng.Next(bytes.Length)] =
                    rng.Next(4) == 0 ? (byte)rng.Next(256) : (byte)alphabet[rng.Next(alphabet.Length)];
            File.WriteAllBytes(csv, bytes);
            try
            {
                foreach (DatasetItem item in Dataset.FromCsv(csv, _root, 7))
                {
                    if (item.Error is not null) AssertOneLine(item.Error);
                }
            }
            catch (DferException ex)
            {
                AssertOneLine(ex.Message);
            }
        }
    }
}
