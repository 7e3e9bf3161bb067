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
}
