namespace Dfer.Ops.Lstm;

/// <summary>
/// A fixture of <see cref="Dfer.Tests.Architecture.OpFolderGraphTests"/>: a type in the lstm
/// folder's namespace (of the test assembly, not the engine) whose method body, and only its body,
/// uses the linear op, so the compiled check must find the edge through the IL.
/// </summary>
internal static class PlantedEdge
{
    internal static int Width(object op) => ((Dfer.Ops.Linear.LinearOp)op).Out;
}
