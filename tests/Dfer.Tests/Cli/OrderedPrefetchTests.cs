using System.Collections.Concurrent;
using Dfer.Cli.Scoring;

namespace Dfer.Tests.Cli;

/// <summary>
/// <see cref="OrderedPrefetch{TIn, TOut}"/>: results in item order whatever order the work finishes
/// in, never more than the budget ahead of the consumer, errors kept per item, and stopping that does
/// not wait for work in progress. Interleavings are forced with events, not with sleeps; the only
/// time limit is a generous guard that turns a hang into a failure.
/// </summary>
[TestFixture]
public class OrderedPrefetchTests
{
    /// <summary>Long enough for any machine; only there so that a deadlock fails instead of hanging the run.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    private static void Await(Task task, string what) =>
        Assert.That(task.Wait(HangGuard), Is.True, $"{what} hung");

    private static void Await(SemaphoreSlim signal, int times, string what)
    {
        for (int i = 0; i < times; i++)
            Assert.That(signal.Wait(HangGuard), Is.True, $"{what} hung ({i} of {times})");
    }

    /// <summary>Runs <paramref name="action"/> on another thread and fails if it does not return.</summary>
    private static void Returns(Action action, string what) => Await(Task.Run(action), what);

    private static int[] Range(int n) => Enumerable.Range(0, n).ToArray();

    [Test]
    public void Results_ComeInItemOrder_WhenEachGroupFinishesInReverse()
    {
        // Four workers, four ahead: items 4k..4k+3 run together, and item i may finish only after
        // item i+1 has, so within a group they finish last to first.
        const int n = 16, workers = 4;
        var done = Range(n).Select(_ => new ManualResetEventSlim()).ToArray();
        var finished = new ConcurrentQueue<int>();
        using var prefetch = new OrderedPrefetch<int, int>(Range(n), (i, _) =>
        {
            if (i % workers != workers - 1) Assert.That(done[i + 1].Wait(HangGuard), Is.True, $"item {i + 1} hung");
            finished.Enqueue(i);
            done[i].Set();
            return i * 10;
        }, budget: workers, workers: workers);

        var results = prefetch.Consume().ToList();

        Assert.That(results.Select(r => r.Index), Is.EqualTo(Range(n)));
        Assert.That(results.Select(r => r.Value), Is.EqualTo(Range(n).Select(i => i * 10)));
        Assert.That(finished.ToArray(), Is.EqualTo(Range(n).Chunk(workers).SelectMany(g => g.Reverse())),
            "the work did finish out of order");
        Await(prefetch.Completion, "workers after the last item");
    }

