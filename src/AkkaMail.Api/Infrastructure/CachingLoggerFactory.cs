using System.Collections.Concurrent;

namespace AkkaMail.Api;

/// <summary>
/// One logger per category, made once. Serilog's <c>ILoggerFactory</c> builds a new logger (with its own
/// enrichment state) on every <c>CreateLogger</c> call, and ASP.NET calls it for every request in places (results
/// executing, the transient authentication handler): under load that was a new logger per request. Microsoft's
/// own factory caches the same way.
/// </summary>
public sealed class CachingLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    private readonly ConcurrentDictionary<string, ILogger> _loggers = new(StringComparer.Ordinal);

    public ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, inner.CreateLogger);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();
}
