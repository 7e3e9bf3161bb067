namespace Dfer.Models;

/// <summary>The models Dfer can run, by CLI name.</summary>
public static class ModelRegistry
{
    private static readonly IModel[] All = { new M3dfel(), new Ifdd() };

    public static IReadOnlyList<string> Names => All.Select(m => m.Name).ToArray();

    public static IModel Get(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new DferException($"unknown model '{name}'; available: {string.Join(", ", Names)}");
}
