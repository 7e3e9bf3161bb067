using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dfer.Cli.Serve;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Dfer.Tests.Serve;

/// <summary>
/// The web page of `dfer serve` in a real headless Chromium (the system's chromium and chromium-driver, driven by
/// Selenium): the demo clip uploaded through the file input comes back happy, the timeline is drawn, the face box
/// follows the video, and another model's answer replaces it. A missing browser fails the fixture: a skip would hide
/// the lost coverage (.ci/run installs both).
/// </summary>
[TestFixture]
[NonParallelizable]
public class WebPageTests
{
    private const string Chromium = "/usr/bin/chromium", ChromeDriverPath = "/usr/bin/chromedriver";
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(120);

    private TestServer _server = null!;
    private ChromeDriver _driver = null!;

    [OneTimeSetUp]
    public async Task SetUp()
    {
        foreach (string path in new[] { Chromium, ChromeDriverPath })
            if (!File.Exists(path))
                Assert.Fail($"{path} is missing: the web page tests drive the system's headless Chromium (Debian: "
                    + "apt-get install chromium chromium-driver, as .ci/run does)");
        _ = DemoVideo.Path;
        _server = await TestServer.StartAsync(TestServer.Settings("expression", "m3dfel", "rdfer"));
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriverPath)!,
            Path.GetFileName(ChromeDriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        // Root in a container: no sandbox; a small /dev/shm: none of it.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,1700", "--mute-audio");
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
    }

    [OneTimeTearDown]
    public async Task TearDown()
    {
        _driver?.Quit();
        _driver?.Dispose();
        if (_server is not null) await _server.DisposeAsync();
    }

    private IJavaScriptExecutor Js => _driver;

    /// <summary>Pixels of <paramref name="canvas"/> within 12 of <paramref name="hex"/> in every channel, opaque.
    /// </summary>
    private long Pixels(string canvas, string hex) => (long)Js.ExecuteScript("""
        const [id, hex] = arguments;
        const c = document.getElementById(id);
        if (!c.width || !c.height) return 0;
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const rgb = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
          if (d[i + 3] > 200 && rgb.every((v, k) => Math.abs(d[i + k] - v) <= 12)) n++;
        return n;
        """, canvas, hex)!;

    private string Text(string id) => _driver.FindElement(By.Id(id)).Text;

    /// <summary>Waits for the page's answer (bounded): the result shown, or fails with the error it shows.</summary>
    private void WaitForResult(Func<bool> done)
    {
        var wait = new WebDriverWait(_driver, Answer);
        wait.Until(d => done() || d.FindElement(By.Id("error")).Displayed);
        var error = _driver.FindElement(By.Id("error"));
        Assert.That(error.Displayed, Is.False, () => "the page shows an error: " + error.Text);
    }

    private void Screenshot(string name)
    {
        string path = Path.Combine(TestContext.CurrentContext.WorkDirectory, name);
        _driver.GetScreenshot().SaveAsFile(path);
        TestContext.AddTestAttachment(path, "the web page after the upload");
    }

