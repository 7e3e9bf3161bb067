using System.Text;
using Dfer.Cli.Datasets;
using Dfer.Models;

namespace Dfer.Tests.Cli;

/// <summary>
/// <see cref="ResultsFile.Read(string, IReadOnlyList{string})"/> as a parser of untrusted bytes: whatever a file holds,
/// rows or one short <see cref="DferException"/> naming the file, never another exception, within bounded memory.
/// </summary>
[TestFixture]
public class ResultsFileReadTests
{
    private const string Meta = """{"dfer_results": 1, "model": "m3dfel"}""";
    private const string Row = """{"video": "1", "input": "v/1", "target": "sad", "label": "happy", "clips": 1,"""
        + """ "probabilities": [0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05], "logits": [1, 0, 0, 0, 0, -1, -1]}""";
    private const string ErrorRow = """{"video": "2", "input": "v/2", "error": "v/2: empty folder"}""";
    private const string CsvHeader = "video,input,target,label,clips,p_happy,p_sad,p_neutral,p_angry,p_surprise,"
        + "p_disgust,p_fear,logit_happy,logit_sad,logit_neutral,logit_angry,logit_surprise,logit_disgust,logit_fear,"
        + "error";
    private const string CsvRow = "1,v/1,sad,happy,1,0.5,0.1,0.1,0.1,0.1,0.05,0.05,1,0,0,0,0,-1,-1,";

    private static readonly IReadOnlyList<string> Classes = EmotionClasses.Seven;

    /// <summary>Characters that matter to JSON and CSV, for the random damage.</summary>
    private const string Specials = "\"{}[],:\n\\0e-9";

    private CliHarness _files = null!;

    [SetUp]
    public void SetUp() => _files = new CliHarness();

    [TearDown]
    public void TearDown() => _files.Dispose();

