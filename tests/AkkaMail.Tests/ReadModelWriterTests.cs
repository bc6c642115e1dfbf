using System.Collections.Concurrent;
using Akka.Actor;
using AkkaMail.Actors;
using AkkaMail.Domain;
using AkkaMail.ReadModel;
using Xunit;
using static AkkaMail.Actors.PipelineMessages;

namespace AkkaMail.Tests;

public sealed class ReadModelWriterTests : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>Records every batch written; nothing else is used by the writer.</summary>
    private sealed class RecordingStore : IEmailReadStore
    {
        public ConcurrentQueue<IReadOnlyList<EmailView>> Batches { get; } = new();

        public IEnumerable<EmailView> Written => Batches.SelectMany(b => b);

        public Task UpsertAsync(IReadOnlyCollection<EmailView> views, CancellationToken ct = default)
        {
            Batches.Enqueue(views.ToList());
            return Task.CompletedTask;
        }

        public Task InitializeAsync(CancellationToken ct = default) => Task.CompletedTask;
        public Task<EmailView?> GetAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string?> FindIdByProviderMessageIdAsync(string providerMessageId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailPage> ListAsync(EmailQuery query, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> FindUnsettledAsync(int limit, string? afterId, CancellationToken ct = default) => throw new NotSupportedException();
    }

    private static EmailView View(string id, long version)
    {
        var state = EmailState.Empty(id).Apply(new EmailEvents.EmailAccepted(id, "user-1", T.OneRecipient, T.T0));
        return EmailView.Of(state) with { Version = version };
    }

    private IActorRef Writer(RecordingStore store, TimeSpan backgroundWindow) =>
        Sys.ActorOf(Props.Create(() => new ReadModelWriterActor(store, 500, TimeSpan.FromMilliseconds(10), backgroundWindow)));

    [Fact]
    public void Changes_nobody_waits_for_are_held_back_and_only_the_newest_view_of_an_email_is_written()
    {
        var store = new RecordingStore();
        var writer = Writer(store, TimeSpan.FromMilliseconds(300));
        writer.Tell(new UpsertView(View("a", 2)));
        writer.Tell(new UpsertView(View("a", 4)));
        writer.Tell(new UpsertView(View("a", 3)));
        writer.Tell(new UpsertView(View("b", 2)));

        AwaitAssert(() => Assert.Equal(2, store.Written.Count()), TimeSpan.FromSeconds(3));
        Assert.Equal(new[] { ("a", 4L), ("b", 2L) }, store.Written.Select(v => (v.Id, v.Version)).OrderBy(v => v.Id));
        // Nothing else trickles in afterwards.
        Thread.Sleep(500);
        Assert.Equal(2, store.Written.Count());
    }

    [Fact]
    public void A_view_somebody_waits_for_is_written_at_once_and_answered()
    {
        var store = new RecordingStore();
        var writer = Writer(store, TimeSpan.FromMinutes(1));
        var waiter = CreateTestProbe();
        writer.Tell(new UpsertView(View("a", 2), waiter.Ref, "stored"));

        waiter.ExpectMsg("stored", TimeSpan.FromSeconds(3));
        Assert.Contains(store.Written, v => v.Id == "a" && v.Version == 2);
    }

    [Fact]
    public void Flush_writes_the_views_held_back_before_it_answers()
    {
        var store = new RecordingStore();
        var writer = Writer(store, TimeSpan.FromMinutes(1));
        writer.Tell(new UpsertView(View("a", 2)));
        writer.Tell(new UpsertView(View("b", 3)));
        Thread.Sleep(200);
        Assert.Empty(store.Written);

        writer.Tell(ReadModelWriterActor.Flush.Instance);
        ExpectMsg<ReadModelWriterActor.Flushed>(TimeSpan.FromSeconds(3));
        Assert.Equal(new[] { "a", "b" }, store.Written.Select(v => v.Id).OrderBy(id => id));
    }
}
