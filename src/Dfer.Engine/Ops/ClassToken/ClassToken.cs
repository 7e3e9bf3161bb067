namespace Dfer.Ops.ClassToken;

/// <summary>
/// Prepends a learned class token to every sequence: <c>[B, N, C] → [B, N+1, C]</c>, row 0 of each
/// batch item = <see cref="Token"/> (C values), rows 1.. = the input rows (IFDD's
/// <c>pos_encoding.class_token</c>, C = 96; there is no positional embedding to add).
/// </summary>
public sealed class ClassTokenOp : Op
{
    public ClassTokenOp(float[] token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Length < 1) throw new ArgumentException("class token must have at least one value", nameof(token));
        Token = token;
    }

    public float[] Token { get; }
    public int Channels => Token.Length;

    public override OpKind Kind => ClassTokenKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0];
        if (x.Length != 3 || x[1] < 1 || x[2] != Channels) throw ShapeError(Kind, $"expects [B, N>=1, {Channels}]", x);
        return new[] { x[0], x[1] + 1, x[2] };
    }

    public override long WeightElements => Token.LongLength;
}
