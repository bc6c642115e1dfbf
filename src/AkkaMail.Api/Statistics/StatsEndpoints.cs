using AkkaMail.Api.Auth;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Statistics;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AkkaMail.Api.Statistics;

public static class StatsEndpoints
{
    /// <summary>Most buckets one answer holds (a day of minutes, a month of hours, four years of days).</summary>
    public const int MaxPoints = 1500;

    /// <summary>The <c>userId</c> an admin passes for every user's statistics together.</summary>
    public const string AllUsers = "*";

    public const int MaxTagLength = 200;

    public static RouteGroupBuilder MapStatsEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/stats", GetAsync).WithName("GetStats").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Your statistics over time: `from`, `to` (ISO 8601; default the last day), `bucket` (minute within the last day, " +
                "hour within the last 31 days, day), `tag`; the admin may pass `userId` (`*`: every user). Counts per bucket, rates, provider latency percentiles.");
        return api;
    }

    private static async Task<Results<Ok<StatsResponse>, ValidationProblem, ProblemHttpResult>> GetAsync(
        HttpContext http, IStatisticsStore store, IAuthorizationService authorization, TimeProvider clock,
        DateTimeOffset? from, DateTimeOffset? to, string? bucket, string? tag, string? userId)
    {
        var parsed = StatsBucket.Hour;
        if (bucket is not null && !StatsBuckets.TryParse(bucket, out parsed))
            return Problems.Validation("bucket", "one of minute, hour, day");
        if (tag is { Length: > MaxTagLength }) return Problems.Validation("tag", $"at most {MaxTagLength} characters");
        var now = clock.GetUtcNow();
        var end = (to ?? now).ToUniversalTime();
        var width = StatsBuckets.Width(parsed);
        var start = StatsBuckets.StartOf(parsed, (from ?? end - TimeSpan.FromDays(1)).ToUniversalTime());
        if (start >= end) return Problems.Validation("from", "before to");
        if (StatsBuckets.Kept(parsed) is { } kept && start < StatsBuckets.StartOf(parsed, now - kept))
            return Problems.Validation("bucket", $"{parsed.ToWire()} buckets reach back {kept.TotalDays:0} day(s) from now; use a wider bucket");
        if ((end - start).Ticks / width.Ticks > MaxPoints)
            return Problems.Validation("to", $"at most {MaxPoints} {parsed.ToWire()} buckets between from and to; use a wider bucket");

        var caller = http.User.UserId();
        string? whose = caller;
        if (userId is not null)
        {
            if (userId == AllUsers)
            {
                if (!http.User.IsAdmin()) return Problems.NotFound("user", userId);
                whose = null;
            }
            else if (!await authorization.AllowsAsync(http.User, userId)) return Problems.NotFound("user", userId);
            else whose = userId;
        }
        var query = new StatsQuery(whose, tag ?? "", parsed, start, end);
        var result = await store.QueryAsync(query, http.RequestAborted);
        return TypedResults.Ok(StatsResponse.Of(query, result, whose));
    }
}
