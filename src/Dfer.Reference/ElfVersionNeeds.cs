using System.Buffers.Binary;
using System.Text;

namespace Dfer.Reference;

/// <summary>One auxiliary entry of an ELF <c>.gnu.version_r</c> section: a symbol version that the
/// object requires from one of its dependencies.</summary>
/// <param name="File">The dependency's soname (e.g. <c>libstdc++.so.6</c>).</param>
/// <param name="Version">The required version name (e.g. <c>GLIBCXX_3.4.32</c>).</param>
/// <param name="Flags">The entry's <c>vna_flags</c>.</param>
/// <param name="FlagsOffset">File offset of <c>vna_flags</c>.</param>
internal readonly record struct ElfVersionNeed(string File, string Version, ushort Flags, long FlagsOffset)
{
    /// <summary><c>VER_FLG_WEAK</c>: the dynamic linker only warns when such a version is missing.</summary>
    public const ushort WeakFlag = 0x2;

    /// <summary>Whether <see cref="WeakFlag"/> is set.</summary>
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>What <see cref="ElfVersionNeeds.MarkWeak"/> did.</summary>
internal enum MarkWeakResult
{
    /// <summary>The file does not require that version; nothing to do.</summary>
    NotReferenced,
    /// <summary>The requirement was already weak; the file was not written.</summary>
    AlreadyWeak,
    /// <summary>The weak flag was set and the file rewritten.</summary>
    Patched,
}

/// <summary>Reads and edits the version requirements (<c>SHT_GNU_verneed</c>) of little-endian
/// ELF64 shared objects.</summary>
internal static class ElfVersionNeeds
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const int SectionHeaderSize = 64;
    private const int VerneedSize = 16;
    private const int VernauxSize = 16;

    /// <summary>Lists every (dependency, version) requirement of an ELF64 little-endian image.</summary>
    /// <exception cref="InvalidDataException">The image is not such an ELF file or is malformed.</exception>
    public static IReadOnlyList<ElfVersionNeed> Read(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("Only little-endian ELF64 files are supported.");

        ulong shoff = U64(elf, 0x28);
        ushort shentsize = U16(elf, 0x3a);
        ulong shnum = U16(elf, 0x3c);
        if (shoff == 0)
            return [];
        if (shentsize < SectionHeaderSize)
            throw new InvalidDataException($"Unexpected section header size {shentsize}.");
        // More than 0xff00 sections store the real count in section 0's sh_size.
        if (shnum == 0)
            shnum = U64(elf, Checked(elf, shoff, SectionHeaderSize) + 32);

        var needs = new List<ElfVersionNeed>();
        for (ulong s = 0; s < shnum; s++)
        {
            int header = Checked(elf, shoff + s * shentsize, SectionHeaderSize);
            if (U32(elf, header + 4) != ShtGnuVerneed)
                continue;

            ulong offset = U64(elf, header + 24);
            ulong size = U64(elf, header + 32);
            uint link = U32(elf, header + 40);
            uint count = U32(elf, header + 44);
            Checked(elf, offset, size);
            if (link >= shnum)
                throw new InvalidDataException($"Version-needs section links to missing section {link}.");
            int strHeader = Checked(elf, shoff + link * (ulong)shentsize, SectionHeaderSize);
            ulong strOffset = U64(elf, strHeader + 24);
            ulong strSize = U64(elf, strHeader + 32);
            Checked(elf, strOffset, strSize);
            var strings = elf.Slice((int)strOffset, (int)strSize);

            ulong entry = offset;
            for (uint i = 0; i < count; i++)
            {
                int vn = Checked(elf, entry, VerneedSize);
                ushort auxCount = U16(elf, vn + 2);
                string file = CString(strings, U32(elf, vn + 4));
                ulong aux = entry + U32(elf, vn + 8);
                for (ushort j = 0; j < auxCount; j++)
                {
                    int va = Checked(elf, aux, VernauxSize);
                    needs.Add(new ElfVersionNeed(file, CString(strings, U32(elf, va + 8)), U16(elf, va + 4), va + 4));
                    aux += U32(elf, va + 12);
                }
                entry += U32(elf, vn + 12);
            }
        }
        return needs;
    }

    /// <summary>Makes the requirement of <paramref name="version"/> from <paramref name="file"/> weak
    /// in the shared object at <paramref name="path"/>, in place.</summary>
    /// <remarks>The new image is written to a temporary file in the same folder and renamed over the
    /// original, so a concurrent reader (or a process that has it mapped) never sees a torn file.
    /// The original's permissions and modification time are kept: MSBuild's incremental copy
    /// compares size and time, so the patched copy survives later builds instead of being
    /// replaced by the pristine package file on every build.</remarks>
    public static MarkWeakResult MarkWeak(string path, string file, string version)
    {
        byte[] image = File.ReadAllBytes(path);
        var matches = Read(image).Where(n => n.File == file && n.Version == version).ToList();
        if (matches.Count == 0)
            return MarkWeakResult.NotReferenced;
        if (matches.All(n => n.IsWeak))
            return MarkWeakResult.AlreadyWeak;

        foreach (var need in matches)
        {
            var flags = image.AsSpan((int)need.FlagsOffset, 2);
            BinaryPrimitives.WriteUInt16LittleEndian(flags, (ushort)(need.Flags | ElfVersionNeed.WeakFlag));
        }

        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(temp, image);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temp, File.GetUnixFileMode(path));
            File.SetLastWriteTimeUtc(temp, File.GetLastWriteTimeUtc(path));
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
        return MarkWeakResult.Patched;
    }

    private static int Checked(ReadOnlySpan<byte> elf, ulong offset, ulong length)
    {
        if (offset > (ulong)elf.Length || length > (ulong)elf.Length - offset)
            throw new InvalidDataException($"ELF structure at 0x{offset:x} (+{length}) lies outside the file.");
        return (int)offset;
    }

    private static string CString(ReadOnlySpan<byte> table, uint offset)
    {
        if (offset >= (uint)table.Length)
            throw new InvalidDataException($"String offset {offset} lies outside the string table.");
        var rest = table[(int)offset..];
        int end = rest.IndexOf((byte)0);
        if (end < 0)
            throw new InvalidDataException($"Unterminated string at offset {offset}.");
        return Encoding.ASCII.GetString(rest[..end]);
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);
    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
    private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
}
