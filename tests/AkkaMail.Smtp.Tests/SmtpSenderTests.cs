using AkkaMail.SmtpFake;
using MimeKit;

namespace AkkaMail.Smtp.Tests;

/// <summary>The connector against the test SMTP server on loopback: what the server answers, per recipient.</summary>
public sealed class SmtpSenderTests : IAsyncLifetime
{
    private readonly FakeSmtpServer _server = new();
    private SmtpSender _sender = null!;

    public Task InitializeAsync()
    {
        _sender = new SmtpSender(Options());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _sender.DisposeAsync();
        await _server.DisposeAsync();
    }

    private SmtpOptions Options() => new() { Host = _server.Host, Port = _server.Port, TlsMode = SmtpTlsMode.None, Timeout = TimeSpan.FromSeconds(5) };

    private static MimeMessage Message(params string[] to)
    {
        var m = new MimeMessage { Subject = "Hello", MessageId = Guid.NewGuid().ToString("N") + "@example.com" };
        m.From.Add(MailboxAddress.Parse("app@example.com"));
        foreach (var t in to) m.To.Add(MailboxAddress.Parse(t));
        m.Body = new TextPart("plain") { Text = "Hi\r\n.leading dot\r\n" };
        return m;
    }

    [Fact]
    public async Task An_accepted_transaction_reaches_the_server_with_its_envelope_and_body()
    {
        var message = Message("ann@example.com", "bob@example.com");
        var result = Assert.IsType<SmtpSendResult.Accepted>(await _sender.SendAsync(message, default));
        Assert.Equal(["ann@example.com", "bob@example.com"], result.AcceptedRecipients);
        Assert.Empty(result.Refused);
        var received = Assert.Single(_server.Messages);
        Assert.Equal("app@example.com", received.MailFrom);
        Assert.Equal(["ann@example.com", "bob@example.com"], received.Recipients);
        var parsed = received.Parse();
        Assert.Equal(message.MessageId, parsed.MessageId);
        Assert.Contains(".leading dot", parsed.TextBody);
    }

    [Fact]
    public async Task A_recipient_refused_for_good_is_reported_and_the_others_get_the_message()
    {
        _server.RecipientReply = a => a == "gone@example.com" ? new SmtpReply(550, "5.1.1 no such user") : null;
        var result = Assert.IsType<SmtpSendResult.Accepted>(await _sender.SendAsync(Message("ann@example.com", "gone@example.com"), default));
        Assert.Equal(["ann@example.com"], result.AcceptedRecipients);
        var refused = Assert.Single(result.Refused);
        Assert.Equal(("gone@example.com", 550), (refused.Address, refused.Code));
        Assert.Contains("no such user", refused.Reply);
        Assert.Equal(["ann@example.com"], Assert.Single(_server.Messages).Recipients);
    }

    [Fact]
    public async Task Every_recipient_refused_for_good_is_a_permanent_failure_and_nothing_is_sent()
    {
        _server.RecipientReply = _ => new SmtpReply(550, "5.1.1 no such user");
        var result = Assert.IsType<SmtpSendResult.PermanentFailure>(await _sender.SendAsync(Message("a@example.com", "b@example.com"), default));
        Assert.Equal(550, result.Code);
        Assert.Equal(2, result.Refused.Count);
        Assert.Empty(_server.Messages);
    }

    [Fact]
    public async Task A_recipient_deferred_makes_the_whole_transaction_transient_and_nothing_is_sent()
    {
        _server.RecipientReply = a => a == "busy@example.com" ? new SmtpReply(451, "4.3.0 try later") : null;
        var result = Assert.IsType<SmtpSendResult.TransientFailure>(await _sender.SendAsync(Message("ann@example.com", "busy@example.com"), default));
        Assert.Equal(451, result.Code);
        Assert.Empty(_server.Messages);
    }

    [Fact]
    public async Task A_data_refusal_is_permanent_for_5xx_and_transient_for_4xx()
    {
        _server.DataReply = _ => new SmtpReply(554, "5.6.0 content refused");
        Assert.IsType<SmtpSendResult.PermanentFailure>(await _sender.SendAsync(Message("ann@example.com"), default));
        _server.DataReply = _ => new SmtpReply(452, "4.3.1 insufficient storage");
        Assert.IsType<SmtpSendResult.TransientFailure>(await _sender.SendAsync(Message("ann@example.com"), default));
        Assert.Empty(_server.Messages);
    }

    [Fact]
    public async Task A_server_that_is_down_or_absent_is_a_transient_failure()
    {
        _server.Down = true;
        Assert.IsType<SmtpSendResult.TransientFailure>(await _sender.SendAsync(Message("ann@example.com"), default));
        await using var nowhere = new SmtpSender(new SmtpOptions { Host = "127.0.0.1", Port = FreePort(), TlsMode = SmtpTlsMode.None });
        Assert.IsType<SmtpSendResult.TransientFailure>(await nowhere.SendAsync(Message("ann@example.com"), default));
        _server.Down = false;
        Assert.IsType<SmtpSendResult.Accepted>(await _sender.SendAsync(Message("ann@example.com"), default));
    }

    [Fact]
    public async Task Credentials_are_presented_and_a_wrong_password_is_transient()
    {
        _server.Credentials = ("app", "secret");
        await using var good = new SmtpSender(Options() is var o ? new SmtpOptions
            { Host = o.Host, Port = o.Port, TlsMode = SmtpTlsMode.None, Username = "app", Password = "secret" } : null!);
        Assert.IsType<SmtpSendResult.Accepted>(await good.SendAsync(Message("ann@example.com"), default));
        Assert.Contains("app", _server.AuthenticatedUsers);
        await using var bad = new SmtpSender(new SmtpOptions
            { Host = _server.Host, Port = _server.Port, TlsMode = SmtpTlsMode.None, Username = "app", Password = "wrong" });
        Assert.IsType<SmtpSendResult.TransientFailure>(await bad.SendAsync(Message("ann@example.com"), default));
        Assert.Single(_server.Messages);
    }

    [Fact]
    public async Task Sends_one_after_another_share_one_connection()
    {
        for (var i = 0; i < 5; i++)
            Assert.IsType<SmtpSendResult.Accepted>(await _sender.SendAsync(Message($"r{i}@example.com"), default));
        Assert.Equal(5, _server.Messages.Count);
        Assert.Equal(1, _server.Connections);
    }

    [Fact]
    public void Options_name_each_bad_setting()
    {
        var errors = new SmtpOptions { Host = "", Port = 0, Username = "u", Timeout = TimeSpan.Zero }.Validate();
        Assert.Contains(errors, e => e.StartsWith("Smtp:Host", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Smtp:Port", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Smtp:Password", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Smtp:Timeout", StringComparison.Ordinal));
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
