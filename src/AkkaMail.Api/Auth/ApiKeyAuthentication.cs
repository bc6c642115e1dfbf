using System.Security.Claims;
using System.Text.Encodings.Web;
using AkkaMail.Users;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using AkkaMail.Api.Infrastructure;

namespace AkkaMail.Api.Auth;

/// <summary>
/// API keys as bearer tokens: <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c>
/// (and <c>access_token</c> in the query string for the hubs and the SSE stream, where browsers cannot set headers).
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IUserStore users)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminClaim = "akkamail:admin";
    /// <summary>The id of the key that authenticated the request (what a revocation names).</summary>
    public const string KeyIdClaim = "akkamail:key";
    /// <summary>The authorization policy of the admin key's endpoints (no key: 401; another key: 403).</summary>
    public const string AdminPolicy = "admin";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = ReadKey(Request);
        if (key is null) return AuthenticateResult.NoResult();
        if (key.Length > 200) return AuthenticateResult.Fail("invalid API key");
        var user = await users.AuthenticateAsync(key, Context.RequestAborted);
        if (user is null) return AuthenticateResult.Fail("invalid API key");
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, user.UserId),
            new(ClaimTypes.Name, user.Name),
        };
        if (user.IsAdmin) claims.Add(new Claim(AdminClaim, "true"));
        if (user.KeyId is not null) claims.Add(new Claim(KeyIdClaim, user.KeyId));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    private static string? ReadKey(HttpRequest request)
    {
        var auth = request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return auth["Bearer ".Length..].Trim();
        var header = request.Headers["X-Api-Key"].ToString();
        if (!string.IsNullOrWhiteSpace(header)) return header.Trim();
        if ((request.Path.StartsWithSegments("/hubs") || request.Path.StartsWithSegments("/api/emails/stream")) && request.Query.TryGetValue("access_token", out var token))
            return token.ToString();
        return null;
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Results.Problem(
                title: "Unauthorized",
                detail: "A valid API key is required: 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'.",
                statusCode: 401, type: ProblemTypes.Unauthorized)
            .ExecuteAsync(Context);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        await Results.Problem(title: "Forbidden", detail: "This key may not do that.", statusCode: 403, type: ProblemTypes.Forbidden)
            .ExecuteAsync(Context);
    }
}

public static class ClaimsPrincipalExtensions
{
    public static string UserId(this ClaimsPrincipal p) =>
        p.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("not authenticated");

    /// <summary>The id of the API key the caller authenticated with.</summary>
    public static string? KeyId(this ClaimsPrincipal p) => p.FindFirstValue(ApiKeyAuthenticationHandler.KeyIdClaim);

    public static bool IsAdmin(this ClaimsPrincipal p) => p.HasClaim(ApiKeyAuthenticationHandler.AdminClaim, "true");
}
