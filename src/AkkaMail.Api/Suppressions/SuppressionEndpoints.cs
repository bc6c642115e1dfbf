using AkkaMail.Api.Auth;
using AkkaMail.Suppressions;
using Microsoft.AspNetCore.Http.HttpResults;
using AkkaMail.Api.Infrastructure;

namespace AkkaMail.Api.Suppressions;

public static class SuppressionEndpoints
{
    public const int MaxAddressLength = 320;

    public static RouteGroupBuilder MapSuppressionEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/suppressions", ListAsync).WithName("ListSuppressions")
            .WithSummary("Your suppressed addresses (bounced for good, complained, unsubscribed), by address; `limit`, `cursor`.");
        api.MapGet("/suppressions/{address}", GetAsync).WithName("GetSuppression").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("One suppressed address of yours.");
        api.MapDelete("/suppressions/{address}", DeleteAsync).WithName("DeleteSuppression").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Lift a suppression.");
        return api;
    }

    private static async Task<Results<Ok<SuppressionListResponse>, ValidationProblem>> ListAsync(
        HttpContext http, ISuppressionStore store, int? limit, string? cursor)
    {
        var n = limit ?? 100;
        if (n is < 1 or > 1000) return Problems.Validation("limit", "between 1 and 1000");
        if (cursor is { Length: > MaxAddressLength }) return Problems.Validation("cursor", "is not a cursor we gave");
        var items = await store.ListAsync(http.User.UserId(), n + 1, cursor, http.RequestAborted);
        var more = items.Count > n;
        var page = more ? items.Take(n).ToList() : items;
        return TypedResults.Ok(new SuppressionListResponse(page.Select(SuppressionResponse.Of).ToArray(), more ? page[^1].Address : null));
    }

    private static async Task<Results<Ok<SuppressionResponse>, ProblemHttpResult>> GetAsync(
        string address, HttpContext http, ISuppressionStore store)
    {
        var s = address.Length <= MaxAddressLength ? await store.GetAsync(http.User.UserId(), address, http.RequestAborted) : null;
        return s is null ? Problems.NotFound("suppression", address) : TypedResults.Ok(SuppressionResponse.Of(s));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string address, HttpContext http, ISuppressionStore store) =>
        address.Length <= MaxAddressLength && await store.RemoveAsync(http.User.UserId(), address, http.RequestAborted)
            ? TypedResults.NoContent()
            : Problems.NotFound("suppression", address);
}
