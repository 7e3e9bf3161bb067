// CI's check that the test run lost no coverage: every test that did not run (NUnit's Ignored /
// Inconclusive, "NotExecuted" in a .trx) must have been skipped for the lack of a GPU. Any other
// reason (a tool that failed to install, a fixture that was not fetched, a backend that declares an
// op unsupported) fails CI, listing the tests and their reasons.
//
// Usage: dotnet run .ci/check-skips.cs -- RESULTS_DIR ALLOWED
// ALLOWED (.ci/allowed-skips.txt) holds the allowed reasons, one regular expression per line ('#'
// comments), each matched against a skipped test's message; docs/testing.md explains them.
using System.Text.RegularExpressions;
using System.Xml.Linq;

if (args.Length != 2 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: dotnet run .ci/check-skips.cs -- RESULTS_DIR ALLOWED "
        + "(a folder of .trx files, the allowed reasons)");
    return 2;
}
string allowedFile = args[1];
if (!File.Exists(allowedFile))
{
    Console.Error.WriteLine($"check-skips: {allowedFile}: no such file");
    return 2;
}
var allowed = File.ReadAllLines(allowedFile)
    .Select(l => l.Trim())
    .Where(l => l.Length > 0 && !l.StartsWith('#'))
    .Select(l => new Regex(l, RegexOptions.CultureInvariant))
    .ToList();

string[] trx = Directory.GetFiles(args[0], "*.trx", SearchOption.AllDirectories);
if (trx.Length == 0)
{
    Console.Error.WriteLine($"check-skips: no .trx file under {args[0]}: did the test run write its results?");
    return 2;
}

XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
int total = 0, skipped = 0, gpu = 0;
var bad = new List<(string Test, string Reason)>();
foreach (string file in trx)
{
    foreach (var result in XDocument.Load(file).Descendants(ns + "UnitTestResult"))
    {
        total++;
        if ((string?)result.Attribute("outcome") != "NotExecuted") continue;
        skipped++;
        string name = (string?)result.Attribute("testName") ?? "?";
        string reason = (string?)result.Descendants(ns + "Message").FirstOrDefault() ?? "";
        reason = reason.Trim();
        if (reason.Length > 0 && allowed.Any(r => r.IsMatch(reason))) gpu++;
        else bad.Add((name, reason.Length == 0 ? "(no reason given)" : reason));
    }
}
Console.WriteLine($"check-skips: {total} results in {trx.Length} file(s); {skipped} skipped, "
    + $"{gpu} of them for want of a GPU");
if (bad.Count == 0) return 0;
Console.Error.WriteLine($"check-skips: {bad.Count} test(s) skipped for another reason (coverage lost):");
foreach (var group in bad.GroupBy(b => b.Reason).OrderByDescending(g => g.Count()))
    Console.Error.WriteLine($"  {group.Count(),4} × {group.Key}  (e.g. {group.First().Test})");
return 1;
