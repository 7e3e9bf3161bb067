using System.CommandLine;
using System.Text.Json;
using Dfer.Cli;
using Dfer.Cli.Datasets;
using Dfer.Tests.Repository;
using Dfer.Weights.TfJs;
using YamlDotNet.RepresentationModel;

namespace Dfer.Tests.Deploy;

/// <summary>
/// The deployment files (Dockerfile, .dockerignore, deploy/; docs/deploy.md) say what Dfer serves and runs: the
/// fields KServe and Kubernetes read are parsed with a YAML parser and checked, and every <c>dfer</c> command line in
/// them is parsed by the CLI's own parser, so an option renamed or a value out of range fails here, not in a cluster.
/// </summary>
[TestFixture]
public class DeployManifestTests
{
    private static string Root => NoOutsideReferencesTests.RepositoryRoot();

    private static string PathOf(string relative) => Path.Combine(Root, relative);

    // ---- KServe ----

    [Test]
    public void ClusterServingRuntime_ServesTheDferFormatOnBothProtocols()
    {
        YamlMappingNode runtime = Document("deploy/kserve/cluster-serving-runtime.yaml");

        Assert.That(Text(runtime, "apiVersion"), Is.EqualTo("serving.kserve.io/v1alpha1"));
        Assert.That(Text(runtime, "kind"), Is.EqualTo("ClusterServingRuntime"));
        YamlMappingNode format = Items(runtime, "spec", "supportedModelFormats").Cast<YamlMappingNode>().Single();
        Assert.That(Text(format, "name"), Is.EqualTo("dfer"));
        Assert.That(Text(format, "autoSelect"), Is.EqualTo("true"));
        Assert.That(Items(runtime, "spec", "protocolVersions").Select(v => ((YamlScalarNode)v).Value),
            Is.EqualTo(new[] { "v2", "grpc-v2" }));

        YamlMappingNode container = ServingContainer(runtime);
        Assert.That(Text(container, "name"), Is.EqualTo("kserve-container"), "the container KServe serves from");
        string[] args = Strings(container, "args");
        Assert.That(args[0], Is.EqualTo("serve"));
        Assert.That(ValueOf(args, "--host"), Is.EqualTo("0.0.0.0"), "reachable from outside the pod");
        Assert.That(ValueOf(args, "--http-port"), Is.EqualTo("8080"));
        Assert.That(ValueOf(args, "--grpc-port"), Is.EqualTo("8081"));
        Assert.That(ValueOf(args, "--model"), Does.StartWith("m3dfel=/mnt/models/"),
            "the model from storageUri, where KServe's storage initializer puts it");

        var ports = Items(container, "ports").Cast<YamlMappingNode>()
            .ToDictionary(p => Text(p, "containerPort"), p => (Name: Text(p, "name"), Protocol: Text(p, "protocol")));
        Assert.That(ports.Keys, Is.EquivalentTo(new[] { "8080", "8081" }));
        Assert.That(ports["8081"], Is.EqualTo((Name: "h2c", Protocol: "TCP")), "gRPC: plaintext HTTP/2");
        Assert.That(ports["8080"].Name, Is.EqualTo("http1"));

        Assert.That(Text(container, "readinessProbe", "httpGet", "path"), Is.EqualTo("/v2/health/ready"));
        Assert.That(Text(container, "readinessProbe", "httpGet", "port"), Is.EqualTo("8080"));
        Assert.That(Text(container, "livenessProbe", "httpGet", "path"), Is.EqualTo("/v2/health/live"));
        Assert.That(Text(container, "livenessProbe", "httpGet", "port"), Is.EqualTo("8080"));
        foreach (string bound in new[] { "requests", "limits" })
            foreach (string resource in new[] { "cpu", "memory" })
                Assert.That(Text(container, "resources", bound, resource), Is.Not.Empty, $"{bound}.{resource}");
        Assert.That(Text(container, "securityContext", "runAsUser"), Is.EqualTo(DockerfileUser()),
            "the image's user");
    }

