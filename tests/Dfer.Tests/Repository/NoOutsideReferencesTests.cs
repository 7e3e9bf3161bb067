using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Dfer.Tests.Repository;

/// <summary>
/// The repository is self-contained: no file cites a document or path outside it (a sibling checkout's
/// <c>../shared</c>, a machine's <c>/work/</c> or <c>/root/</c>, a <c>notes/</c> file the repository does not
/// hold), and every <c>docs/....md</c> a file cites exists. A fresh clone has everything the code points to.
/// </summary>
[TestFixture]
public sealed partial class NoOutsideReferencesTests
{
    /// <summary>Every outside reference in the repository's text files, as <c>file:line: text</c>.</summary>
    [Test]
    public void NoFileReferencesAnythingOutsideTheRepository()
    {
        string root = RepositoryRoot();
        var found = OutsideReferences(root, RepositoryFiles(root));
        Assert.That(found, Is.Empty, "references outside the repository:\n" + string.Join("\n", found));
    }

    /// <summary>Every <c>docs/NAME.md</c> (or <c>docs/DIR/NAME.md</c>) cited anywhere names a file that
    /// exists.</summary>
    [Test]
    public void EveryCitedDocExists()
    {
        string root = RepositoryRoot();
        var missing = MissingDocs(root, RepositoryFiles(root));
        Assert.That(missing, Is.Empty, "cited documents that do not exist:\n" + string.Join("\n", missing));
    }

    /// <summary>The checks find a planted bad reference, so an empty result above means something.</summary>
    [Test]
    public void PlantedReferencesAreFound()
    {
        string dir = Path.Combine(Path.GetTempPath(), "dfer-refs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "docs"));
        try
        {
            File.WriteAllText(Path.Combine(dir, "docs", "real.md"), "# real\n");
            File.WriteAllText(Path.Combine(dir, "good.cs"),
                "// see docs/real.md; a/root/b is not a root path; ~/.cache/dfer and notes.txt are fine\n");
            File.WriteAllText(Path.Combine(dir, "bad.cs"), string.Join("\n",
                "// line 1 is fine",
                "// semantics: ../shared/models/m3dfel.md",
                "/// from /work/shared/tools/pack.sh",
                "# /root/.cache/dfer/x.mp4: happy",
                "// contract: notes/kernel-interface.md",
                "// see docs/missing.md and docs/models/gone.md, also docs/real.md",
                ""));
            string[] files = ["good.cs", "bad.cs", "docs/real.md"];

            Assert.That(OutsideReferences(dir, files), Is.EqualTo(new[]
            {
                "bad.cs:2: ../shared",
                "bad.cs:3: /work/",
                "bad.cs:4: /root/",
                "bad.cs:5: notes/kernel-interface.md",
            }));
            Assert.That(MissingDocs(dir, files),
                Is.EqualTo(new[] { "bad.cs:6: docs/missing.md", "bad.cs:6: docs/models/gone.md" }));

            // A notes/ document that the repository does hold may be cited.
            Directory.CreateDirectory(Path.Combine(dir, "notes"));
            File.WriteAllText(Path.Combine(dir, "notes", "kernel-interface.md"), "# here\n");
            Assert.That(OutsideReferences(dir, files), Has.None.Contains("notes/"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // A path that leaves the repository: ../shared, /work/ or /root/ at the start of a path (not inside
    // a longer one such as a/root/b), or notes/NAME.md (checked against the repository below).
    [GeneratedRegex(@"\.\./shared|/work/|(?<![\w.~/-])/root/|(?<![\w.-])(?<notes>notes/[\w./-]*[\w-]\.md)")]
    private static partial Regex Outside();

    [GeneratedRegex(@"(?<![\w./-])(?<doc>docs/(?:[\w-]+/)*[\w.-]+\.md)")]
    private static partial Regex DocPath();

    internal static List<string> OutsideReferences(string root, IEnumerable<string> files)
    {
        var found = new List<string>();
        foreach (var (file, line, text) in Lines(root, files))
            foreach (Match m in Outside().Matches(text))
            {
                Group notes = m.Groups["notes"];
                if (notes.Success && File.Exists(Path.Combine(root, notes.Value))) continue;
                found.Add($"{file}:{line}: {m.Value}");
            }
        return found;
    }

    internal static List<string> MissingDocs(string root, IEnumerable<string> files)
    {
        var missing = new List<string>();
        foreach (var (file, line, text) in Lines(root, files))
            foreach (Match m in DocPath().Matches(text))
                if (!File.Exists(Path.Combine(root, m.Groups["doc"].Value)))
                    missing.Add($"{file}:{line}: {m.Groups["doc"].Value}");
        return missing;
    }

    /// <summary>(file, 1-based line, text) of every line of every text file; binary files (a NUL byte) are
    /// skipped.</summary>
    private static IEnumerable<(string File, int Line, string Text)> Lines(string root, IEnumerable<string> files)
    {
        // This file plants bad references on purpose.
        const string self = "tests/Dfer.Tests/Repository/NoOutsideReferencesTests.cs";
        foreach (string file in files)
        {
            if (file == self) continue;
            string path = Path.Combine(root, file);
            if (!File.Exists(path)) continue;   // deleted in the work tree but still in the index
            byte[] bytes = File.ReadAllBytes(path);
            if (Array.IndexOf(bytes, (byte)0) >= 0) continue;
            string[] lines = Encoding.UTF8.GetString(bytes).Split('\n');
            for (int i = 0; i < lines.Length; i++) yield return (file, i + 1, lines[i]);
        }
    }

    /// <summary>
    /// The repository's files, relative with '/' separators: what git tracks plus new files it does not
    /// ignore; without git, every file below the root except .git, bin, obj and build folders.
    /// </summary>
    internal static IReadOnlyList<string> RepositoryFiles(string root)
    {
        try
        {
            var psi = new ProcessStartInfo("git", "ls-files -z --cached --others --exclude-standard")
            {
                WorkingDirectory = root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var git = Process.Start(psi)!;
            string output = git.StandardOutput.ReadToEnd();
            git.StandardError.ReadToEnd();
            git.WaitForExit();
            if (git.ExitCode == 0)
                return output.Split('\0', StringSplitOptions.RemoveEmptyEntries).Distinct().ToArray();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No git on this machine: walk the folder instead.
        }
        string[] skipped = [".git", "bin", "obj", "build"];
        return Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => !f.Split('/').SkipLast(1).Any(part => skipped.Contains(part)) && Path.GetFileName(f) != ".git")
            .ToArray();
    }

    internal static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Dfer.sln"))) return d.FullName;
        throw new InvalidOperationException("Dfer.sln not found above the test directory");
    }
}
