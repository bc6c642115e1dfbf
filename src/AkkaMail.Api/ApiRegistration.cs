using AkkaMail.Api.Auth;
using AkkaMail.Api.Emails;
using Microsoft.AspNetCore.Authorization;
using Microsoft.OpenApi;

namespace AkkaMail.Api;

/// <summary>What the REST endpoints need beside their handlers: the owner-or-admin rule, and the OpenAPI document.</summary>
public static class ApiRegistration
{
    /// <summary>The document's names of the two ways to present an API key.</summary>
    public const string BearerScheme = "bearer";
    public const string HeaderScheme = "apiKeyHeader";

    public static IServiceCollection AddApiEndpoints(this IServiceCollection services)
    {
        services.AddOwnerOrAdminRule();
        services.AddScoped<EmailAccess>();
        services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "An API key: `Authorization: Bearer <key>`.",
                };
                document.Components.SecuritySchemes[HeaderScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = "X-Api-Key", Description = "An API key: `X-Api-Key: <key>`.",
                };
                return Task.CompletedTask;
            });
            // Each operation that needs a key says so (either header); the anonymous webhook says nothing.
            o.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                if (!metadata.OfType<IAuthorizeData>().Any() || metadata.OfType<IAllowAnonymous>().Any()) return Task.CompletedTask;
                operation.Security =
                [
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] },
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(HeaderScheme, context.Document)] = [] },
                ];
                return Task.CompletedTask;
            });
        });
        return services;
    }

    /// <summary>
    /// The answer every endpoint behind an API key may give before its handler runs: 401 problem details when the key
    /// is missing, unknown or revoked.
    /// </summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder endpoints) where TBuilder : IEndpointConventionBuilder =>
        endpoints.RequireAuthorization().ProducesProblem(StatusCodes.Status401Unauthorized);
}
