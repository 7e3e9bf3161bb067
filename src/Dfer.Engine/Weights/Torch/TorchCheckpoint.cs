using System.Buffers.Binary;
using System.Numerics;
using Dfer.IO;
using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>A tensor as stored in a checkpoint, made contiguous: row-major, little-endian element bytes.</summary>
/// <param name="Name">The state-dict key, without DataParallel's "module." prefix.</param>
/// <param name="DType">Element type (int16 and int8 tensors are widened to <see cref="DType.I32"/>).</param>
/// <param name="Shape">Dimensions, outermost first; empty for a 0-d tensor.</param>
/// <param name="Data">The elements in row-major order, little-endian.</param>
public sealed record RawTensor(string Name, DType DType, long[] Shape, byte[] Data);

/// <summary>
/// Reads the state dict out of a PyTorch <c>torch.save</c> file — the zip format of PyTorch 1.6 and
/// later, and the legacy format before it — without Python and without executing anything.
/// </summary>
/// <remarks>
/// A checkpoint is a pickle, and unpickling with Python runs whatever functions the file names.
/// Here the pickle runs on a restricted machine (<see cref="Unpickler"/>) whose only "imports" are
/// a fixed table: tensors and dicts are rebuilt in C#, known metadata classes (argparse.Namespace,
/// numpy scalars, optimizer classes) become inert stand-in objects, and every other name is refused.
/// Tensor bytes are read only for the tensors of the selected state dict, after checking that
/// each view fits inside its storage, and only the part of each storage its views reach is kept.
/// What a file may make Dfer allocate is bounded by <see cref="CheckpointLimits"/>: zip records
/// are checked for overlap, duplicates and their CRC-32 (<see cref="TorchZip"/>), the unpickler
/// runs on a memory budget (<see cref="PickleBudget"/>), and the tensors once expanded on another.
/// </remarks>
public static class TorchCheckpoint
{
    /// <summary>The legacy format's first pickle: a magic number (torch/serialization.py).</summary>
    private static readonly BigInteger LegacyMagic =
        BigInteger.Parse("119547037146038801333356", System.Globalization.CultureInfo.InvariantCulture);

    private const long LegacyProtocolVersion = 1001;

    /// <summary>Entries tried, in order, when the file holds a wrapper dict rather than a bare state dict.</summary>
    private static readonly string[] WrapperKeys = ["state_dict", "model", "model_state_dict", "net"];

