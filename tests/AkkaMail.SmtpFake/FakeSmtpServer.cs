using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;

namespace AkkaMail.SmtpFake;

/// <summary>A message the server took: the envelope and the data as received (dot-unstuffed).</summary>
public sealed record FakeSmtpMessage(string MailFrom, IReadOnlyList<string> Recipients, byte[] Data, DateTimeOffset ReceivedAt)
{
    public MimeMessage Parse() => MimeMessage.Load(new MemoryStream(Data));

    /// <summary>The Message-Id header, without angle brackets.</summary>
    public string? MessageId => Parse().MessageId;
}

/// <summary>A reply of the server: code and text.</summary>
public sealed record SmtpReply(int Code, string Text);

/// <summary>
/// An SMTP server on 127.0.0.1 and a free port, for tests: EHLO/HELO, AUTH PLAIN and LOGIN (any credentials unless
/// <see cref="Credentials"/> is set), MAIL, RCPT, DATA, RSET, NOOP, QUIT; no PIPELINING, no STARTTLS (clients use
/// TLS mode none). Every message taken is kept in <see cref="Messages"/>. Faults: a reply per recipient
/// (<see cref="RecipientReply"/>), a reply to DATA (<see cref="DataReply"/>), and <see cref="Down"/> (connections
/// closed at once after a 421).
/// </summary>
public sealed class FakeSmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<FakeSmtpMessage> _messages = new();
    private readonly Task _accepting;
    private int _connections;

    public FakeSmtpServer()
    {
        _listener.Start();
        _accepting = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Host => "127.0.0.1";

    public IReadOnlyCollection<FakeSmtpMessage> Messages => _messages.ToArray();

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The reply to <c>RCPT TO</c> for an address (lower-cased); null: 250.</summary>
    public Func<string, SmtpReply?> RecipientReply { get; set; } = _ => null;

    /// <summary>The reply after the data of a message (null: 250, and the message is kept).</summary>
    public Func<FakeSmtpMessage, SmtpReply?> DataReply { get; set; } = _ => null;

    /// <summary>While true, every new connection is answered 421 and closed.</summary>
    public bool Down { get; set; }

    /// <summary>(user, password) the server accepts; null: any.</summary>
    public (string User, string Password)? Credentials { get; set; }

    /// <summary>Credentials each successful AUTH presented.</summary>
    public ConcurrentQueue<string> AuthenticatedUsers { get; } = new();

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient tcp)
    {
        using var _ = tcp;
        try
        {
            var stream = tcp.GetStream();
            var reader = new LineReader(stream);
            async Task Reply(int code, string text) =>
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"{code} {text}\r\n"), _stop.Token);
            if (Down)
            {
                await Reply(421, "fake.local Service not available");
                return;
            }
            await Reply(220, "fake.local ESMTP AkkaMail test server");
            string? from = null;
            var recipients = new List<string>();
            while (!_stop.IsCancellationRequested)
            {
                var line = await reader.ReadLineAsync(_stop.Token);
                if (line is null) return;
                var verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await stream.WriteAsync(Encoding.ASCII.GetBytes("250-fake.local\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 52428800\r\n"), _stop.Token);
                        break;
                    case "HELO":
                        await Reply(250, "fake.local");
                        break;
                    case "AUTH":
                        await AuthenticateAsync(line, reader, stream, Reply);
                        break;
                    case "MAIL":
                        from = AddressOf(line);
                        recipients.Clear();
                        await Reply(250, "2.1.0 OK");
                        break;
                    case "RCPT":
                        if (from is null) { await Reply(503, "5.5.1 MAIL first"); break; }
                        var rcpt = AddressOf(line);
                        if (RecipientReply(rcpt.ToLowerInvariant()) is { } refusal)
                            await Reply(refusal.Code, refusal.Text);
                        else
                        {
                            recipients.Add(rcpt);
                            await Reply(250, "2.1.5 OK");
                        }
                        break;
                    case "DATA":
                        if (from is null || recipients.Count == 0) { await Reply(503, "5.5.1 no valid recipients"); break; }
                        await Reply(354, "End data with <CR><LF>.<CR><LF>");
                        var data = await reader.ReadDataAsync(_stop.Token);
                        if (data is null) return;
                        var message = new FakeSmtpMessage(from, recipients.ToArray(), data, DateTimeOffset.UtcNow);
                        if (DataReply(message) is { } dataRefusal)
                            await Reply(dataRefusal.Code, dataRefusal.Text);
                        else
                        {
                            _messages.Enqueue(message);
                            await Reply(250, "2.0.0 OK queued");
                        }
                        from = null;
                        recipients.Clear();
                        break;
                    case "RSET":
                        from = null;
                        recipients.Clear();
                        await Reply(250, "2.0.0 OK");
                        break;
                    case "NOOP":
                        await Reply(250, "2.0.0 OK");
                        break;
                    case "QUIT":
                        await Reply(221, "2.0.0 Bye");
                        return;
                    default:
                        await Reply(502, "5.5.2 Command not recognized");
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, or the server is stopping.
        }
    }

    private async Task AuthenticateAsync(string line, LineReader reader, NetworkStream stream, Func<int, string, Task> reply)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string user, password;
        if (parts.Length >= 2 && parts[1].Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            var initial = parts.Length >= 3 ? parts[2] : null;
            if (initial is null)
            {
                await reply(334, "");
                initial = await reader.ReadLineAsync(_stop.Token) ?? "";
            }
            var fields = Encoding.UTF8.GetString(Convert.FromBase64String(initial)).Split('\0');
            (user, password) = fields.Length >= 3 ? (fields[1], fields[2]) : ("", "");
        }
        else if (parts.Length >= 2 && parts[1].Equals("LOGIN", StringComparison.OrdinalIgnoreCase))
        {
            await reply(334, Convert.ToBase64String(Encoding.ASCII.GetBytes("Username:")));
            user = Encoding.UTF8.GetString(Convert.FromBase64String(await reader.ReadLineAsync(_stop.Token) ?? ""));
            await reply(334, Convert.ToBase64String(Encoding.ASCII.GetBytes("Password:")));
            password = Encoding.UTF8.GetString(Convert.FromBase64String(await reader.ReadLineAsync(_stop.Token) ?? ""));
        }
        else
        {
            await reply(504, "5.5.4 Unrecognized authentication type");
            return;
        }
        if (Credentials is { } c && (c.User != user || c.Password != password))
        {
            await reply(535, "5.7.8 Authentication credentials invalid");
            return;
        }
        AuthenticatedUsers.Enqueue(user);
        await reply(235, "2.7.0 Authentication successful");
    }

    /// <summary>The address between the angle brackets of <c>MAIL FROM:&lt;a&gt;</c> or <c>RCPT TO:&lt;a&gt; params</c>.</summary>
    private static string AddressOf(string line)
    {
        var open = line.IndexOf('<');
        var close = line.IndexOf('>', Math.Max(open, 0));
        return open >= 0 && close > open ? line[(open + 1)..close] : line[(line.IndexOf(':') + 1)..].Trim();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _accepting; } catch (Exception) { /* stopping */ }
        _stop.Dispose();
    }

    /// <summary>Reads CRLF-terminated lines and a DATA section from a stream, buffered.</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start, _end;

        private async Task<byte[]?> ReadRawLineAsync(CancellationToken ct)
        {
            var line = new MemoryStream();
            while (true)
            {
                for (var i = _start; i < _end; i++)
                {
                    if (_buffer[i] != (byte)'\n') continue;
                    line.Write(_buffer, _start, i + 1 - _start);
                    _start = i + 1;
                    return line.ToArray();
                }
                line.Write(_buffer, _start, _end - _start);
                _start = _end = 0;
                var read = await stream.ReadAsync(_buffer, ct);
                if (read == 0) return null;
                _end = read;
            }
        }

        public async Task<string?> ReadLineAsync(CancellationToken ct) =>
            await ReadRawLineAsync(ct) is { } raw ? Encoding.UTF8.GetString(raw).TrimEnd('\r', '\n') : null;

        /// <summary>The lines up to the one that is a single dot, dot-unstuffed, CRLF kept.</summary>
        public async Task<byte[]?> ReadDataAsync(CancellationToken ct)
        {
            var data = new MemoryStream();
            while (await ReadRawLineAsync(ct) is { } raw)
            {
                var content = raw.AsSpan();
                if (content.SequenceEqual(".\r\n"u8) || content.SequenceEqual(".\n"u8)) return data.ToArray();
                if (content.Length > 0 && content[0] == (byte)'.') content = content[1..];
                data.Write(content);
            }
            return null;
        }
    }
}
