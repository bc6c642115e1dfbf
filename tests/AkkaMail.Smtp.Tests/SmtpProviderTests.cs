using System.Collections.Concurrent;
using AkkaMail.Domain;
using AkkaMail.Gateway;
using AkkaMail.Providers;
using AkkaMail.Smtp.Provider;
using AkkaMail.SmtpFake;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkkaMail.Smtp.Tests;

/// <summary>SMTP as our provider: an email becomes a message, the server's answers become our outcome and per-recipient
/// reports (SMTP has no webhooks).</summary>
public sealed class SmtpProviderTests : IAsyncLifetime
{
    private readonly FakeSmtpServer _server = new();
    private readonly RecordingGateway _gateway = new();
    private SmtpSender _sender = null!;
    private SmtpProvider _provider = null!;

    public Task InitializeAsync()
    {
        _sender = new SmtpSender(new SmtpOptions { Host = _server.Host, Port = _server.Port, TlsMode = SmtpTlsMode.None });
        _provider = new SmtpProvider(_sender, _gateway, NullLogger<SmtpProvider>.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _sender.DisposeAsync();
        await _server.DisposeAsync();
    }

    private static EmailContent Content(string from, string[] to, string subject, string text) =>
        new(from, to, [], [], null, subject, text, null, [], new Dictionary<string, string>(), new Dictionary<string, string>(), []);

    private static OutgoingEmail Email(string id, params string[] to) =>
        new(id, 1, Content("Shop <shop@example.com>", to, "Receipt", "Thanks"));

    [Fact]
    public async Task An_accepted_email_is_sent_through_smtp_with_its_id_and_each_recipient_is_reported_accepted()
    {
        var outcome = Assert.IsType<SendOutcome.Sent>(await _provider.SendAsync(Email("e1", "ann@example.com", "bob@example.com"), default));
        Assert.Equal("smtp", outcome.Provider);
        Assert.Equal("e1.1@example.com", outcome.ProviderMessageId);
        var message = Assert.Single(_server.Messages).Parse();
        Assert.Equal("e1.1@example.com", message.MessageId);
        Assert.Equal("e1", message.Headers["X-AkkaMail-Email-Id"]);
        var events = await _gateway.WaitForAsync(2);
        Assert.All(events, e => Assert.Equal((ProviderEventKind.Accepted, "smtp", "e1"), (e.Event.Kind, e.Event.Provider, e.EmailId)));
        Assert.Equal(["ann@example.com", "bob@example.com"], events.Select(e => e.Event.Recipient).Order());
    }

    [Fact]
    public async Task A_recipient_refused_with_5xx_is_a_permanent_failure_for_that_recipient_only()
    {
        _server.RecipientReply = a => a == "gone@example.com" ? new SmtpReply(550, "5.1.1 no such user") : null;
        Assert.IsType<SendOutcome.Sent>(await _provider.SendAsync(Email("e2", "ann@example.com", "gone@example.com"), default));
        var events = await _gateway.WaitForAsync(2);
        var failed = Assert.Single(events, e => e.Event.Kind == ProviderEventKind.PermanentFailure);
        Assert.Equal(("gone@example.com", 550), (failed.Event.Recipient, failed.Event.Code));
        Assert.Equal("ann@example.com", Assert.Single(events, e => e.Event.Kind == ProviderEventKind.Accepted).Event.Recipient);
    }

    [Fact]
    public async Task Every_recipient_refused_is_permanent_and_a_4xx_is_transient()
    {
        _server.RecipientReply = _ => new SmtpReply(550, "5.1.1 no such user");
        Assert.IsType<SendOutcome.Permanent>(await _provider.SendAsync(Email("e3", "a@example.com"), default));
        _server.RecipientReply = _ => new SmtpReply(450, "4.2.0 mailbox busy");
        var transient = Assert.IsType<SendOutcome.Transient>(await _provider.SendAsync(Email("e4", "a@example.com"), default));
        Assert.StartsWith("smtp 450", transient.Reason);
        Assert.Empty(_server.Messages);
    }

    [Fact]
    public async Task A_batch_goes_out_as_one_message_per_recipient_with_its_own_values()
    {
        var email = new OutgoingEmail("e5", 1, Content("news@example.com", ["ann@example.com", "bob@example.com"], "Hi %recipient.name%",
            "Hello %recipient.name%") with
        {
            RecipientVariables = new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["ann@example.com"] = new Dictionary<string, string> { ["name"] = "Ann" },
                ["bob@example.com"] = new Dictionary<string, string> { ["name"] = "Bob" },
            },
        });
        Assert.IsType<SendOutcome.Sent>(await _provider.SendAsync(email, default));
        var subjects = _server.Messages.Select(m => (To: Assert.Single(m.Recipients), m.Parse().Subject)).OrderBy(x => x.To).ToArray();
        Assert.Equal([("ann@example.com", "Hi Ann"), ("bob@example.com", "Hi Bob")], subjects);
    }

    private sealed class RecordingGateway : IEmailGateway
    {
        private readonly ConcurrentQueue<(string? EmailId, ProviderEvent Event)> _events = new();

        public async Task<IReadOnlyList<(string? EmailId, ProviderEvent Event)>> WaitForAsync(int count)
        {
            var until = DateTime.UtcNow.AddSeconds(5);
            while (_events.Count < count && DateTime.UtcNow < until) await Task.Delay(10);
            return _events.ToArray();
        }

        public Task<ProviderEventResult> ApplyProviderEventAsync(string? emailId, ProviderEvent evt, CancellationToken ct = default)
        {
            _events.Enqueue((emailId, evt));
            return Task.FromResult<ProviderEventResult>(new ProviderEventResult.Applied(emailId ?? ""));
        }

        public Task<AcceptResult> AcceptAsync(EmailSubmission submission, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<CancelResult> CancelAsync(string emailId, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<EmailStateResult> GetStateAsync(string emailId, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