    /// <summary>
    /// Reads the state dict of a torch.save file: <paramref name="key"/> names the entry holding it
    /// (e.g. "state_dict", "model", or a nested "a.b"); when null the file is auto-detected: a bare
    /// state dict (a dict of tensors only), else the first of the entries "state_dict", "model",
    /// "model_state_dict", "net" that is one. The "module." prefix is stripped; the order is the file's.
    /// </summary>
    /// <exception cref="DferException">The file is missing, not a torch.save file, malformed, names a
    /// global outside the fixed table, or holds no state dict where expected.</exception>
    public static IReadOnlyList<RawTensor> ReadStateDict(string path, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        using FileStream stream = UserFile.OpenRead(path);
        try
        {
            Span<byte> head = stackalloc byte[9];
            int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            stream.Position = 0;
            if (n >= 4 && head[..4].SequenceEqual("PK\x03\x04"u8))
                return ReadZip(path, stream, key);
            if (n == 9 && head[8] == (byte)'{'
                && BinaryPrimitives.ReadUInt64LittleEndian(head) <= (ulong)(stream.Length - 8))
                throw UserFile.Fail(path,
                    "is a safetensors file, not a PyTorch checkpoint (torch.save); it needs no conversion: Dfer reads "
                    + "safetensors weights as they are");
            if (n >= 2 && head[0] == 0x80)
                return ReadLegacy(path, stream, key);
            throw UserFile.Fail(path,
                "is not a PyTorch checkpoint (neither a torch.save zip archive nor a legacy torch.save pickle)");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw UserFile.Fail(path, $"cannot read: {UserFile.OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>
    /// True when the file starts like a torch.save file: a zip archive (PK\x03\x04), or a pickle
    /// (0x80 and a protocol byte 2–5) that is not a safetensors header whose length happens to
    /// begin with those bytes (safetensors has '{' at byte 8; a torch.save pickle never does).
    /// </summary>
    public static bool LooksLikeTorchFile(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Span<byte> head = stackalloc byte[9];
            int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (n >= 4 && head[..4].SequenceEqual("PK\x03\x04"u8)) return true;
            return n >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5 && !(n == 9 && head[8] == (byte)'{');
        }
        catch (Exception ex) when (
            ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return false;
        }
    }

    // ---- the zip format (PyTorch >= 1.6) -----------------------------------------------------

    private static IReadOnlyList<RawTensor> ReadZip(string path, FileStream stream, string? key)
    {
        TorchZip zip = TorchZip.Open(path, stream);
        var pickles = zip.Entries.Where(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal)
                                             && e.Name.IndexOf('/') == e.Name.Length - "/data.pkl".Length).ToList();
        if (pickles.Count == 0)
            throw UserFile.Fail(path, "is a zip archive without a <folder>/data.pkl record; not a torch.save file");
        if (pickles.Count > 1)
            throw UserFile.Fail(path,
                $"is a zip archive with {pickles.Count} */data.pkl records; not a torch.save file");
        string prefix = pickles[0].Name[..^"data.pkl".Length];
        if (zip.Find(prefix + "constants.pkl") is not null
            || zip.Entries.Any(e => e.Name.StartsWith(prefix + "code/", StringComparison.Ordinal)))
            throw UserFile.Fail(path,
                "this is a TorchScript archive (torch.jit.save); save the state dict with "
                + "torch.save(model.state_dict(), path)");

        bool bigEndian = false;
        if (zip.Find(prefix + "byteorder") is { } order)
        {
            string text = System.Text.Encoding.ASCII.GetString(
                zip.ReadAll(order, CheckpointLimits.MaxByteOrderBytes, "the byte order")).Trim();
            bigEndian = text switch
            {
                "little" => false,
                "big" => true,
                _ => throw UserFile.Fail(path,
                    $"has byteorder record {SafeText.Quote(text, 40)}, expected \"little\" or \"big\""),
            };
        }

        // The pickle's bytes are the first thing its memory budget pays for.
        var budget = PickleBudget.ForFile(stream.Length);
        TorchZip.Entry pkl = pickles[0];
        if (pkl.Size > budget.Limit)
            throw UserFile.Fail(path,
                $"record {SafeText.Quote(pkl.Name)} is {pkl.Size} bytes, more than the {budget.Limit}-byte unpickling "
                + $"budget of a file of {stream.Length} bytes");
        byte[] pickle = zip.ReadAll(pkl, CheckpointLimits.MaxPickleBytes, "the pickle");
        var storages = new Storages(legacy: false);
        object root;
        using (var ms = new MemoryStream(pickle, writable: false))
        {
            var input = new PickleInput(ms, path, "data.pkl");
            budget.Charge(pickle.Length, input);
            root = new Unpickler(input, storages.Load, budget).Load();
        }

        var tensors = SelectStateDict(path, root, key);

        byte[] ReadStorage(StorageRef s, long first, long count)
        {
            string name = prefix + "data/" + s.Key;
            TorchZip.Entry entry = zip.Find(name)
                ?? throw UserFile.Fail(path, $"has no record {SafeText.Quote(name)} for a storage its tensors use");
            long needed = StorageBytes(path, s);
            if (entry.Size < needed)
                throw UserFile.Fail(path,
                    $"record {SafeText.Quote(name)} holds {entry.Size} bytes, but its storage "
                    + $"of {s.Numel} {s.TypeName} elements needs {needed}");
            var window = new byte[count * s.ElementSize];
            zip.Read(entry, first * s.ElementSize, window);
            if (bigEndian) SwapBytes(window, s.ElementSize);
            return window;
        }

        return Materialize(path, stream.Length, tensors, ReadStorage);
    }

    // ---- the legacy format (PyTorch < 1.6, or _use_new_zipfile_serialization=False) ------------

    private static IReadOnlyList<RawTensor> ReadLegacy(string path, FileStream stream, string? key)
    {
        // Layout: pickles of the magic number, the protocol version and sys_info, then the main
        // pickle (storages as persistent ids), a pickle of the storage keys, and for each key in
        // that order an 8-byte little-endian element count and the raw little-endian elements.
        var input = new PickleInput(stream, path, "the pickle header");
        var budget = PickleBudget.ForFile(stream.Length);
        object magic = new Unpickler(input, NoPersistentIds, budget).Load();
        if (magic is not BigInteger m || m != LegacyMagic)
            throw UserFile.Fail(path, "is a pickle but not a torch.save file (no PyTorch magic number)");
        input.What = "the protocol version";
        object version = new Unpickler(input, NoPersistentIds, budget).Load();
        if (version is not long v || v != LegacyProtocolVersion)
            throw UserFile.Fail(path,
                "is a legacy torch.save file of protocol version "
                + $"{(version is long lv ? lv.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?")}, "
                + $"expected {LegacyProtocolVersion}");
        input.What = "sys_info";
        if (new Unpickler(input, NoPersistentIds, budget).Load() is not PyDict)
            throw UserFile.Fail(path, "has a malformed legacy header (sys_info is not a dict)");

