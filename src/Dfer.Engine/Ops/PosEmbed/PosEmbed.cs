namespace Dfer.Ops.PosEmbed;

/// <summary>
/// Adds a learned positional table to a sequence: x <c>[B, L, D]</c> with D = <see cref="Dim"/> and
/// 1 ≤ L ≤ <see cref="Rows"/> gives <c>y[b, l, d] = x[b, l, d] + Table[l·Dim + d]</c>, the first L rows of the
/// <c>[Rows, Dim]</c> table broadcast over the batch (the Temporal Encoder's <c>pos_embed[0, l, :]</c> added to row
/// l of a chunk, docs/models/temporal-encoder.md, "Semantics", step 3).
/// </summary>
public sealed class PosEmbedOp : Op
{
    public PosEmbedOp(float[] table, int rows, int dim)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (rows < 1) throw new ArgumentException($"posembed: rows must be at least 1, got {rows}", nameof(rows));
        if (dim < 1) throw new ArgumentException($"posembed: dim must be at least 1, got {dim}", nameof(dim));
        if (table.LongLength != (long)rows * dim)
            throw new ArgumentException(
                $"posembed: the table has {table.LongLength} values, expected rows·dim = {rows}·{dim} = "
                + $"{(long)rows * dim}", nameof(table));
        Table = table;
        Rows = rows;
        Dim = dim;
    }

    /// <summary>The <c>[Rows, Dim]</c> table, row-major.</summary>
    public float[] Table { get; }

    /// <summary>Positions the table covers: the longest sequence the op accepts.</summary>
    public int Rows { get; }

    /// <summary>Values per position (the sequence's last axis).</summary>
    public int Dim { get; }

    public override OpKind Kind => PosEmbedKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0];
        if (x.Length != 3 || x[1] < 1 || x[1] > Rows || x[2] != Dim)
            throw ShapeError(Kind, $"expects [B, L<={Rows}, {Dim}]", x);
        return (int[])x.Clone();
    }

    /// <summary>One add per output value.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        Tensors.Tensor.ElementCountOf(OutputShape(inputs));

    /// <summary>x read and y written once, and only the table's first L rows read.</summary>
    public override long Bytes(IReadOnlyList<int[]> inputs)
    {
        int[] y = OutputShape(inputs);
        return sizeof(float) * (2 * Tensors.Tensor.ElementCountOf(y) + (long)y[1] * Dim);
    }

    public override long WeightElements => Table.LongLength;
}