    [TestCase("m3dfel-cpu.yaml", false)]
    [TestCase("m3dfel-gpu.yaml", true)]
    public void InferenceService_UsesTheRuntimeAndScalesWithKServesFields(string file, bool gpu)
    {
        YamlMappingNode service = Document("deploy/kserve/" + file);
        YamlMappingNode runtime = Document("deploy/kserve/cluster-serving-runtime.yaml");

        Assert.That(Text(service, "apiVersion"), Is.EqualTo("serving.kserve.io/v1beta1"));
        Assert.That(Text(service, "kind"), Is.EqualTo("InferenceService"));
        YamlMappingNode predictor = Mapping(service, "spec", "predictor");
        YamlMappingNode model = Mapping(predictor, "model");
        Assert.That(Text(model, "modelFormat", "name"),
            Is.EqualTo(Text(Items(runtime, "spec", "supportedModelFormats")[0], "name")));
        Assert.That(Text(model, "runtime"), Is.EqualTo(Text(runtime, "metadata", "name")));
        Assert.That(Text(model, "protocolVersion"),
            Is.AnyOf(Items(runtime, "spec", "protocolVersions").Select(v => ((YamlScalarNode)v).Value).ToArray()));
        string storage = Text(model, "storageUri");
        Assert.That(storage, Does.StartWith("s3://").Or.StartWith("pvc://"));
        Assert.That(storage, Does.Contain("example"), "clearly an example");

        // Two container ports: Knative allows one, so these run as plain Deployments, scaled by the HPA, which
        // watches cpu or memory (KServe's concurrency and rps are Knative's).
        Assert.That(Text(service, "metadata", "annotations", "serving.kserve.io/deploymentMode"),
            Is.EqualTo("RawDeployment"));
        int min = int.Parse(Text(predictor, "minReplicas")), max = int.Parse(Text(predictor, "maxReplicas"));
        Assert.That(min, Is.InRange(1, max));
        Assert.That(Text(predictor, "scaleMetric"), Is.AnyOf("cpu", "memory"));
        Assert.That(int.Parse(Text(predictor, "scaleTarget")), Is.InRange(1, 100));

        string[] args = model.Children.ContainsKey("args") ? Strings(model, "args") : [];
        Assert.That(ValueOf(args, "--backend"), Is.EqualTo(gpu ? "cuda" : null));
        bool hasGpu = Mapping(model, "resources", "limits").Children.ContainsKey("nvidia.com/gpu");
        Assert.That(hasGpu, Is.EqualTo(gpu));
        if (gpu) Assert.That(Text(model, "resources", "limits", "nvidia.com/gpu"), Is.EqualTo("1"));
    }

    // ---- Kubernetes: a dataset in shards ----

    [Test]
    public void IndexedJob_RunsShardIOfNPerCompletionIndex_AndMergeJobJoinsThemAll()
    {
        YamlMappingNode job = Document("deploy/k8s/indexed-job.yaml");

        Assert.That(Text(job, "apiVersion"), Is.EqualTo("batch/v1"));
        Assert.That(Text(job, "kind"), Is.EqualTo("Job"));
        Assert.That(Text(job, "spec", "completionMode"), Is.EqualTo("Indexed"));
        int completions = int.Parse(Text(job, "spec", "completions"));
        Assert.That(completions, Is.GreaterThan(1));
        Assert.That(int.Parse(Text(job, "spec", "parallelism")), Is.InRange(1, completions));
        YamlMappingNode pod = Mapping(job, "spec", "template", "spec");
        YamlMappingNode container = Items(pod, "containers").Cast<YamlMappingNode>().Single();
        string[] args = Strings(container, "args");
        Assert.That(args[0], Is.EqualTo("infer"));
        Assert.That(ValueOf(args, "--shard"), Is.EqualTo($"$(JOB_COMPLETION_INDEX)/{completions}"));
        Assert.That(ValueOf(args, "--output"), Does.Contain("$(JOB_COMPLETION_INDEX)"), "a file per shard");
        Assert.That(args, Does.Contain("--resume"), "a pod started again continues its shard");

        // Every mount names a volume of the pod; the results volume is writable.
        var volumes = Items(pod, "volumes").Select(v => Text(v, "name")).ToHashSet();
        var mounts = Items(container, "volumeMounts").Cast<YamlMappingNode>().ToList();
        Assert.That(mounts.Select(m => Text(m, "name")), Is.SubsetOf(volumes));
        string resultsDir = Path.GetDirectoryName(ValueOf(args, "--output"))!;
        YamlMappingNode results = mounts.Single(m => Text(m, "mountPath") == resultsDir);
        Assert.That(results.Children.ContainsKey("readOnly") ? Text(results, "readOnly") : "false",
            Is.EqualTo("false"));

        // Pod i's command line, as Kubernetes expands it, is one the CLI takes: shard i of completions.
        RootCommand root = DferCli.BuildRoot(new CliConsole(TextWriter.Null, TextWriter.Null, false));
        var outputs = new List<string>();
        for (int i = 0; i < completions; i++)
        {
            string[] expanded = args.Select(a => a.Replace("$(JOB_COMPLETION_INDEX)", $"{i}")).ToArray();
            Assert.That(expanded.Any(a => a.Contains("$(")), Is.False, "every $(VAR) is one Kubernetes sets");
            ParseResult parsed = root.Parse(expanded);
            Assert.That(parsed.Errors.Select(e => e.Message), Is.Empty, $"pod {i}: {string.Join(' ', expanded)}");
            Assert.That(DatasetShard.TryParse(ValueOf(expanded, "--shard")!, out DatasetShard? shard, out _), Is.True);
            Assert.That(shard, Is.EqualTo(new DatasetShard(i, completions)));
            outputs.Add(ValueOf(expanded, "--output")!);
        }
        Assert.That(outputs.Distinct().Count(), Is.EqualTo(completions), "each shard its own file");

        YamlMappingNode merge = Document("deploy/k8s/merge-job.yaml");
        Assert.That(Text(merge, "kind"), Is.EqualTo("Job"));
        YamlMappingNode mergePod = Mapping(merge, "spec", "template", "spec");
        string[] mergeArgs = Strings(Items(mergePod, "containers")[0], "args");
        Assert.That(root.Parse(mergeArgs).Errors.Select(e => e.Message), Is.Empty);
        Assert.That(mergeArgs[0], Is.EqualTo("merge"));
        Assert.That(mergeArgs.Skip(2), Is.EquivalentTo(outputs), "dfer merge OUTPUT and every shard's file");
        Assert.That(Path.GetDirectoryName(mergeArgs[1]), Is.EqualTo(resultsDir));
        Assert.That(Items(mergePod, "volumes").Select(v => Text(v, "persistentVolumeClaim", "claimName")),
            Is.EquivalentTo(Items(pod, "volumes").Where(v => Text(v, "name") == Text(results, "name"))
                .Select(v => Text(v, "persistentVolumeClaim", "claimName"))), "the shards' results volume");
    }

