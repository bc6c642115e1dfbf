using AkkaMail.Domain;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using static AkkaMail.Domain.EmailEvents;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>Issue #16, item 9: a provider event whose message id is not the email's is refused, nothing recorded.</summary>
public class ProviderMessageIdCheckTests
{
    private const string Id = "e1";

    private static EmailState SentAs(string messageId)
    {
        var s = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("bob@example.com")), T.Ctx(T.T0));
        s = s.Run(new BeginSendAttempt(Id, 1), T.Ctx(T.T0));
        return s.Run(new RecordSendOutcome(Id, 1, new SendOutcome.Sent(messageId)), T.Ctx(T.T0));
    }

    private static ProviderEvent Event(string? messageId) =>
        new("ev-1", ProviderEventKind.PermanentFailure, "bob@example.com", T.T0.AddMinutes(1), messageId, "bounce", 550);

    [Fact]
    public void An_event_for_another_message_id_is_refused_as_a_mismatch_and_records_nothing()
    {
        var d = SentAs("<20261127.1@mg.example.com>").Decide(new ApplyProviderEvent(Id, Event("20261127.2@mg.example.com")), T.Ctx(T.T0.AddMinutes(2)));
        Assert.Empty(d.Events);
        Assert.Equal(new R.ProviderEventApplied(Id, R.ProviderEventResult.MessageIdMismatch), d.Reply);
    }

    [Theory]
    [InlineData("<20261127.1@mg.example.com>")]
    [InlineData("20261127.1@mg.example.com")]
    [InlineData("20261127.1@MG.example.com")]
    [InlineData(null)]
    public void An_event_with_the_same_message_id_with_or_without_brackets_or_none_is_applied(string? messageId)
    {
        var d = SentAs("20261127.1@mg.example.com").Decide(new ApplyProviderEvent(Id, Event(messageId)), T.Ctx(T.T0.AddMinutes(2)));
        Assert.IsType<ProviderEventRecorded>(Assert.Single(d.Events));
        Assert.Equal(new R.ProviderEventApplied(Id, R.ProviderEventResult.Applied), d.Reply);
    }

    [Fact]
    public void Before_the_email_knows_its_message_id_an_event_is_applied()
    {
        var s = EmailState.Empty(Id).Run(new AcceptEmail(Id, "u1", T.Content("bob@example.com")), T.Ctx(T.T0));
        var d = s.Decide(new ApplyProviderEvent(Id, Event("anything@mg.example.com")), T.Ctx(T.T0.AddMinutes(2)));
        Assert.Single(d.Events);
    }
}
