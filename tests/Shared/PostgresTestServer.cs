using Npgsql;

namespace AkkaMail.Tests.Postgres;

/// <summary>
/// The PostgreSQL server the tests run on: <c>AKKAMAIL_TEST_POSTGRES</c> (an Npgsql connection string of a role allowed
/// to create databases), else the one <c>test.sh</c> sets up on 127.0.0.1 (role and password <c>akkamail</c>). Tests
/// never skip for want of it: the test command installs and starts it. Each test class (or test) works in a database of
/// its own with a unique name, dropped afterwards, so test projects and classes run in parallel.
/// </summary>
/// <remarks>One source file linked into every test project that needs the server.</remarks>
public static class PostgresTestServer
{
    public const string EnvironmentVariable = "AKKAMAIL_TEST_POSTGRES";

    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Username=akkamail;Password=akkamail;Database=postgres";

    public static string AdminConnectionString { get; } =
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } cs ? cs : DefaultConnectionString;

    /// <summary>Creates an empty database named <paramref name="prefix"/> + a unique suffix; returns its connection string.</summary>
    public static string CreateDatabase(string prefix, out string name)
    {
        name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)];
        try
        {
            using var connection = new NpgsqlConnection(AdminConnectionString);
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            command.ExecuteNonQuery();
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException)
        {
            throw new InvalidOperationException(
                $"PostgreSQL is not reachable with {EnvironmentVariable} or the default ({Describe(AdminConnectionString)}): " +
                $"run ./test.sh, which installs and starts it, or set {EnvironmentVariable}. {e.Message}", e);
        }
        // Small pools whose idle connections close soon: test classes run in parallel, and other test runs may share the
        // server's connection limit (100 by default).
        return new NpgsqlConnectionStringBuilder(AdminConnectionString)
        {
            Database = name,
            MaxPoolSize = 20,
            ConnectionIdleLifetime = 10,
            ConnectionPruningInterval = 5,
        }.ConnectionString;
    }

    /// <summary>Drops the database, closing whatever connections are still open on it.</summary>
    public static void DropDatabase(string name)
    {
        // The test's own pooled connections first; then FORCE ends what else is connected (a role without
        // pg_signal_backend cannot end a server process of another role, e.g. autovacuum: retried a few times).
        NpgsqlConnection.ClearAllPools();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var connection = new NpgsqlConnection(AdminConnectionString);
                connection.Open();
                using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                command.ExecuteNonQuery();
                return;
            }
            catch (PostgresException e) when (e.SqlState is "42501" or "55006" && attempt < 10)
            {
                Thread.Sleep(500);
            }
        }
    }

    private static string Describe(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"Host={b.Host};Port={b.Port};Username={b.Username};Database={b.Database}";
    }
}

/// <summary>A database of its own for one test class or test, dropped on dispose.</summary>
public sealed class PostgresTestDatabase : IDisposable
{
    public PostgresTestDatabase() : this("akkamail_test") { }

    public PostgresTestDatabase(string prefix) => ConnectionString = PostgresTestServer.CreateDatabase(prefix, out _name);

    private readonly string _name;

    public string Name => _name;

    public string ConnectionString { get; }

    public void Dispose() => PostgresTestServer.DropDatabase(_name);
}
