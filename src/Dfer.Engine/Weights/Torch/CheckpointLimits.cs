namespace Dfer.Weights;

/// <summary>
/// Every limit the weight readers (torch.save checkpoints and safetensors) put on what a file may
/// ask for, in one place. Each is far beyond what a real checkpoint needs and well below what would
/// hurt: a file exceeding one is refused with a one-line <see cref="DferException"/> naming the
/// file and the limit, before the memory or time it asks for is spent. Budgets that scale with
/// the file ("per file byte") let large real checkpoints through while a tiny hostile file cannot
/// make Dfer allocate gigabytes.
/// </summary>
public static class CheckpointLimits
{
    /// <summary>
    /// The largest data.pkl (decompressed) a zip checkpoint may hold. Real ones are a few MB even
    /// for large models; a pickle embedding numpy arrays inline can be larger.
    /// </summary>
    public const long MaxPickleBytes = 256L << 20;

    /// <summary>
    /// The memory the unpickler may use for one file, whatever the file's size: the pickle's bytes
    /// plus an estimate of every object, container item, memo entry and stack slot it builds.
    /// </summary>
    public const long MaxPickleHeapBytes = 512L << 20;

    /// <summary>
    /// Unpickler memory allowed per byte of the file (on top of <see cref="PickleHeapAllowanceBytes"/>,
    /// capped by <see cref="MaxPickleHeapBytes"/>): a pickle opcode is at least one byte, and the
    /// objects built from it cost tens of bytes each, so a budget per file byte bounds what
    /// compression (a 10 KB file inflating to megabytes of one-byte opcodes) can amplify.
    /// </summary>
    public const long PickleHeapBytesPerFileByte = 64;

    /// <summary>Unpickler memory every file may use, however small.</summary>
    public const long PickleHeapAllowanceBytes = 64L << 20;

    /// <summary>
    /// Bytes the tensors may take once made contiguous, and bytes the zip records Dfer reads may
    /// inflate to, per byte of the file (on top of <see cref="ExpandedAllowanceBytes"/>): stride-0
    /// (expanded) tensors and deflated records are legitimately larger than their bytes in the
    /// file, but a state dict of weights is about the size of its file.
    /// </summary>
    public const long ExpandedBytesPerFileByte = 4;

    /// <summary>Expanded tensor bytes, and inflated record bytes, every file may use, however small.</summary>
    public const long ExpandedAllowanceBytes = 256L << 20;

    /// <summary>The most dimensions a tensor may have (PyTorch itself allows 64).</summary>
    public const int MaxRank = 64;

    /// <summary>The most records a zip checkpoint may list (PyTorch writes one per storage, plus a few).</summary>
    public const int MaxZipEntries = 1_000_000;

    /// <summary>The largest zip central directory read (about 100 bytes per record).</summary>
    public const long MaxCentralDirectoryBytes = 128L << 20;

    /// <summary>The largest "byteorder" record read (it holds "little" or "big").</summary>
    public const int MaxByteOrderBytes = 64;

    /// <summary>Python refuses decimal integer literals longer than this, too; parsing longer ones is
    /// quadratic.</summary>
    public const int MaxDecimalDigits = 4300;

    /// <summary>The longest text argument of a protocol-0 opcode holding a number or a name (INT, FLOAT, GLOBAL,
    /// ...).</summary>
    public const int MaxTextLineBytes = 4096;

    /// <summary>The longest protocol-0 STRING or UNICODE argument.</summary>
    public const int MaxStringLineBytes = 1 << 20;

    /// <summary>The largest safetensors JSON header (the reference implementation's limit).</summary>
    public const long MaxSafetensorsHeaderBytes = 100_000_000;

    /// <summary>The most characters of a name or value taken from a file that an error message quotes.</summary>
    public const int MaxQuotedChars = SafeText.MaxQuotedChars;
}
