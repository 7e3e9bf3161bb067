namespace Dfer.Models;

/// <summary>The models Dfer can run, by CLI name.</summary>
public static class ModelRegistry
{
    private static readonly (string Name, Func<ClassOrder, IModel> Create)[] All =
    [
        ("m3dfel", c => new M3dfel(classes: c)), ("ifdd", c => new Ifdd(c)), ("rdfer", c => new Rdfer(classes: c)),
    ];

    public static IReadOnlyList<string> Names => All.Select(m => m.Name).ToArray();

    /// <summary>The model called <paramref name="name"/> (any case), labelling its outputs in
    /// <paramref name="classes"/> order.</summary>
    public static IModel Get(string name, ClassOrder classes = ClassOrder.Dfew)
    {
        foreach (var (n, create) in All)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase)) return create(classes);
        throw new DferException($"unknown model '{name}'; available: {string.Join(", ", Names)}");
    }
}
