using System.Threading.RateLimiting;
using AkkaMail.Api.Auth;
using Microsoft.AspNetCore.RateLimiting;

namespace AkkaMail.Api.Infrastructure;

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
        var failures = new List<string>();
        var options = AkkaMail.Configuration.AkkaMailConfiguration.Bind<Options>(configuration.GetSection("AkkaMail:RateLimit"), failures);
        if (options.PerSecond < 1) failures.Add($"AkkaMail:RateLimit:PerSecond: must be at least 1, is {options.PerSecond}");
        if (options.Burst < 1) failures.Add($"AkkaMail:RateLimit:Burst: must be at least 1, is {options.Burst}");
        AkkaMail.Configuration.AkkaMailConfiguration.ThrowIfAny<Options>(failures);
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(SendPolicy, http => RateLimitPartition.GetTokenBucketLimiter(
                http.User.Identity?.IsAuthenticated == true ? http.User.UserId() : "anonymous",
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.Burst,
                    TokensPerPeriod = options.PerSecond,
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
