namespace Dfer.Weights;

/// <summary>
/// The CRC-32 that zip records carry (polynomial 0x04C11DB7, bit-reflected, initial value and final
/// XOR 0xFFFFFFFF), computed a byte at a time from a 256-entry table.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The running value before any byte (pass it to <see cref="Update"/>, then <see cref="Finish"/>).</summary>
    internal const uint Start = 0xFFFFFFFFu;

    internal static uint Update(uint crc, ReadOnlySpan<byte> bytes)
    {
        uint[] table = Table;
        foreach (byte b in bytes) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    internal static uint Finish(uint crc) => crc ^ 0xFFFFFFFFu;

    internal static uint Of(ReadOnlySpan<byte> bytes) => Finish(Update(Start, bytes));

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
