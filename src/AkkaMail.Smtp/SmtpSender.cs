using System.Collections.Concurrent;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace AkkaMail.Smtp;

/// <summary>
/// Sends MIME messages to one SMTP server and tells what it answered, per recipient. Connections are kept open between
/// sends (one per concurrent send); one idle for longer than <see cref="IdleCheckAfter"/> is checked with NOOP before it
/// carries a message, so a connection the server dropped meanwhile costs a reconnect, never a failed send.
/// Safe for concurrent use. Never throws for what the server or the network does: it classifies it.
/// </summary>
public sealed class SmtpSender : IAsyncDisposable
{
    public static readonly TimeSpan IdleCheckAfter = TimeSpan.FromSeconds(5);

    private readonly SmtpOptions _options;
    private readonly TimeProvider _clock;
    private readonly ConcurrentBag<(RecordingSmtpClient Client, DateTimeOffset IdleSince)> _idle = new();

    public SmtpSender(SmtpOptions options, TimeProvider? clock = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException(string.Join(" ", errors), nameof(options));
        _options = options;
        _clock = clock ?? TimeProvider.System;
    }

    public async Task<SmtpSendResult> SendAsync(MimeMessage message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        RecordingSmtpClient? client = null;
        try
        {
            client = await TakeConnectedAsync(ct).ConfigureAwait(false);
            client.Refused.Clear();
            client.AcceptedRecipients.Clear();
            var reply = await client.SendAsync(message, ct).ConfigureAwait(false);
            var result = new SmtpSendResult.Accepted(client.AcceptedRecipients.ToArray(), client.Refused.ToArray(), reply);
            Return(client);
            client = null;
            return result;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (SmtpCommandException e) when (e.ErrorCode == SmtpErrorCode.RecipientNotAccepted && client is { } c && e.Mailbox is null)
        {
            // Every recipient was refused for good (see RecordingSmtpClient.OnNoRecipientsAccepted).
            var refused = c.Refused.ToArray();
            return new SmtpSendResult.PermanentFailure(refused.Length > 0 ? refused[0].Code : (int)e.StatusCode, e.Message, refused);
        }
        catch (SmtpCommandException e)
        {
            var code = (int)e.StatusCode;
            return code is >= 500 and < 600
                ? new SmtpSendResult.PermanentFailure(code, Describe(e), client?.Refused.ToArray() ?? [])
                : new SmtpSendResult.TransientFailure(code, Describe(e));
        }
        catch (AuthenticationException e)
        {
            // Wrong credentials are the operator's to fix; the mail waits (and the route moves on) meanwhile.
            return new SmtpSendResult.TransientFailure(null, "authentication failed: " + e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or ServiceNotConnectedException
                                      or TimeoutException or OperationCanceledException or SslHandshakeException)
        {
            return new SmtpSendResult.TransientFailure(null, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            if (client is not null) await DiscardAsync(client).ConfigureAwait(false);
        }
    }

    private static string Describe(SmtpCommandException e) =>
        e.Mailbox is { } m ? $"{(int)e.StatusCode} {e.Message} ({m.Address})" : $"{(int)e.StatusCode} {e.Message}";

    private async Task<RecordingSmtpClient> TakeConnectedAsync(CancellationToken ct)
    {
        while (_idle.TryTake(out var pooled))
        {
            if (!pooled.Client.IsConnected)
            {
                await DiscardAsync(pooled.Client).ConfigureAwait(false);
                continue;
            }
            if (_clock.GetUtcNow() - pooled.IdleSince < IdleCheckAfter) return pooled.Client;
            try
            {
                await pooled.Client.NoOpAsync(ct).ConfigureAwait(false);
                return pooled.Client;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                await DiscardAsync(pooled.Client).ConfigureAwait(false);
            }
        }
        var client = new RecordingSmtpClient { Timeout = (int)Math.Min(int.MaxValue, _options.Timeout.TotalMilliseconds) };
        try
        {
            await client.ConnectAsync(_options.Host, _options.Port, _options.TlsMode switch
            {
                SmtpTlsMode.None => SecureSocketOptions.None,
                SmtpTlsMode.StartTls => SecureSocketOptions.StartTls,
                SmtpTlsMode.StartTlsWhenAvailable => SecureSocketOptions.StartTlsWhenAvailable,
                _ => SecureSocketOptions.SslOnConnect,
            }, ct).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(_options.Username))
                await client.AuthenticateAsync(_options.Username, _options.Password, ct).ConfigureAwait(false);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private void Return(RecordingSmtpClient client)
    {
        if (_idle.Count < _options.MaxIdleConnections) _idle.Add((client, _clock.GetUtcNow()));
        else _ = DiscardAsync(client);
    }

    private static async Task DiscardAsync(SmtpClient client)
    {
        try
        {
            if (client.IsConnected) await client.DisconnectAsync(true, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The connection is being thrown away: what its QUIT met does not matter.
        }
        finally
        {
            client.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out var pooled)) await DiscardAsync(pooled.Client).ConfigureAwait(false);
    }

    /// <summary>Goes on with the other recipients when the server refuses one for good (5xx), recording it; a 4xx still
    /// aborts the transaction (MailKit resets it), so that a transient refusal never leaves a message half sent.</summary>
    private sealed class RecordingSmtpClient : SmtpClient
    {
        public List<SmtpRefusedRecipient> Refused { get; } = new();
        public List<string> AcceptedRecipients { get; } = new();

        protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
            AcceptedRecipients.Add(mailbox.Address);

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            if ((int)response.StatusCode is >= 500 and < 600)
                Refused.Add(new SmtpRefusedRecipient(mailbox.Address, (int)response.StatusCode, response.Response));
            else
                base.OnRecipientNotAccepted(message, mailbox, response);
        }

        protected override void OnNoRecipientsAccepted(MimeMessage message) =>
            throw new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, Refused.Count > 0 ? (SmtpStatusCode)Refused[0].Code : SmtpStatusCode.MailboxUnavailable,
                "every recipient was refused");
    }
}
