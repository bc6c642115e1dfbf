using AkkaMail.Mailgun.Provider;
using AkkaMail.Domain;
using AkkaMail.Providers;
using Xunit;
using static AkkaMail.Domain.EmailCommands;
using R = AkkaMail.Domain.EmailReplies;

namespace AkkaMail.Tests;

/// <summary>A batch's per-recipient values: substitution, what the provider is given, what the state keeps.</summary>
public sealed class BatchContentTests
{
    private static IReadOnlyDictionary<string, string> V(params (string Name, string Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value);

    [Theory]
    [InlineData("Hi %recipient.name%!", "Hi Ann!")]
    [InlineData("%recipient.name%%recipient.code%", "AnnA1")]
    [InlineData("%recipient.other% stays, %recipient.name% not", "%recipient.other% stays, Ann not")]
    [InlineData("100% sure %recipient.name%", "100% sure Ann")]
    [InlineData("no placeholder", "no placeholder")]
    [InlineData("%recipient.name", "%recipient.name")]
    public void Placeholders_are_replaced_by_the_recipient_s_own_values(string text, string expected) =>
        Assert.Equal(expected, RecipientSubstitution.Apply(text, V(("name", "Ann"), ("code", "A1"))));

    private static EmailContent Batch() => T.Content("Ann <ann@example.com>", "bob@example.com", "carol@example.com") with
    {
        Subject = "Hi %recipient.name%",
        RecipientVariables = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["ann@example.com"] = V(("name", "Ann")),
            ["bob@example.com"] = V(("name", "Bob")),
            ["carol@example.com"] = V(("name", "Carol")),
        },
    };

    [Fact]
    public void Mailgun_gets_the_values_of_exactly_the_recipients_it_sends_to_and_an_ordinary_email_gets_none()
    {
        var batch = Batch();
        var message = MailgunProvider.ToMessage(new OutgoingEmail("e1", 1, batch with { To = batch.To.Take(2).ToArray() }));
        Assert.Equal(new[] { "ann@example.com", "bob@example.com" }, message.RecipientVariables!.Keys.Order());
        Assert.Equal("Bob", message.RecipientVariables["bob@example.com"]["name"]);
        Assert.Null(MailgunProvider.ToMessage(new OutgoingEmail("e2", 1, T.Content("x@example.com"))).RecipientVariables);
    }

    [Fact]
    public void A_suppressed_recipient_is_left_out_of_the_send_and_the_values_go_once_sent()
    {
        var s = EmailState.Empty("b1").Run(new AcceptEmail("b1", "u1", Batch(),
            Suppressed: new Dictionary<string, string> { ["bob@example.com"] = "bounced" }), T.Ctx(T.T0));
        Assert.Equal(RecipientStatus.Suppressed, s.Recipients["bob@example.com"].Status);
        s = s.Run(new BeginSendAttempt("b1", 1), T.Ctx(T.T0), out var reply);
        var approved = Assert.IsType<R.SendApproved>(reply);
        Assert.Equal(new[] { "Ann <ann@example.com>", "carol@example.com" }, approved.Content.To);
        var message = MailgunProvider.ToMessage(new OutgoingEmail("b1", 1, approved.Content));
        Assert.Equal(new[] { "ann@example.com", "carol@example.com" }, message.RecipientVariables!.Keys.Order());

        s = s.Run(new RecordSendOutcome("b1", 1, new SendOutcome.Sent("pm-1")), T.Ctx(T.T0));
        // Nothing more will be sent: the values, like the bodies, stay in the journal only.
        Assert.Null(s.Content!.RecipientVariables);
        Assert.Equal("Hi %recipient.name%", s.Content.Subject);
    }
}
