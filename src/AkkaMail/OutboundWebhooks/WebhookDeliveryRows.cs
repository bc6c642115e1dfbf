using System.Data.Common;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// Deliveries as the relational stores (SQLite, PostgreSQL) select them: the columns id, endpoint, email, ordering,
/// event id, type, payload, created, status, attempts, next attempt, first attempt, last attempt, last status code, last
/// response, last error, in that order; times as Unix milliseconds.
/// </summary>
internal static class WebhookDeliveryRows
{
    public static async Task<IReadOnlyList<WebhookDelivery>> ReadAsync(DbCommand cmd, CancellationToken ct)
    {
        var list = new List<WebhookDelivery>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new WebhookDelivery(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetString(5),
                r.GetString(6), Time(r.GetInt64(7)))
            {
                Status = (WebhookDeliveryStatus)r.GetInt32(8),
                Attempts = r.GetInt32(9),
                NextAttemptAt = Time(r.GetInt64(10)),
                FirstAttemptAt = r.IsDBNull(11) ? null : Time(r.GetInt64(11)),
                LastAttemptAt = r.IsDBNull(12) ? null : Time(r.GetInt64(12)),
                LastStatusCode = r.IsDBNull(13) ? null : r.GetInt32(13),
                LastResponse = r.IsDBNull(14) ? null : r.GetString(14),
                LastError = r.IsDBNull(15) ? null : r.GetString(15),
            });
        return list;
    }

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