    [TestCase(1, 1)]
    [TestCase(2, 3)]
    [TestCase(3, 8)]
    [TestCase(8, 2)]
    public void Results_ComeInItemOrder_UnderRandomWorkDurations(int workers, int budget)
    {
        const int n = 200;
        int running = 0, mostRunning = 0, taken = 0, mostAhead = 0;
        using var prefetch = new OrderedPrefetch<int, string>(Range(n), (i, _) =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref mostRunning, now);
            // Started items the consumer has not received: the budget plus, at most, the one being
            // handed to it, which it has not counted yet.
            InterlockedMax(ref mostAhead, i + 1 - Volatile.Read(ref taken));
            var random = new Random(i);
            int spins = random.Next(4) == 0 ? random.Next(200_000) : random.Next(1000);
            Thread.SpinWait(spins);
            if (random.Next(10) == 0) Thread.Yield();
            Interlocked.Decrement(ref running);
            return $"item {i}";
        }, budget, workers);

        var received = new List<string>();
        foreach (var result in prefetch.Consume())
        {
            Interlocked.Increment(ref taken);
            received.Add(result.Value);
            if (result.Index % 7 == 0) Thread.SpinWait(50_000);
        }

        Assert.That(received, Is.EqualTo(Range(n).Select(i => $"item {i}")));
        Assert.That(mostRunning, Is.LessThanOrEqualTo(workers));
        Assert.That(mostAhead, Is.LessThanOrEqualTo(budget + 1));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value
            && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    /// <summary>
    /// The consumer stops after <paramref name="taken"/> items; the workers then start exactly the
    /// next <paramref name="budget"/> and no more, however many of them there are and however fast the work.
    /// </summary>
    [TestCase(1, 1, 0)]
    [TestCase(1, 3, 4)]
    [TestCase(3, 2, 5)]
    [TestCase(6, 4, 1)]
    [TestCase(4, 5, 0)]
    public void NoMoreThanTheBudget_IsWorkedAhead_OfAConsumerThatStops(int workers, int budget, int taken)
    {
        const int n = 40;
        var started = new ConcurrentBag<int>();
        var startSignal = new SemaphoreSlim(0);
        var prefetch = new OrderedPrefetch<int, int>(Range(n), (i, _) =>
        {
            started.Add(i);
            startSignal.Release();
            return i;
        }, budget, workers);

        using (IEnumerator<Prefetched<int>> results = prefetch.Consume().GetEnumerator())
        {
            for (int i = 0; i < taken; i++)
            {
                Assert.That(results.MoveNext(), Is.True);
                Assert.That(results.Current.Value, Is.EqualTo(i));
            }
            // Wait until the workers have had every item they may start, then stop them.
            Await(startSignal, taken + budget, "the items within the budget");
            prefetch.Dispose();
            Await(prefetch.Completion, "workers after Dispose");
        }

        Assert.That(started.Order(), Is.EqualTo(Range(taken + budget)));
    }

    [Test]
    public void TheBudget_CountsTheWeightOfEachResult()
    {
        // Each result weighs 3 (a video of 3 clips) against a budget of 6: two results ahead.
        var started = new ConcurrentBag<int>();
        var startSignal = new SemaphoreSlim(0);
        var prefetch = new OrderedPrefetch<int, int>(Range(20), (i, _) =>
        {
            started.Add(i);
            startSignal.Release();
            return i;
        }, budget: 6, workers: 1, weight: _ => 3);

        using (IEnumerator<Prefetched<int>> results = prefetch.Consume().GetEnumerator())
        {
            Await(startSignal, 2, "the two items within the budget");
            Assert.That(results.MoveNext() && results.Current.Value == 0, Is.True);
            Await(startSignal, 1, "the item the consumer made room for");
            prefetch.Dispose();
            Await(prefetch.Completion, "the worker after Dispose");
        }

        Assert.That(started.Order(), Is.EqualTo(new[] { 0, 1, 2 }));
    }

    [Test]
    public void AResultWeighingLessThanOne_CountsOne()
    {
        // Weight 0 (a video with no clips) against a budget of 2: still two results ahead, not all of them.
        var started = new ConcurrentBag<int>();
        var startSignal = new SemaphoreSlim(0);
        var prefetch = new OrderedPrefetch<int, int>(Range(20), (i, _) =>
        {
            started.Add(i);
            startSignal.Release();
            return i;
        }, budget: 2, workers: 1, weight: _ => 0);

        using (IEnumerator<Prefetched<int>> results = prefetch.Consume().GetEnumerator())
        {
            Await(startSignal, 2, "the two items within the budget");
            Assert.That(results.MoveNext() && results.Current.Value == 0, Is.True);
            Await(startSignal, 1, "the item the consumer made room for");
            prefetch.Dispose();
            Await(prefetch.Completion, "the worker after Dispose");
        }

        Assert.That(started.Order(), Is.EqualTo(new[] { 0, 1, 2 }));
    }

    [Test]
    public void Dispose_BeforeConsuming_StopsTheWorkers_AndConsumingThrows()
    {
        var started = new ConcurrentBag<int>();
        var startSignal = new SemaphoreSlim(0);
        var prefetch = new OrderedPrefetch<int, int>(Range(10), (i, _) =>
        {
            started.Add(i);
            startSignal.Release();
            return i;
        }, budget: 2, workers: 2);
        Await(startSignal, 2, "the two items within the budget");

        prefetch.Dispose();

        Await(prefetch.Completion, "the workers after Dispose");
        Assert.That(() => prefetch.Consume().First(), Throws.InstanceOf<ObjectDisposedException>());
        Assert.That(started.Order(), Is.EqualTo(new[] { 0, 1 }));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(3)]
    public void AnExceptionInOneItem_IsThatItemsResult_AndTheOthersAreStillDelivered(int workers)
    {
        var failure = new InvalidOperationException("item 3 is broken");
        using var prefetch = new OrderedPrefetch<int,
            int>(Range(8), (i, _) => i == 3 ? throw failure : i * i, budget: 2, workers);

        var results = prefetch.Consume().ToList();

        Assert.That(results.Select(r => r.Index), Is.EqualTo(Range(8)));
        Assert.That(results[3].Error, Is.SameAs(failure));
        Assert.That(() => results[3].Value, Throws.InvalidOperationException.With.Message.EqualTo("item 3 is broken"));
        foreach (var r in results.Where(r => r.Index != 3))
        {
            Assert.That(r.Error, Is.Null);
            Assert.That(r.Value, Is.EqualTo(r.Index * r.Index));
        }
    }

    [Test]
    public void Dispose_ReturnsWhileAnItemIsInProgress_AndNothingMoreStarts()
    {
        var started = new ConcurrentBag<int>();
        var oneStarted = new SemaphoreSlim(0);
        using var gate = new ManualResetEventSlim();
        var prefetch = new OrderedPrefetch<int, int>(Range(50), (i, _) =>
        {
            started.Add(i);
            // Item 1 ignores cancellation: like a decoder that cannot be interrupted.
            if (i == 1)
            {
                oneStarted.Release();
                Assert.That(gate.Wait(HangGuard), Is.True, "the gate");
            }
            return i;
        }, budget: 3, workers: 2);
        IEnumerator<Prefetched<int>> results = prefetch.Consume().GetEnumerator();
        Assert.That(results.MoveNext() && results.Current.Value == 0, Is.True);
        Await(oneStarted, 1, "item 1");

        Returns(prefetch.Dispose, "Dispose");

        Assert.That(prefetch.Completion.IsCompleted, Is.False, "Dispose did not wait for item 1");
        Assert.That(() => results.MoveNext(), Throws.InstanceOf<ObjectDisposedException>());
        gate.Set();
        Await(prefetch.Completion, "workers after item 1");
        Assert.That(started.Max(), Is.LessThanOrEqualTo(3), "within the budget of the one item taken");
        results.Dispose();
    }

    [Test]
    public void Cancelling_WakesAConsumerWaitingForAResult_AndTellsTheWork()
    {
        using var cancel = new CancellationTokenSource();
        var twoStarted = new SemaphoreSlim(0);
        bool sawCancellation = false;
        using var prefetch = new OrderedPrefetch<int, int>(Range(10), (i, token) =>
        {
            if (i == 2)
            {
                twoStarted.Release();
                // Waits for nothing but cancellation: the consumer can only get past it by being cancelled.
                sawCancellation = token.WaitHandle.WaitOne(HangGuard);
                token.ThrowIfCancellationRequested();
            }
            return i;
        }, budget: 4, workers: 2, cancellation: cancel.Token);
        var received = new ConcurrentQueue<int>();
        Task consumer = Task.Run(() =>
        {
            foreach (var r in prefetch.Consume()) received.Enqueue(r.Value);
        });
        Await(twoStarted, 1, "item 2");

        cancel.Cancel();

        Assert.That(() => consumer.Wait(HangGuard), Throws.InstanceOf<AggregateException>()
            .With.InnerException.InstanceOf<OperationCanceledException>());
        Await(prefetch.Completion, "workers after cancellation");
        Assert.That(sawCancellation, Is.True, "the work's token was cancelled");
        Assert.That(received, Is.EqualTo(received.Order()).And.All.LessThan(2));
    }

    [Test]
    public void Dispose_WakesAConsumerWaitingForAResult()
    {
        using var gate = new ManualResetEventSlim();
        var zeroStarted = new SemaphoreSlim(0);
        var prefetch = new OrderedPrefetch<int, int>(Range(3), (i, _) =>
        {
            zeroStarted.Release();
            Assert.That(gate.Wait(HangGuard), Is.True, "the gate");
            return i;
        }, budget: 1, workers: 1);
        Task consumer = Task.Run(() => prefetch.Consume().ToList());
        Await(zeroStarted, 1, "item 0");

        prefetch.Dispose();

        Assert.That(() => consumer.Wait(HangGuard), Throws.InstanceOf<AggregateException>()
            .With.InnerException.InstanceOf<ObjectDisposedException>());
        gate.Set();
        Await(prefetch.Completion, "the worker after item 0");
    }

    [Test]
    public void ACancelledToken_StartsNoWork()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        int calls = 0;
        using var prefetch = new OrderedPrefetch<int,
            int>(Range(5), (i, _) => Interlocked.Increment(ref calls), budget: 2, workers: 2,
            cancellation: cancel.Token);
        Assert.That(() => prefetch.Consume().ToList(), Throws.InstanceOf<OperationCanceledException>());
        Await(prefetch.Completion, "workers");
        Assert.That(calls, Is.Zero);
    }

    [Test]
    public void WithoutWorkers_TheWorkRunsOnTheConsumersThread_WhenItGetsToEachItem()
    {
        var log = new List<string>();
        int consumerThread = Environment.CurrentManagedThreadId;
        using var prefetch = new OrderedPrefetch<int, int>(Range(3), (i, _) =>
        {
            Assert.That(Environment.CurrentManagedThreadId, Is.EqualTo(consumerThread));
            log.Add($"work {i}");
            return i;
        }, budget: 5, workers: 0);
        Assert.That(prefetch.Completion.IsCompleted, Is.True);

        foreach (var r in prefetch.Consume()) log.Add($"got {r.Value}");

        Assert.That(log, Is.EqualTo(new[] { "work 0", "got 0", "work 1", "got 1", "work 2", "got 2" }));
    }

    [Test]
    public void Waited_CountsTheTimeTheConsumerWaitedForAResult()
    {
        // Compiled beforehand, so that the consumer blocks in nothing but the wait for the result.
        using (var warm = new OrderedPrefetch<int, int>(Range(1), (i, _) => i, budget: 1, workers: 1))
            warm.Consume().ToList();
        Thread? consumerThread = null;
        List<Prefetched<int>>? results = null;
        using var prefetch = new OrderedPrefetch<int, int>(Range(1), (i, _) =>
        {
            // Finishes only once the consumer is blocked waiting for this result.
            SpinWait spin = default;
            while (Volatile.Read(ref consumerThread) is not { } t || (t.ThreadState & ThreadState.WaitSleepJoin) == 0)
                spin.SpinOnce();
            return i;
        }, budget: 1, workers: 1);
        Assert.That(prefetch.Waited, Is.EqualTo(TimeSpan.Zero));
        var thread = new Thread(() => results = prefetch.Consume().ToList());
        Volatile.Write(ref consumerThread, thread);
        thread.Start();
        Assert.That(thread.Join(HangGuard), Is.True, "the consumer hung");

        Assert.That(results!.Single().Value, Is.EqualTo(0));
        Assert.That(prefetch.Waited, Is.GreaterThan(TimeSpan.Zero));
    }

    [Test]
    public void Waited_WithoutWorkers_IsTheTimeSpentInTheWork()
    {
        using var prefetch = new OrderedPrefetch<int, int>(Range(2), (i, _) =>
        {
            Thread.Sleep(1);
            return i;
        }, budget: 1, workers: 0);
        Assert.That(prefetch.Consume().Select(r => r.Value), Is.EqualTo(new[] { 0, 1 }));
        Assert.That(prefetch.Waited, Is.GreaterThan(TimeSpan.Zero));
    }

    [Test]
    public void TheResults_CanBeConsumedOnlyOnce_AndAnEmptyListFinishesAtOnce()
    {
        using var prefetch = new OrderedPrefetch<int, int>([], (i, _) => i, budget: 1, workers: 2);
        Assert.That(prefetch.Consume(), Is.Empty);
        Assert.That(() => prefetch.Consume(), Throws.InvalidOperationException);
        Await(prefetch.Completion, "no workers");
    }
}