    [Test]
    public void UploadedClip_IsHappy_WithTheTimelineAndTheFaceBox_ThenTheDferModels()
    {
        _driver.Navigate().GoToUrl(_server.Server.HttpAddress);
        new WebDriverWait(_driver, TimeSpan.FromSeconds(30))
            .Until(d => d.FindElements(By.CssSelector("#model option")).Count == 3);
        Assert.That(_driver.FindElements(By.CssSelector("#model option")).Select(o => o.GetAttribute("value")),
            Is.EqualTo(new[] { "expression", "m3dfel", "rdfer" }), "the served models, expression first");

        _driver.FindElement(By.Id("file")).SendKeys(DemoVideo.Path);
        WaitForResult(() => _driver.FindElement(By.Id("result")).Displayed);
        Assert.That(Text("label"), Is.EqualTo("happy"));
        Assert.That(Text("probability"), Is.EqualTo("1.00"));
        // The timeline: happy's curve (its colour, ExpressionTimeline.Colours[0]) across the 75 frames, and the face
        // strip green under every one of them.
        Assert.That(Pixels("timeline", "#e6a100"), Is.GreaterThan(600), "happy's curve is drawn");
        Assert.That(Pixels("timeline", "#3c9d3c"), Is.GreaterThan(2000), "the face strip is drawn");

        // The face box of the frame on screen, in the label's colour, once the video shows frame 25.
        Js.ExecuteScript("const v = document.getElementById('video'); v.pause(); v.currentTime = 1.02;");
        new WebDriverWait(_driver, TimeSpan.FromSeconds(30)).Until(_ => Pixels("overlay", "#e6a100") > 200);
        Screenshot("web-page-expression.png");

        // Another model: its answer (a DFER model's, per clip) replaces the first.
        _driver.FindElement(By.CssSelector("#model option[value=m3dfel]")).Click();
        WaitForResult(() => Text("summary").StartsWith("m3dfel", StringComparison.Ordinal));
        var json = JsonNode.Parse((string)Js.ExecuteScript("return document.getElementById('json').textContent")!)!;
        Assert.That(json["model"]!.GetValue<string>(), Is.EqualTo("m3dfel"));
        string label = json["results"]![0]!["label"]!.GetValue<string>();
        Assert.That(Text("label"), Is.EqualTo(label));
        string colour = new[] { "#e6a100", "#1f5fbf", "#7f7f7f", "#d62728", "#9467bd", "#2ca02c", "#17becf" }[
            json["classes"]!.AsArray().Select(c => c!.GetValue<string>()).ToList().IndexOf(label)];
        Assert.That(Pixels("timeline", colour), Is.GreaterThan(300), $"{label}'s per-clip line is drawn");
        Assert.That(_driver.FindElement(By.Id("keyframes")).Displayed, Is.False, "M3DFEL picks no key frames");
        Screenshot("web-page-m3dfel.png");

        // RDFER: its key frames, by source frame number (-1: a black frame), each with a thumbnail of the video.
        _driver.FindElement(By.CssSelector("#model option[value=rdfer]")).Click();
        WaitForResult(() => Text("summary").StartsWith("rdfer", StringComparison.Ordinal));
        json = JsonNode.Parse((string)Js.ExecuteScript("return document.getElementById('json').textContent")!)!;
        int[] keys = json["results"]![0]!["key_frames_source"]!.AsArray().Select(k => k!.GetValue<int>()).ToArray();
        Assert.That(keys, Has.Length.EqualTo(16));
        Assert.That(Text("keyframe-list"),
            Is.EqualTo("source frames " + string.Join(", ", keys.Select(k => k < 0 ? "black" : k.ToString()))));
        new WebDriverWait(_driver, TimeSpan.FromSeconds(60))
            .Until(d => d.FindElements(By.CssSelector("#thumbs canvas")).Count == keys.Length);
        // A thumbnail of a real frame shows the video (not black); a black frame's stays black.
        long Lit(int i) => (long)Js.ExecuteScript("""
            const c = document.querySelectorAll("#thumbs canvas")[arguments[0]];
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 90) n++;
            return n;
            """, i)!;
        int real = Array.FindIndex(keys, k => k >= 0), black = Array.IndexOf(keys, -1);
        Assert.That(Lit(real), Is.GreaterThan(1000), $"thumbnail of source frame {keys[real]}");
        if (black >= 0) Assert.That(Lit(black), Is.Zero, "a black frame's thumbnail");
        Screenshot("web-page-rdfer.png");
    }

    [Test]
    public void ServerError_IsShownAsText()
    {
        _driver.Navigate().GoToUrl(_server.Server.HttpAddress);
        new WebDriverWait(_driver, TimeSpan.FromSeconds(30))
            .Until(d => d.FindElements(By.CssSelector("#model option")).Count == 3);
        string noise = Path.Combine(TestContext.CurrentContext.WorkDirectory, "noise.mp4");
        var bytes = new byte[20_000];
        TestSeed.Random(3).NextBytes(bytes);
        File.WriteAllBytes(noise, bytes);
        _driver.FindElement(By.Id("file")).SendKeys(noise);
        var error = _driver.FindElement(By.Id("error"));
        new WebDriverWait(_driver, Answer).Until(_ => error.Displayed);
        Assert.That(error.Text, Does.StartWith("400: the uploaded video: cannot decode video"));
        Assert.That(_driver.FindElement(By.Id("result")).Displayed, Is.False);
    }
}

/// <summary>The page's files as the assembly embeds them: no URL outside the server, and the models it asks the
/// server about are those a server can hold.</summary>
public class WebPageFilesTests
{
    [Test]
    public void Files_AreEmbedded_AndReachNothingOutside()
    {
        foreach (string file in WebPage.Files.Keys)
        {
            string text = Encoding.UTF8.GetString(WebPage.Read(file));
            Assert.That(text, Has.Length.GreaterThan(500), file);
            Assert.That(Regex.IsMatch(text, @"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", RegexOptions.IgnoreCase), Is.False,
                $"{file} names an outside URL");
        }
        Assert.That(WebPage.ContentSecurityPolicy, Does.StartWith("default-src 'none'"));
    }

    [Test]
    public void ModelList_IsTheServersModels()
    {
        string js = Encoding.UTF8.GetString(WebPage.Read("app.js"));
        var line = Regex.Match(js, @"const MODELS = \[(.*?)\];");
        Assert.That(line.Success, Is.True, "app.js declares MODELS");
        var models = Regex.Matches(line.Groups[1].Value, "\"([a-z0-9]+)\"").Select(m => m.Groups[1].Value);
        Assert.That(models, Is.EquivalentTo(ServedModel.Names));
    }
}
