using System.Threading.RateLimiting;
using AkkaMail.Api.Auth;
using Microsoft.AspNetCore.RateLimiting;

namespace AkkaMail.Api;

/// <summary>
/// Per-user limit on sending: a token bucket per API user (configuration <c>AkkaMail:RateLimit:PerSecond</c> and
/// <c>:Burst</c>). Over it: 429 problem details with Retry-After.
/// </summary>
public static class RateLimits
{
    public const string SendPolicy = "send";

    public sealed class Options
    {
        public int PerSecond { get; set; } = 1000;
        public int Burst { get; set; } = 2000;
    }

    public static IServiceCollection AddSendRateLimit(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("AkkaMail:RateLimit").Get<Options>() ?? new Options();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(SendPolicy, http => RateLimitPartition.GetTokenBucketLimiter(
                http.User.Identity?.IsAuthenticated == true ? http.User.UserId() : "anonymous",
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, options.Burst),
                    TokensPerPeriod = Math.Max(1, options.PerSecond),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            o.OnRejected = async (ctx, ct) =>
            {
                var retryAfter = ctx.Lease.TryGetMetadata(MetadataName.RetryAfter, out var ra) ? ra : TimeSpan.FromSeconds(1);
                ctx.HttpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
                await Results.Problem(statusCode: 429, title: "Too many requests", type: ProblemTypes.RateLimited,
                    detail: $"This user may send {options.PerSecond} emails per second (bursts of {options.Burst}); retry after the Retry-After seconds.")
                    .ExecuteAsync(ctx.HttpContext);
            };
        });
        return services;
    }
}
