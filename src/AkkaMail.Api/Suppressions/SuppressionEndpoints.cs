using AkkaMail.Api.Auth;
using AkkaMail.Suppressions;

namespace AkkaMail.Api.Suppressions;

public static class SuppressionEndpoints
{
    public sealed record SuppressionList(IReadOnlyList<Suppression> Items, string? NextCursor);

    public static RouteGroupBuilder MapSuppressionEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/suppressions", ListAsync).WithName("ListSuppressions")
            .WithSummary("Your suppressed addresses (bounced for good, complained, unsubscribed), by address; `limit`, `cursor`.");
        api.MapGet("/suppressions/{address}", GetAsync).WithName("GetSuppression");
        api.MapDelete("/suppressions/{address}", DeleteAsync).WithName("DeleteSuppression").WithSummary("Lift a suppression.");
        return api;
    }

    private static async Task<IResult> ListAsync(HttpContext http, ISuppressionStore store, int? limit, string? cursor)
    {
        var n = limit ?? 100;
        if (n is < 1 or > 1000) return Problems.Validation("limit", "between 1 and 1000");
        if (cursor is { Length: > 320 }) return Problems.Validation("cursor", "is not a cursor we gave");
        var items = await store.ListAsync(http.User.UserId(), n + 1, cursor, http.RequestAborted);
        var more = items.Count > n;
        var page = more ? items.Take(n).ToList() : items;
        return Results.Ok(new SuppressionList(page, more ? page[^1].Address : null));
    }

    private static async Task<IResult> GetAsync(string address, HttpContext http, ISuppressionStore store)
    {
        var s = address.Length <= 320 ? await store.GetAsync(http.User.UserId(), address, http.RequestAborted) : null;
        return s is null ? Problems.NotFound("suppression", address) : Results.Ok(s);
    }

    private static async Task<IResult> DeleteAsync(string address, HttpContext http, ISuppressionStore store) =>
        address.Length <= 320 && await store.RemoveAsync(http.User.UserId(), address, http.RequestAborted)
            ? Results.NoContent()
            : Problems.NotFound("suppression", address);
}