    private string Write(string name, string text)
    {
        string path = _files.PathOf(name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    private static string Fails(string path)
    {
        var ex = Assert.Throws<DferException>(() => ResultsFile.Read(path, Classes))!;
        Assert.That(ex.Message, Does.StartWith(path + ": "));
        Assert.That(ex.Message, Does.Not.Contain('\n'));
        Assert.That(ex.Message.Length, Is.LessThan(path.Length + 400), ex.Message);
        return ex.Message[(path.Length + 2)..];
    }

    [Test]
    public void AFileDferWrote_ReadsBack_WithItsMetadata()
    {
        string path = Write("r.jsonl", $"{Meta}\n{Row}\n{ErrorRow}\n");
        var (metadata, rows) = ResultsFile.ReadWithMetadata(path, Classes);
        Assert.That(metadata!["model"], Is.EqualTo("\"m3dfel\""));
        Assert.That(rows.Select(r => (r.Video, r.Ok)), Is.EqualTo(new[] { ("1", true), ("2", false) }));
        Assert.That(rows[0].Logits, Is.EqualTo(new[] { 1f, 0, 0, 0, 0, -1, -1 }));

        string csv = Write("r.csv",
            $"{CsvHeader}\r\n{CsvRow}\r\n2,v/2,,,,,,,,,,,,,,,,,,\"v/2: a, b \"\"quoted\"\"\nline\"\r\n");
        var csvRows = ResultsFile.Read(csv, Classes);
        Assert.That(csvRows.Select(r => (r.Video, r.Ok)), Is.EqualTo(new[] { ("1", true), ("2", false) }));
        Assert.That(csvRows[1].Error, Is.EqualTo("v/2: a, b \"quoted\"\nline"));
    }

    /// <summary>Only an unterminated last line is a row cut short by an interruption; a whole bad line is
    /// not.</summary>
    [Test]
    public void AnUnterminatedLastLine_IsDropped_AWholeBadLastLineIsRefused()
    {
        Assert.That(ResultsFile.Read(Write("cut.jsonl", $"{Meta}\n{Row}\n{Row[..40]}"), Classes), Has.Count.EqualTo(1));
        Assert.That(ResultsFile.Read(Write("cut.csv", $"{CsvHeader}\n{CsvRow}\n{CsvRow[..30]}"), Classes),
            Has.Count.EqualTo(1));
        Assert.That(Fails(Write("bad.jsonl", $"{Meta}\n{Row}\n{Row[..40]}\n")),
            Does.StartWith("line 3 is not a result row of dfer (").And.EndWith("); cannot resume from this file"));
    }

    /// <summary>A file that is not a dfer results file is never taken for one cut short (and so never replaced by
    /// --resume).</summary>
    [TestCase("{\"name\": \"x\"}",
        "not a dfer results file: line 1 is neither its '{\"dfer_results\": ...}' line nor a result row (no 'video'); "
        + "dfer neither resumes from it nor replaces it without --overwrite")]
    [TestCase("{\"name\": \"x\"}\n",
        "not a dfer results file: line 1 is neither its '{\"dfer_results\": ...}' line nor a result row (no 'video'); "
        + "dfer neither resumes from it nor replaces it without --overwrite")]
    [TestCase("[1, 2]\n",
        "not a dfer results file: line 1 is not a JSON object; dfer neither resumes from it nor replaces it without "
        + "--overwrite")]
    [TestCase("",
        "not a dfer results file: it is empty; dfer neither resumes from it nor replaces it without --overwrite")]
    [TestCase("{\"dfer_results\": \"yes\"}\n",
        "line 1: 'dfer_results' is not a format version (1, 2, ...): not a dfer results file; dfer neither resumes "
        + "from it nor replaces it without --overwrite")]
    [TestCase("{\"dfer_results\": 2}\n",
        "line 1: written by a newer dfer (results format 2; this one reads 1): resume it with that dfer, or pass "
        + "--overwrite to start over")]
    [TestCase("{\"dfer_results\": 1e400}\n",
        "line 1: 'dfer_results' is not a format version (1, 2, ...): not a dfer results file; dfer neither resumes "
        + "from it nor replaces it without --overwrite")]
    public void NotAResultsFile_IsOneLine(string content, string expected)
    {
        Assert.That(Fails(Write("x.jsonl", content)), Is.EqualTo(expected));
    }

    [TestCase("\"probabilities\": [\"a\", 0, 0, 0, 0, 0, 0]", "'probabilities' value 0 is not a finite number")]
    [TestCase("\"probabilities\": [1e39, 0, 0, 0, 0, 0, 0]", "'probabilities' value 0 is not a finite number")]
    [TestCase("\"probabilities\": [null, 0, 0, 0, 0, 0, 0]", "'probabilities' value 0 is not a finite number")]
    [TestCase("\"probabilities\": [0, 0]", "'probabilities' has 2 values, not 7")]
    [TestCase("\"probabilities\": {}", "'probabilities' is not an array")]
    [TestCase("\"clips\": 99999999999999999999", "'clips' is not a whole number")]
    [TestCase("\"clips\": 1.5", "'clips' is not a whole number")]
    [TestCase("\"clips\": 0", "a scored row must have 'clips' of at least 1")]
    [TestCase("\"label\": \"\\u001b[31mred\"", "label '\\x1b[31mred' is not a class of the model")]
    [TestCase("\"video\": 7", "'video' is not a string")]
    [TestCase("\"video\": \"\"", "empty 'video'")]
    [TestCase("\"target\": \"joy\"", "target 'joy' is not a class of the model")]
    public void ABadValue_InARow_IsOneLineNamingIt(string field, string problem)
    {
        // The field replaces the row's own (JSON keeps the last of two equal names).
        string row = Row[..^1] + ", " + field + "}";
        Assert.That(Fails(Write("r.jsonl", $"{Meta}\n{row}\n{Row}\n")),
            Is.EqualTo($"line 2 is not a result row of dfer ({problem}); cannot resume from this file"));
    }

    [TestCase("1,v/1,sad,happy,1,NaN,0,0,0,0,0,0,1,0,0,0,0,0,0,", "probability 0 is not a finite number")]
    [TestCase("1,v/1,sad,happy,1,1e39,0,0,0,0,0,0,1,0,0,0,0,0,0,", "probability 0 is not a finite number")]
    [TestCase("1,v/1,sad,happy,1,0,0,0,0,0,0,0,1,0,0,0,0,0,x,", "logit 6 is not a finite number")]
    [TestCase("1,v/1,sad,happy,99999999999,0,0,0,0,0,0,0,1,0,0,0,0,0,0,", "'clips' is not a whole number")]
    [TestCase("1,v/1,sad,happy,-1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,", "'clips' is not a whole number")]
    [TestCase("1,v/1", "2 fields, expected 20")]
    [TestCase("1,\"v/1\"x,sad,happy,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,", "a character after a quoted field (column 8)")]
    [TestCase("1,v\"1,sad,happy,1,0,0,0,0,0,0,0,1,0,0,0,0,0,0,", "a quote inside an unquoted field (column 3)")]
    public void ABadCsvRow_IsOneLineNamingIt(string line, string problem)
    {
        Assert.That(Fails(Write("r.csv", $"{CsvHeader}\n{line}\n{CsvRow}\n")),
            Is.EqualTo($"line 2 is not a result row of dfer ({problem}); cannot resume from this file"));
    }

    [Test]
    public void ACsvWithAnotherHeader_IsNotAResultsFile()
    {
        Assert.That(Fails(Write("r.csv", "video_name,label\n1,1\n")), Is.EqualTo(
            "not a dfer results file: its first line is not the header of a dfer results file for these classes "
            + "(video,input,target,label,clips,p_happy,...); dfer neither resumes from it nor replaces it without "
            + "--overwrite"));
    }

    [Test]
    public void AHugeLine_IsRefusedAtTheCap_WithoutReadingItAll()
    {
        string path = _files.PathOf("long.jsonl");
        using (var w = new StreamWriter(path))
        {
            w.WriteLine(Meta);
            w.Write("{\"video\": \"");
            w.Write(new string('x', 8 << 20));
            w.WriteLine("\"}");
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(Fails(path),
            Is.EqualTo($"line 2 is longer than {ResultsFile.MaxLineChars} characters: not a results file dfer wrote"));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(4 << 20),
            "read no further than the cap");

        // An unclosed CSV quote runs on over line breaks, up to the same cap.
        string csv = _files.PathOf("open.csv");
        File.WriteAllText(csv, CsvHeader + "\n1,\"" + string.Concat(Enumerable.Repeat("a,b\n", 40_000)));
        Assert.That(Fails(csv),
            Is.EqualTo($"line 2 is longer than {ResultsFile.MaxLineChars} characters: not a results file dfer wrote"));
    }

    /// <summary>A 2 GB file (sparse: no disk used) is refused by its size before anything is read.</summary>
    [Test]
    [CancelAfter(60_000)]
    public void AFileOverTheSizeCap_IsRefusedUnread()
    {
        string path = _files.PathOf("huge.jsonl");
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength(2L << 30);
        Assert.That(Fails(path),
            Is.EqualTo($"is {2L << 30} bytes; dfer reads results files of at most 256 MiB: not a results file it "
                + "wrote"));
    }

    [Test]
    public void DeepNesting_AndBinaryJunk_AreOneLine()
    {
        string deep = new string('[', 100_000 / 2) + new string(']', 100_000 / 2);
        Assert.That(Fails(Write("deep.jsonl", $"{Meta}\n{{\"video\": {deep[..30_000]}{deep[^30_000..]}}}\n")),
            Does.StartWith("line 2 is not a result row of dfer ("));
        string junk = _files.PathOf("junk.jsonl");
        var bytes = new byte[100_000];
        TestSeed.Random(3).NextBytes(bytes);
        File.WriteAllBytes(junk, bytes);
        Fails(junk);
    }

    /// <summary>
    /// Random damage to a valid file (bytes flipped, cut, repeated) gives rows or a DferException, never anything else:
    /// a few thousand cases of what the fuzz target does at length.
    /// </summary>
    [TestCase("jsonl")]
    [TestCase("csv")]
    public void RandomDamage_GivesRowsOrOneLine(string ext)
    {
        byte[] valid = Encoding.UTF8.GetBytes(
            ext == "csv" ? $"{CsvHeader}\n{CsvRow}\n{CsvRow}\n" : $"{Meta}\n{Row}\n{ErrorRow}\n");
        var random = TestSeed.Random(21);
        string path = _files.PathOf("damaged." + ext);
        for (int i = 0; i < 3000; i++)
        {
            var bytes = valid.ToList();
            for (int k = random.Next(1, 4); k > 0; k--)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(4))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 20))); break;
                    case 2: bytes.InsertRange(at, bytes.Skip(at).Take(random.Next(1, 30)).ToList()); break;
                    default: bytes.Insert(at, (byte)Specials[random.Next(Specials.Length)]); break;
                }
                if (bytes.Count == 0) break;
            }
            File.WriteAllBytes(path, bytes.ToArray());
            try
            {
                ResultsFile.Read(path, Classes);
            }
            catch (DferException ex)
            {
                Assert.That(ex.Message, Does.Not.Contain('\n').And.Not.Contain('\r'), $"case {i}");
                Assert.That(ex.Message.Length, Is.LessThan(path.Length + 400), $"case {i}: {ex.Message}");
            }
        }
    }
}