    /// <summary>The infer and merge command lines of deploy/k8s use only options those commands have (read from the
    /// CLI's parser, not from a list kept here).</summary>
    [Test]
    public void EveryOption_InTheJobs_IsAnOptionOfItsCommand()
    {
        RootCommand root = DferCli.BuildRoot(new CliConsole(TextWriter.Null, TextWriter.Null, false));
        var lines = new[] { "deploy/k8s/indexed-job.yaml", "deploy/k8s/merge-job.yaml" }
            .Select(f => (File: f, Args: Strings(Items(Mapping(Document(f), "spec", "template", "spec"),
                "containers")[0], "args")))
            .ToList();
        Assert.That(lines.Select(l => l.Args[0]), Is.EquivalentTo(new[] { "infer", "merge" }));
        foreach (var (file, args) in lines)
            Assert.That(UnknownOptions(root, args), Is.Empty, $"{file}: options 'dfer {args[0]}' does not have");
    }

    /// <summary>
    /// The serve command lines (the runtime's, each InferenceService's appended to it as KServe does, and the
    /// Dockerfile's CMD) use only options <c>dfer serve</c> has, and parse. Fails with "no serve command" until the CLI
    /// has one (issue 19).
    /// </summary>
    [Test]
    public void EveryOption_OfTheServeCommandLines_IsAServeOption()
    {
        RootCommand root = DferCli.BuildRoot(new CliConsole(TextWriter.Null, TextWriter.Null, false));
        if (root.Subcommands.All(c => c.Name != "serve"))
            Assert.Fail("no serve command: 'dfer serve' (issue 19) is not in the CLI yet");

        string[] runtime = Strings(ServingContainer(Document("deploy/kserve/cluster-serving-runtime.yaml")), "args");
        var lines = new List<(string Where, string[] Args)> { ("cluster-serving-runtime.yaml", runtime) };
        foreach (string file in new[] { "m3dfel-cpu.yaml", "m3dfel-gpu.yaml" })
        {
            YamlMappingNode model = Mapping(Document("deploy/kserve/" + file), "spec", "predictor", "model");
            lines.Add((file, [.. runtime, .. model.Children.ContainsKey("args") ? Strings(model, "args") : []]));
        }
        lines.Add(("Dockerfile CMD", JsonArray(Instructions("CMD").Single())));
        foreach (var (where, args) in lines)
        {
            Assert.That(args[0], Is.EqualTo("serve"), where);
            Assert.That(UnknownOptions(root, args), Is.Empty, $"{where}: options 'dfer serve' does not have");
            if (where != "Dockerfile CMD")
                Assert.That(root.Parse(args).Errors.Select(e => e.Message), Is.Empty,
                    $"{where}: {string.Join(' ', args)}");
        }
    }