        var storages = new Storages(legacy: true);
        input.What = "the main pickle";
        object root = new Unpickler(input, storages.Load, budget).Load();
        input.What = "the storage key list";
        object keyList = new Unpickler(input, NoPersistentIds, budget).Load();
        if (keyList is not PyList keys || keys.Items.Any(k => k is not string))
            throw UserFile.Fail(path, "has a malformed storage key list (not a list of strings)");

        input.What = "the storage data";
        var positions = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string k in keys.Items.Cast<string>())
        {
            if (!storages.Roots.TryGetValue(k, out StorageRef? root0))
                throw UserFile.Fail(path,
                    $"lists storage {SafeText.Quote(k)}, which no tensor uses, so its element size is unknown");
            if (!positions.TryAdd(k, -1))
                throw UserFile.Fail(path, $"lists storage {SafeText.Quote(k)} twice");
            long numel = input.ReadInt64();
            if (numel != root0.Numel)
                throw UserFile.Fail(path,
                    $"storage {SafeText.Quote(k)} holds {numel} elements, but its tensors were saved "
                    + $"with {root0.Numel}");
            positions[k] = input.Position;
            input.Skip(StorageBytes(path, root0), $"storage {SafeText.Quote(k)}");
        }

        var tensors = SelectStateDict(path, root, key);

        byte[] ReadStorage(StorageRef s, long first, long count)
        {
            if (!positions.TryGetValue(s.Key, out long position))
                throw UserFile.Fail(path, $"has no data for storage {SafeText.Quote(s.Key)}");
            // first and count are in elements of the root storage (a legacy storage view is a window into it).
            input.Seek(position + first * s.ElementSize);
            // Always little-endian: PyTorch byte-swapped on write where it had to.
            return input.ReadBytes(count * s.ElementSize, $"storage {SafeText.Quote(s.Key)}");
        }

        return Materialize(path, stream.Length, tensors, ReadStorage);
    }

    private static object NoPersistentIds(object pid, PickleInput input) =>
        throw input.Fail($"has a persistent id ({Unpickler.Describe(pid)}) where none belongs");

    // ---- storages: persistent ids ------------------------------------------------------------

    /// <summary>The storages the persistent ids name, one per key, as the loader in torch caches them.</summary>
    private sealed class Storages(bool legacy)
    {
        internal Dictionary<string, StorageRef> Roots { get; } = new(StringComparer.Ordinal);

        /// <summary>
        /// Zip: ('storage', storage_type, key, location, numel).
        /// Legacy: ('storage', storage_type, root_key, location, numel, view_metadata), view_metadata
        /// being None or (view_key, offset, view_numel) for the storage views of old PyTorch.
        /// </summary>
        internal object Load(object pid, PickleInput input)
        {
            int arity = legacy ? 6 : 5;
            if (pid is not PyTuple t || t.Items.Length == 0 || t.Items[0] is not string kind)
                throw input.Fail(
                    $"has an unknown persistent id ({Unpickler.Describe(pid)}); expected a ('storage', ...) tuple");
            if (kind != "storage")
                throw input.Fail(
                    $"has an unknown persistent id of kind {SafeText.Quote(kind)}; Dfer reads only tensor storages");
            if (t.Items.Length != arity)
                throw input.Fail($"has a storage persistent id of {t.Items.Length} items, expected {arity}");
            if (t.Items[1] is not PyGlobal { Kind: GlobalKind.StorageType } type)
                throw input.Fail(
                    $"has a storage whose type is {Unpickler.Describe(t.Items[1])}, not a torch storage class");
            if (t.Items[2] is not string key || key.Length == 0)
                throw input.Fail($"has a storage whose key is {Unpickler.Describe(t.Items[2])}, not a string");
            if (t.Items[4] is not long numel || numel < 0)
                throw input.Fail(
                    $"has storage {SafeText.Quote(key)} with element count {Unpickler.DescribeValue(t.Items[4])}");

            var storage = new StorageRef(key, type.StorageDType!.Value, TorchGlobals.ElementSize(type), numel,
                type.Name);
            if (Roots.TryGetValue(key, out StorageRef? known))
            {
                if (known.TypeName != storage.TypeName || known.Numel != numel)
                    throw input.Fail(
                        $"uses storage {SafeText.Quote(key)} once as {known.Numel} {known.TypeName} elements and once "
                        + $"as {numel} {storage.TypeName}");
                storage = known;
            }
            else Roots.Add(key, storage);

            if (!legacy || t.Items[5] is PyNone) return storage;
            if (t.Items[5] is not PyTuple { Items: [string viewKey, long offset, long viewNumel] })
                throw input.Fail($"has storage {SafeText.Quote(key)} with malformed view metadata");
            if (offset < 0 || viewNumel < 0 || offset > numel || viewNumel > numel - offset)
                throw input.Fail(
                    $"has a view {SafeText.Quote(viewKey)} of elements [{offset}, {offset}+{viewNumel}) of "
                    + $"storage {SafeText.Quote(key)}, which holds {numel}");
            return new StorageRef(key, storage.DType, storage.ElementSize, viewNumel,
                storage.TypeName)
            { ViewOffset = offset };
        }
    }

    private static long StorageBytes(string path, StorageRef s)
    {
        try
        {
            long bytes = checked(s.Numel * s.ElementSize);
            if (bytes > Array.MaxLength)
                throw UserFile.Fail(path,
                    $"storage {SafeText.Quote(s.Key)} is {bytes} bytes; Dfer reads storages of at "
                    + $"most {Array.MaxLength} bytes");
            return bytes;
        }
        catch (OverflowException)
        {
            throw UserFile.Fail(path,
                $"storage {SafeText.Quote(s.Key)} declares {s.Numel} elements, too many to address");
        }
    }

    private static void SwapBytes(byte[] data, int elementSize)
    {
        if (elementSize == 1) return;
        for (int i = 0; i + elementSize <= data.Length; i += elementSize)
            data.AsSpan(i, elementSize).Reverse();
    }

    // ---- finding the state dict --------------------------------------------------------------

    private static List<(string Name, TensorRef Tensor)> SelectStateDict(string path, object root, string? key)
    {
        object selected;
        string where;
        if (key is not null)
        {
            selected = Lookup(path, root, key);
            where = $"entry {SafeText.Quote(key)}";
            if (selected is not PyDict d || d.Count == 0)
                throw UserFile.Fail(path,
                    $"{where} holds {(selected is PyDict ? "an empty dict" : Unpickler.Describe(selected))}, not a "
                    + "state dict");
            if (d.Items.FirstOrDefault(kv => kv.Key is not string
                || kv.Value is not TensorRef) is { Key: not null } bad)
                throw UserFile.Fail(path,
                    $"{where} is not a state "
                    + $"dict: {(bad.Key is string s ? SafeText.Quote(s) : Unpickler.Describe(bad.Key))} maps "
                    + $"to {Unpickler.Describe(bad.Value)}, not a tensor");
        }
        else if (IsStateDict(root))
        {
            selected = root;
        }
        else
        {
            if (root is not PyDict top)
                throw UserFile.Fail(path, $"holds {Unpickler.Describe(root)}, not a state dict or a dict holding one");
            object? found = null;
            foreach (string candidate in WrapperKeys)
            {
                if (top.TryGet(candidate, out object value) && IsStateDict(value))
                {
                    found = value;
                    break;
                }
            }
            if (found is null)
            {
                var names = top.Keys.Select(k => k is string s ? SafeText.Quote(s) : Unpickler.Describe(k)).ToList();
                string list = names.Count <= 12 ? string.Join(", ", names) : string.Join(", ", names.Take(12))
                    + $", and {names.Count - 12} more";
                throw UserFile.Fail(path,
                    $"holds no state dict where Dfer looks (a dict of tensors at the top or "
                    + $"under {string.Join(", ", WrapperKeys)}); its top-level keys "
                    + $"are {(names.Count == 0 ? "none" : list)}; name the entry holding the weights with --key");
            }
            selected = found;
        }

        var result = new List<(string, TensorRef)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, v) in ((PyDict)selected).Items)
        {
            string name = StateDict.StripPrefix((string)k);
            if (!seen.Add(name))
                throw UserFile.Fail(path,
                    $"tensor {SafeText.Quote(name)} appears twice (once with and once without the 'module.' prefix?)");
            result.Add((name, (TensorRef)v));
        }
        return result;
    }

    /// <summary>A dict with at least one entry, all of them name → tensor.</summary>
    private static bool IsStateDict(object o) =>
        o is PyDict d && d.Count > 0 && d.Items.All(kv => kv.Key is string && kv.Value is TensorRef);

    /// <summary>Finds <paramref name="key"/>: a top-level entry of that exact name, else a dotted path of
    /// entries.</summary>
    private static object Lookup(string path, object root, string key)
    {
        if (root is PyDict top && top.TryGet(key, out object direct)) return direct;
        object current = root;
        string walked = "";
        foreach (string part in key.Split('.'))
        {
            if (current is not PyDict d)
                throw UserFile.Fail(path,
                    $"has no entry {SafeText.Quote(key)}: {(walked.Length == 0 ? "the file" : SafeText.Quote(walked))} "
                    + $"holds {Unpickler.Describe(current)}, not a dict");
            if (!d.TryGet(part, out current))
            {
                var names = d.Keys.Select(k => k is string s ? SafeText.Quote(s) : Unpickler.Describe(k)).ToList();
                string list = names.Count <= 12 ? string.Join(", ", names) : string.Join(", ", names.Take(12))
                    + $", and {names.Count - 12} more";
                throw UserFile.Fail(path,
                    $"has no entry {SafeText.Quote(key)}; the "
                    + $"keys {(walked.Length == 0 ? "at the top" : "of " + SafeText.Quote(walked))} "
                    + $"are {(names.Count == 0 ? "none" : list)}");
            }
            walked = walked.Length == 0 ? part : walked + "." + part;
        }
        return current;
    }

    // ---- copying the tensors out -------------------------------------------------------------

    /// <summary>Reads <paramref name="count"/> elements of a storage from element <paramref name="first"/> on (of its
    /// root storage).</summary>
    private delegate byte[] StorageReader(StorageRef storage, long first, long count);

    private static List<RawTensor> Materialize(string path, long fileLength,
        List<(string Name, TensorRef Tensor)> tensors,
        StorageReader readStorage)
    {
        // Expanded (stride 0) tensors are legitimately larger than their storage, but a state dict
        // of weights is about the size of its file; the cap keeps a tiny file from asking for
        // gigabytes through broadcasting.
        long budget = fileLength
            > (long.MaxValue - CheckpointLimits.ExpandedAllowanceBytes) / CheckpointLimits.ExpandedBytesPerFileByte
            ? long.MaxValue
            : fileLength * CheckpointLimits.ExpandedBytesPerFileByte + CheckpointLimits.ExpandedAllowanceBytes;
        long total = 0;
        var numels = new long[tensors.Count];
        // Per storage (by key), the elements of the root storage its views reach: only those are kept.
        var windows = new Dictionary<string, (StorageRef Storage, long First, long Last)>(StringComparer.Ordinal);
        for (int k = 0; k < tensors.Count; k++)
        {
            var (name, t) = tensors[k];
            StorageRef s = t.Storage;
            string q = SafeText.Quote(name);
            int rank = t.Size.Length;
            if (rank > CheckpointLimits.MaxRank)
                throw UserFile.Fail(path,
                    $"tensor {q} has {rank} dimensions; Dfer reads at most {CheckpointLimits.MaxRank}");
            if (t.Stride.Length != rank)
                throw UserFile.Fail(path, $"tensor {q} has {rank} sizes but {t.Stride.Length} strides");
            if (t.Size.Any(d => d < 0))
                throw UserFile.Fail(path, $"tensor {q} has a negative size [{string.Join(", ", t.Size)}]");
            if (t.Stride.Any(d => d < 0))
                throw UserFile.Fail(path,
                    $"tensor {q} has a negative stride ({string.Join(", ", t.Stride)}), which PyTorch never saves");
            if (t.Offset < 0)
                throw UserFile.Fail(path, $"tensor {q} has a negative storage offset {t.Offset}");
            StorageBytes(path, s);

            long numel, extent, outBytes;
            int outSize = s.DType.Size();
            try
            {
                numel = 1;
                foreach (long d in t.Size) numel = checked(numel * d);
                extent = t.Offset; // the last element the view touches
                if (numel > 0)
                    for (int i = 0; i < rank; i++) extent = checked(extent + (t.Size[i] - 1) * t.Stride[i]);
                outBytes = checked(numel * outSize);
            }
            catch (OverflowException)
            {
                throw UserFile.Fail(path,
                    $"tensor {q} has sizes [{string.Join(", ", t.Size)}] and strides ({string.Join(", ", t.Stride)}) "
                    + "that overflow 64 bits");
            }
            if (numel > 0 && extent >= s.Numel)
                throw UserFile.Fail(path,
                    $"tensor {q} reaches element {extent} of a storage of {s.Numel} elements; the file is corrupt");
            if (numel == 0 && t.Offset > s.Numel)
                throw UserFile.Fail(path,
                    $"tensor {q} starts at element {t.Offset} of a storage of {s.Numel} elements; the file is corrupt");
            if (outBytes > Array.MaxLength)
                throw UserFile.Fail(path,
                    $"tensor {q} is {outBytes} bytes; Dfer reads tensors of at most {Array.MaxLength} bytes");
            total += outBytes;
            if (total > budget)
                throw UserFile.Fail(path,
                    $"tensors of the state dict take more than {budget} bytes once expanded, far more than the "
                    + $"file's {fileLength}; refusing (tensor {q})");
            numels[k] = numel;
            if (numel == 0) continue;
            long first = s.ViewOffset + t.Offset, last = s.ViewOffset + extent;
            windows[s.Key] = windows.TryGetValue(s.Key, out var w)
                ? (w.Storage, Math.Min(w.First, first), Math.Max(w.Last, last))
                : (s, first, last);
        }

        var read = new Dictionary<string, (long First, byte[] Bytes)>(StringComparer.Ordinal);
        foreach (var (key, w) in windows)
            read.Add(key, (w.First, readStorage(w.Storage, w.First, w.Last - w.First + 1)));

        var result = new List<RawTensor>(tensors.Count);
        for (int k = 0; k < tensors.Count; k++)
        {
            var (name, t) = tensors[k];
            var data = new byte[numels[k] * t.Storage.DType.Size()];
            if (numels[k] > 0)
            {
                var (first, bytes) = read[t.Storage.Key];
                Gather(bytes, t.Storage.ViewOffset + t.Offset - first, t.Storage, t, numels[k], data);
            }
            result.Add(new RawTensor(name, t.Storage.DType, (long[])t.Size.Clone(), data));
        }
        return result;
    }

    /// <summary>
    /// Copies the strided view, whose first element is element <paramref name="first"/> of
    /// <paramref name="storage"/>, into row-major order, widening int16/int8 to int32 on the way.
    /// </summary>
    private static void Gather(byte[] storage, long first, StorageRef s, TensorRef t, long numel, byte[] dst)
    {
        int es = s.ElementSize;
        int outSize = s.DType.Size();
        int rank = t.Size.Length;

        bool contiguous = true;
        long expected = 1;
        for (int d = rank - 1; d >= 0; d--)
        {
            if (t.Size[d] != 1 && t.Stride[d] != expected) contiguous = false;
            expected *= t.Size[d];
        }
        if (contiguous && es == outSize)
        {
            storage.AsSpan(checked((int)(first * es)), dst.Length).CopyTo(dst);
            return;
        }

        // An odometer over the indices, so any rank works without recursion.
        var index = new long[rank];
        long src = first;
        for (long n = 0; n < numel; n++)
        {
            ReadOnlySpan<byte> element = storage.AsSpan((int)(src * es), es);
            Span<byte> target = dst.AsSpan((int)(n * outSize), outSize);
            if (es == outSize) element.CopyTo(target);
            else
            {
                int value = es == 2 ? BinaryPrimitives.ReadInt16LittleEndian(element) : (sbyte)element[0];
                BinaryPrimitives.WriteInt32LittleEndian(target, value);
            }
            for (int d = rank - 1; d >= 0; d--)
            {
                src += t.Stride[d];
                if (++index[d] < t.Size[d]) break;
                src -= t.Stride[d] * t.Size[d];
                index[d] = 0;
            }
        }
    }
}
