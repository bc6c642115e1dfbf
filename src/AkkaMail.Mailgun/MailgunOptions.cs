namespace AkkaMail.Mailgun;

/// <summary>Mailgun connection settings, bound from the "Mailgun" configuration section
/// (environment: <c>Mailgun__ApiKey</c>, <c>Mailgun__Domain</c>, ...).</summary>
public sealed class MailgunOptions
{
    public const string SectionName = "Mailgun";
    public const string UsBaseUrl = "https://api.mailgun.net";
    public const string EuBaseUrl = "https://api.eu.mailgun.net";

    /// <summary>API root, without the <c>/v3</c> part: <see cref="UsBaseUrl"/> (default) or <see cref="EuBaseUrl"/>.</summary>
    public string BaseUrl { get; set; } = UsBaseUrl;

    /// <summary>The sending domain, e.g. <c>mg.example.com</c>.</summary>
    public string Domain { get; set; } = "";

    /// <summary>Private API key (HTTP Basic password, user <c>api</c>).</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>HTTP webhook signing key (not the API key).</summary>
    public string WebhookSigningKey { get; set; } = "";

    /// <summary>Whole-request timeout of one send call.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Returns the configuration problems, empty when the options can be used to send.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            errors.Add("Mailgun:BaseUrl must be an absolute http(s) URL.");
        if (string.IsNullOrWhiteSpace(Domain)) errors.Add("Mailgun:Domain is required.");
        if (string.IsNullOrWhiteSpace(ApiKey)) errors.Add("Mailgun:ApiKey is required.");
        if (Timeout <= TimeSpan.Zero) errors.Add("Mailgun:Timeout must be positive.");
        return errors;
    }
}