    // ---- Docker ----

    [Test]
    public void Dockerfile_BuildsWithTheSdk_RunsOnAspNetAsANonRootUser()
    {
        var froms = Instructions("FROM").Select(f => f.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.That(froms.All(f => f.Length == 3 && f[1].Equals("AS", StringComparison.OrdinalIgnoreCase)), Is.True,
            "every stage is named");
        var stages = froms.ToDictionary(f => f[2], f => f[0]);
        Assert.That(froms[^1][0], Is.EqualTo("mcr.microsoft.com/dotnet/aspnet:10.0"), "the runtime image, last");
        Assert.That(stages["build"], Is.EqualTo("mcr.microsoft.com/dotnet/sdk:10.0"));
        Assert.That(Instructions("RUN"), Has.Some.Contains("dotnet publish src/Dfer.Cli -c Release -o /app"));
        Assert.That(Instructions("RUN"), Has.Some.Contains("--no-self-contained"), "framework-dependent");

        // KERNELS picks a stage, kernels-none by default; both exist.
        Assert.That(Instructions("ARG"), Does.Contain("KERNELS=none"));
        Assert.That(stages["kernels"], Is.EqualTo("kernels-${KERNELS}"));
        Assert.That(stages.Keys, Does.Contain("kernels-none").And.Contain("kernels-cuda"));
        // Every COPY --from names a stage.
        foreach (string copy in Instructions("COPY").Where(c => c.StartsWith("--from=")))
            Assert.That(stages.Keys, Does.Contain(copy["--from=".Length..copy.IndexOf(' ')]), copy);

        List<string> runtime = RuntimeStage();
        Assert.That(runtime, Has.Some.Matches(@"^RUN .*apt-get install .*\bffmpeg\b"), "FFmpeg for video input");
        string user = DockerfileUser();
        Assert.That(int.TryParse(user, out int uid) && uid > 0, Is.True, $"USER {user}: a numeric, non-root user");
        Assert.That(runtime.Where(l => l.StartsWith("EXPOSE ")).SelectMany(l => l.Split(' ').Skip(1)),
            Is.EquivalentTo(new[] { "8080", "8081" }));
        Assert.That(JsonArray(Instructions("ENTRYPOINT").Single()), Is.EqualTo(new[] { "dotnet", "/app/dfer.dll" }));
        string[] cmd = JsonArray(Instructions("CMD").Single());
        Assert.That(cmd[0], Is.EqualTo("serve"));
        Assert.That(ValueOf(cmd, "--host"), Is.EqualTo("0.0.0.0"), "reachable from outside the container");
        Assert.That(ValueOf(cmd, "--http-port"), Is.EqualTo("8080"));
        Assert.That(ValueOf(cmd, "--grpc-port"), Is.EqualTo("8081"));
    }

    /// <summary>The face-api weights: fetched by scripts/fetch-face-api.sh in a stage of their own into a folder,
    /// copied to the same folder of the runtime image, and that folder named by the variable the engine
    /// reads.</summary>
    [Test]
    public void Dockerfile_PutsTheFaceApiWeightsWhereTheEngineLooks()
    {
        string fetch = Instructions("RUN").Single(r => r.Contains("fetch-face-api.sh"));
        string folder = System.Text.RegularExpressions.Regex.Match(fetch, @"DFER_FACE_API=(\S+)").Groups[1].Value;
        Assert.That(folder, Does.StartWith("/"), fetch);
        Assert.That(Instructions("COPY"), Does.Contain($"--from=face-api {folder} {folder}"));
        string escaped = System.Text.RegularExpressions.Regex.Escape(folder);
        Assert.That(RuntimeStage(), Has.Some.Matches($@"^ENV .*\bDFER_FACE_API={escaped}(\s|$)"));

        // DFER_FACE_API is the variable the engine takes the folder from.
        string? old = Environment.GetEnvironmentVariable("DFER_FACE_API");
        try
        {
            Environment.SetEnvironmentVariable("DFER_FACE_API", folder);
            Assert.That(FaceApiPackage.Directory, Is.EqualTo(folder));
        }
        finally { Environment.SetEnvironmentVariable("DFER_FACE_API", old); }
    }

    [Test]
    public void Dockerignore_KeepsTheHostsBuildOutputsOutOfTheContext()
    {
        var patterns = File.ReadAllLines(PathOf(".dockerignore")).Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        // Docker matches from the context's root: "bin/" alone would keep src/Dfer.Cli/bin/ in.
        Assert.That(patterns, Is.SupersetOf(new[] { ".git", "**/bin/", "**/obj/", "build/", "artifacts/" }));
        // What the build needs stays: the sources, the embedded kernel sources and detection ground truth.
        foreach (string needed in new[] { "src", "native", "perf", "scripts", "cmake", "Directory.Build.props" })
            Assert.That(patterns.Any(p => p.TrimEnd('/') == needed || p == needed + "/"), Is.False, needed);
    }

    // ---- helpers ----

    /// <summary>The single YAML document of a repository file, as a mapping.</summary>
    private static YamlMappingNode Document(string relative)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(PathOf(relative))) stream.Load(reader);
        Assert.That(stream.Documents, Has.Count.EqualTo(1), relative);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static YamlNode Node(YamlNode node, params string[] path)
    {
        foreach (string key in path)
        {
            Assert.That(node, Is.InstanceOf<YamlMappingNode>(), $"'{key}' of a mapping");
            var children = ((YamlMappingNode)node).Children;
            Assert.That(children.ContainsKey(key), Is.True, $"has '{key}' (path {string.Join('.', path)})");
            node = children[key];
        }
        return node;
    }

