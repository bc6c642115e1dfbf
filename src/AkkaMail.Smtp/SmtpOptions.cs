namespace AkkaMail.Smtp;

/// <summary>How the connection to the server is secured (<c>Smtp:TlsMode</c>).</summary>
public enum SmtpTlsMode
{
    /// <summary>Plain text (a relay on loopback or a private network).</summary>
    None,
    /// <summary>STARTTLS, required: a server that does not offer it is refused (port 587).</summary>
    StartTls,
    /// <summary>STARTTLS when the server offers it, else plain text.</summary>
    StartTlsWhenAvailable,
    /// <summary>TLS from the first byte (port 465).</summary>
    Tls,
}

/// <summary>SMTP server settings, bound from the "Smtp" configuration section (environment <c>Smtp__Host</c>, ...).</summary>
public sealed class SmtpOptions
{
    public const string SectionName = "Smtp";

    public string Host { get; set; } = "";

    public int Port { get; set; } = 587;

    public SmtpTlsMode TlsMode { get; set; } = SmtpTlsMode.StartTls;

    /// <summary>Login; empty: no authentication.</summary>
    public string Username { get; set; } = "";

    public string Password { get; set; } = "";

    /// <summary>Timeout of each step of one transaction (connect, a command, the data).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Connections kept open between sends, one per concurrent send at most.</summary>
    public int MaxIdleConnections { get; set; } = 8;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Host)) errors.Add("Smtp:Host is required.");
        if (Port is < 1 or > 65535) errors.Add("Smtp:Port must be between 1 and 65535.");
        if (string.IsNullOrEmpty(Username) != string.IsNullOrEmpty(Password))
            errors.Add("Smtp:Password is required with Smtp:Username (and only with it).");
        if (Timeout <= TimeSpan.Zero) errors.Add("Smtp:Timeout must be positive.");
        if (MaxIdleConnections < 0) errors.Add("Smtp:MaxIdleConnections must not be negative.");
        return errors;
    }
}
