using System.Globalization;

namespace Dfer.Tests.Repository;

/// <summary>
/// C# lines stay within 120 characters (.editorconfig's <c>max_line_length</c>; dotnet format does not
/// wrap). Files written before the rule are held to the count of over-long lines they had
/// (<c>long-lines.txt</c> next to this file), so the number can only go down: a file over its count, or a
/// new file with any, fails; a file under its count fails too until the list is lowered, so a fix is kept.
/// </summary>
[TestFixture]
public sealed class LineLengthTests
{
    public const int MaxLength = 120;

    [Test]
    public void NoCSharpFileHasMoreOverLongLinesThanItsAllowance()
    {
        string root = NoOutsideReferencesTests.RepositoryRoot();
        var allowed = Allowances(Path.Combine(root, "tests", "Dfer.Tests", "Repository", "long-lines.txt"));
        var problems = new List<string>();
        var files = NoOutsideReferencesTests.RepositoryFiles(root)
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal));
        foreach (string file in files)
        {
            string path = Path.Combine(root, file);
            if (!File.Exists(path)) continue;
            int count = CountOverLong(File.ReadLines(path));
            int allowance = allowed.GetValueOrDefault(file);
            if (count > allowance)
                problems.Add($"{file}: {count} lines over {MaxLength} characters (allowed {allowance}); "
                    + "wrap the new ones");
            else if (count < allowance)
                problems.Add($"{file}: {count} lines over {MaxLength} characters, "
                    + $"fewer than its allowance {allowance}: lower it to '{file} {count}' in long-lines.txt");
        }
        foreach (string listed in allowed.Keys.Where(f => !File.Exists(Path.Combine(root, f))))
            problems.Add($"{listed}: listed in long-lines.txt but gone; remove its line");
        Assert.That(problems, Is.Empty, string.Join("\n", problems));
    }

    [Test]
    public void CountOverLong_CountsCharactersNotBytes()
    {
        string[] lines = [new string('x', MaxLength), new string('x', MaxLength + 1), new string('é', MaxLength), ""];
        Assert.That(CountOverLong(lines), Is.EqualTo(1));
    }

    internal static int CountOverLong(IEnumerable<string> lines) => lines.Count(l => l.Length > MaxLength);

    private static Dictionary<string, int> Allowances(string path)
    {
        var allowed = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int space = line.LastIndexOf(' ');
            allowed[line[..space]] = int.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        return allowed;
    }
}
