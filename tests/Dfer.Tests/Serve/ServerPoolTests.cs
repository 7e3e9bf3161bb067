using System.Buffers;
using System.Runtime.InteropServices;
using Dfer.Cli.Serve;

namespace Dfer.Tests.Serve;

/// <summary>
/// The two pools that bound `dfer serve`'s memory (docs/serving.md, "What bounds memory"): the request-buffer pool
/// keeps at most its count and bytes and never hands out an array more than twice the request; Kestrel's block pool
/// keeps its slab's blocks and nothing else.
/// </summary>
[TestFixture]
public class ServerPoolTests
{
    [Test]
    public void AnEmptyPoolAllocatesTheExactLength()
    {
        var pool = new BoundedArrayPool<float>(4, 1 << 20);
        Assert.That(pool.Rent(602_112), Has.Length.EqualTo(602_112));
        Assert.That(pool.Rent(0), Is.Empty);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(-1));
    }

    [Test]
    public void AReturnedArrayIsRentedAgain_TheSmallestThatFits()
    {
        var pool = new BoundedArrayPool<byte>(8, 1 << 20);
        byte[] a100 = new byte[100], a150 = new byte[150], a300 = new byte[300];
        pool.Return(a300);
        pool.Return(a100);
        pool.Return(a150);
        Assert.That(pool.Count, Is.EqualTo(3));
        Assert.That(pool.Bytes, Is.EqualTo(550));
        Assert.That(pool.Rent(120), Is.SameAs(a150), "150 is the smallest kept array of at least 120");
        Assert.That(pool.Rent(90), Is.SameAs(a100));
        // 300 is more than twice 149: a new array of exactly 149 instead.
        byte[] fresh = pool.Rent(149);
        Assert.That(fresh, Is.Not.SameAs(a300));
        Assert.That(fresh, Has.Length.EqualTo(149));
        Assert.That(pool.Rent(150), Is.SameAs(a300), "300 is at most twice 150");
        Assert.That(pool.Count, Is.Zero);
        Assert.That(pool.Bytes, Is.Zero);
    }

    [Test]
    public void ThePoolKeepsNoMoreThanItsCountAndBytes()
    {
        var byCount = new BoundedArrayPool<float>(2, 1 << 20);
        for (int i = 0; i < 5; i++) byCount.Return(new float[10]);
        Assert.That(byCount.Count, Is.EqualTo(2));
        Assert.That(byCount.Bytes, Is.EqualTo(80));

        var byBytes = new BoundedArrayPool<float>(100, 1000);   // 250 floats
        byBytes.Return(new float[200]);
        byBytes.Return(new float[100]);   // 300 floats: over, not kept
        byBytes.Return(new float[50]);
        Assert.That(byBytes.Count, Is.EqualTo(2));
        Assert.That(byBytes.Bytes, Is.EqualTo(1000));
    }

    [Test]
    public void ClearArrayZeroesWhatComesBack()
    {
        var pool = new BoundedArrayPool<int>(2, 1 << 10);
        int[] a = [1, 2, 3];
        pool.Return(a, clearArray: true);
        Assert.That(pool.Rent(3), Is.SameAs(a).And.All.EqualTo(0));
    }

    private static (byte[] Array, int Offset) Backing(IMemoryOwner<byte> block)
    {
        Assert.That(MemoryMarshal.TryGetArray<byte>(block.Memory, out var segment), Is.True);
        return (segment.Array!, segment.Offset);
    }

    [Test]
    public void BlocksComeFromTheSlabUntilItIsOut_ThenEachHasItsOwnArray()
    {
        using var pool = new BoundedBlockPool(3 * BoundedBlockPool.BlockSize + 100);
        Assert.That(pool.SlabBlocks, Is.EqualTo(3));
        Assert.That(pool.MaxBufferSize, Is.EqualTo(4096));
        var slab = Enumerable.Range(0, 3).Select(_ => pool.Rent()).ToList();
        var backing = slab.Select(Backing).ToList();
        Assert.That(backing.Select(b => b.Array).Distinct().Count(), Is.EqualTo(1), "one slab");
        Assert.That(backing.Select(b => b.Offset), Is.EquivalentTo(new[] { 0, 4096, 8192 }));
        Assert.That(slab.Select(b => b.Memory.Length), Is.All.EqualTo(4096));
        IMemoryOwner<byte> own = pool.Rent(4096);
        var (ownArray, ownOffset) = Backing(own);
        Assert.That(ownArray, Is.Not.SameAs(backing[0].Array));
        Assert.That((ownArray.Length, ownOffset), Is.EqualTo((4096, 0)));

        own.Dispose();
        Assert.That(pool.Free, Is.Zero, "a block of its own is not kept");
        slab[1].Dispose();
        slab[1].Dispose();
        Assert.That(pool.Free, Is.EqualTo(1), "a slab block comes back once per rental");
        IMemoryOwner<byte> again = pool.Rent();
        Assert.That(again, Is.SameAs(slab[1]));
        Assert.That(pool.Free, Is.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(4097));
    }

    [Test]
    public void APoolOfNoSlabKeepsNothing()
    {
        using var pool = new BoundedBlockPool(0);
        IMemoryOwner<byte> block = pool.Rent();
        Assert.That(block.Memory.Length, Is.EqualTo(4096));
        block.Dispose();
        Assert.That(pool.Free, Is.Zero);
    }
}
