using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace Dfer.Cli.Serve;

/// <summary>
/// Kestrel's buffer pool for this server (docs/serving.md, "What bounds memory"): 4 KiB pinned blocks, like the
/// framework's own pool, carved from one slab of <c>slabBytes</c> that is all it ever keeps. When the slab's blocks
/// are all out, a block is a pinned array of its own, left to the GC once given back.
/// <para>Why not the framework's pool: it keeps every block it ever handed out and gives idle ones up slowly (1 to 5 %
/// every 10 s), and gRPC buffers a request message whole in its blocks: a flood of admitted 2.3 MiB messages left it
/// holding some 300 MiB for many minutes. Keeping a bounded number of loose blocks instead is not enough either:
/// pinned blocks cannot be compacted, and the kept ones, scattered over the regions a burst filled, keep those regions
/// committed. The blocks past the slab live and die together, so their regions empty and are released.</para>
/// <para>Kestrel takes its pools from the <see cref="IMemoryPoolFactory{T}"/> in the service container;
/// <see cref="DferServer"/> registers <see cref="Factory"/> there.</para>
/// </summary>
internal sealed class BoundedBlockPool : MemoryPool<byte>
{
    public const int BlockSize = 4096;

    private readonly byte[] _slab;
    private readonly ConcurrentStack<Block> _free = new();
    private int _carved;
    private volatile bool _disposed;

    public BoundedBlockPool(long slabBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slabBytes);
        // Uninitialized: the pages are touched, and resident, only once blocks carved from them are used.
        _slab = GC.AllocateUninitializedArray<byte>((int)Math.Min(slabBytes / BlockSize, Array.MaxLength / BlockSize)
            * BlockSize, pinned: true);
    }

    public override int MaxBufferSize => BlockSize;

    /// <summary>The slab's blocks in the pool now, ready to be rented.</summary>
    public int Free => _free.Count;

    /// <summary>The blocks the slab holds.</summary>
    public int SlabBlocks => _slab.Length / BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.TryPop(out Block? block))
        {
            block.Rented = true;
            return block;
        }
        int carved = Interlocked.Increment(ref _carved) - 1;
        if (carved < SlabBlocks) return new Block(this, _slab, carved * BlockSize);
        Interlocked.Decrement(ref _carved);
        return new Block(null, GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true), 0);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _free.Clear();
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly BoundedBlockPool? _pool;

        /// <summary>A block of <paramref name="pool"/>'s slab, or (pool null) one of its own.</summary>
        public Block(BoundedBlockPool? pool, byte[] pinned, int offset)
        {
            _pool = pool;
            Memory = MemoryMarshal.CreateFromPinnedArray(pinned, offset, BlockSize);
        }

        public Memory<byte> Memory { get; }

        public bool Rented { get; set; } = true;

        /// <summary>A slab block goes back to the pool, once per rental; a block of its own is left to the GC.
        /// </summary>
        public void Dispose()
        {
            if (!Rented) return;
            Rented = false;
            if (_pool is { _disposed: false }) _pool._free.Push(this);
        }
    }

    /// <summary>Makes Kestrel's pools, each with a slab of <c>slabBytes</c>.</summary>
    public sealed class Factory(long slabBytes) : IMemoryPoolFactory<byte>
    {
        private int _created;

        /// <summary>The pools made so far.</summary>
        public int Created => Volatile.Read(ref _created);

        public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
        {
            Interlocked.Increment(ref _created);
            return new BoundedBlockPool(slabBytes);
        }
    }
}