    private static YamlMappingNode Mapping(YamlNode node, params string[] path) => (YamlMappingNode)Node(node, path);

    private static string Text(YamlNode node, params string[] path) => ((YamlScalarNode)Node(node, path)).Value ?? "";

    private static IList<YamlNode> Items(YamlNode node, params string[] path) =>
        ((YamlSequenceNode)Node(node, path)).Children;

    private static string[] Strings(YamlNode node, params string[] path) =>
        Items(node, path).Select(n => ((YamlScalarNode)n).Value ?? "").ToArray();

    private static YamlMappingNode ServingContainer(YamlMappingNode runtime) =>
        Items(runtime, "spec", "containers").Cast<YamlMappingNode>().Single();

    /// <summary>The value after <paramref name="option"/> (or of <c>option=value</c>); null when absent.</summary>
    private static string? ValueOf(string[] args, string option)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == option) return i + 1 < args.Length ? args[i + 1] : "";
            if (args[i].StartsWith(option + "=", StringComparison.Ordinal)) return args[i][(option.Length + 1)..];
        }
        return null;
    }

    /// <summary>The options of a command line (<c>--name</c>, <c>--name=value</c>) that its command does not have, by
    /// the names and aliases of the command's parser objects.</summary>
    private static List<string> UnknownOptions(RootCommand root, string[] args)
    {
        Command? command = root.Subcommands.FirstOrDefault(c => c.Name == args[0]);
        Assert.That(command, Is.Not.Null, $"dfer has no command '{args[0]}'");
        var known = command!.Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet(StringComparer.Ordinal);
        return args.Skip(1).Where(a => a.StartsWith("--", StringComparison.Ordinal))
            .Select(a => a.Split('=')[0]).Where(a => !known.Contains(a)).Distinct().ToList();
    }

    /// <summary>The Dockerfile's instructions of one kind, each as its arguments on one line (continuations joined),
    /// in order.</summary>
    private static List<string> Instructions(string name) =>
        DockerfileLines().Where(l => l.StartsWith(name + " ", StringComparison.OrdinalIgnoreCase))
            .Select(l => l[(name.Length + 1)..].Trim()).ToList();

    /// <summary>The instructions from the last FROM on.</summary>
    private static List<string> RuntimeStage()
    {
        var lines = DockerfileLines();
        return lines.Skip(lines.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal))).ToList();
    }

    private static string DockerfileUser() =>
        RuntimeStage().Where(l => l.StartsWith("USER ", StringComparison.Ordinal)).Select(l => l[5..].Trim()).Last();

    /// <summary>The Dockerfile's logical lines: comments and blank lines dropped, a line ending in a backslash joined
    /// with the next.</summary>
    private static List<string> DockerfileLines()
    {
        var lines = new List<string>();
        string pending = "";
        foreach (string raw in File.ReadAllLines(PathOf("Dockerfile")))
        {
            string line = raw.Trim();
            if (line.StartsWith('#') || line.Length == 0) continue;
            if (line.EndsWith('\\'))
            {
                pending += line[..^1].Trim() + " ";
                continue;
            }
            lines.Add(pending + line);
            pending = "";
        }
        Assert.That(pending, Is.Empty, "no continuation left open");
        return lines;
    }

    /// <summary>An exec-form instruction's JSON array of strings.</summary>
    private static string[] JsonArray(string json) => JsonSerializer.Deserialize<string[]>(json)!;
}
