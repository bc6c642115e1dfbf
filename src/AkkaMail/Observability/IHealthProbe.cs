namespace AkkaMail.Observability;

/// <summary>A part that can tell whether it works right now (e.g. a send queue: is its broker connected?).</summary>
public interface IHealthProbe
{
    Task<(bool Healthy, string Detail)> ProbeAsync(CancellationToken ct);
}
