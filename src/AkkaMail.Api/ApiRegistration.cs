using AkkaMail.Api.Auth;
using AkkaMail.Api.Emails;

namespace AkkaMail.Api;

/// <summary>What the REST endpoints need beside their handlers: the owner-or-admin rule, and the OpenAPI document.</summary>
public static class ApiRegistration
{
    public static IServiceCollection AddApiEndpoints(this IServiceCollection services)
    {
        services.AddOwnerOrAdminRule();
        services.AddScoped<EmailAccess>();
        services.AddOpenApi();
        return services;
    }

    /// <summary>
    /// The answer every endpoint behind an API key may give before its handler runs: 401 problem details when the key
    /// is missing, unknown or revoked.
    /// </summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder endpoints) where TBuilder : IEndpointConventionBuilder =>
        endpoints.RequireAuthorization().ProducesProblem(StatusCodes.Status401Unauthorized);
}
