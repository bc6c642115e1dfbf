using AkkaMail.Api.Auth;
using AkkaMail.Api.Infrastructure;
using AkkaMail.ReadModel;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AkkaMail.Api.Storage;

/// <summary>What the service stores, per user and in total (the admin only): the read model's storage figures
/// (<see cref="StorageFiguresCache"/>) and the bytes on disk.</summary>
public static class StorageEndpoints
{
    public static RouteGroupBuilder MapStorageEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/admin/storage", GetAsync).WithName("GetStorage").ProducesProblem(StatusCodes.Status403Forbidden)
            .WithSummary("Storage (admin): emails and bytes in total and for the users holding the most (`limit`, default 50), " +
                "bodies held and removed by retention, envelopes, bytes on disk by part.");
        return api;
    }

    private static async Task<Results<Ok<StorageResponse>, ValidationProblem, ProblemHttpResult>> GetAsync(
        HttpContext http, StorageFiguresCache figures, int? limit)
    {
        if (!http.User.IsAdmin()) return Problems.Forbidden("Only the admin key reads the storage figures.");
        var n = limit ?? 50;
        if (n is < 1 or > 1000) return Problems.Validation("limit", "between 1 and 1000");
        return TypedResults.Ok(StorageResponse.Of(await figures.GetAsync(http.RequestAborted), n));
    }
}
