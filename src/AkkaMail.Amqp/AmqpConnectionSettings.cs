using RabbitMQ.Client;

namespace AkkaMail.Amqp;

/// Connection parameters. Either the individual fields or an amqp:// URI (the URI wins when set).
/// AutomaticRecovery defaults to OFF: this library recovers by restarting whole stages
/// (RestartSource/RestartFlow, see AmqpSource.CommittableWithRestart). Combining both mechanisms
/// can leave duplicate consumers behind, so turn it on only for connections you use outside these stages.
public sealed record AmqpConnectionSettings
{
    public string HostName { get; init; } = "localhost";
    public int Port { get; init; } = AmqpTcpEndpoint.UseDefaultPort;
    public string UserName { get; init; } = "guest";
    public string Password { get; init; } = "guest";
    public string VirtualHost { get; init; } = "/";
    public Uri? Uri { get; init; }
    public string? ClientProvidedName { get; init; }
    public bool AutomaticRecovery { get; init; }
    public TimeSpan RequestedHeartbeat { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan ConnectionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static AmqpConnectionSettings Default { get; } = new();

    public static AmqpConnectionSettings FromUri(string uri, string? clientProvidedName = null) =>
        new() { Uri = new Uri(uri), ClientProvidedName = clientProvidedName };

    public ConnectionFactory CreateFactory()
    {
        var factory = new ConnectionFactory
        {
            AutomaticRecoveryEnabled = AutomaticRecovery,
            TopologyRecoveryEnabled = AutomaticRecovery,
            RequestedHeartbeat = RequestedHeartbeat,
            RequestedConnectionTimeout = ConnectionTimeout,
            ClientProvidedName = ClientProvidedName,
        };
        if (Uri is not null)
        {
            factory.Uri = Uri;
        }
        else
        {
            factory.HostName = HostName;
            factory.Port = Port;
            factory.UserName = UserName;
            factory.Password = Password;
            factory.VirtualHost = VirtualHost;
        }
        return factory;
    }

    public Task<IConnection> CreateConnectionAsync(CancellationToken cancellationToken = default) =>
        CreateFactory().CreateConnectionAsync(cancellationToken);

    // Never print the password.
    public override string ToString() =>
        Uri is not null
            ? $"AmqpConnectionSettings({Uri.Scheme}://{Uri.Host}:{Uri.Port}{Uri.AbsolutePath})"
            : $"AmqpConnectionSettings({HostName}:{Port}, vhost={VirtualHost}, user={UserName})";
}
