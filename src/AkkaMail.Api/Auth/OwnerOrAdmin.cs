using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using AkkaMail.Api.Infrastructure;

namespace AkkaMail.Api.Auth;

/// <summary>Something that belongs to one user: an email (its sender), a user's keys (the user).</summary>
public sealed record OwnedBy(string UserId);

/// <summary>
/// The one rule of who may see or act on what a user owns: that user, or the admin. Every email route, the SSE stream,
/// the hub and the key routes go through it (<see cref="OwnerOrAdmin.AllowsAsync"/>); anyone else is answered as if
/// the thing did not exist (404), so a user cannot learn which ids of others exist.
/// </summary>
public sealed class OwnerOrAdminRequirement : IAuthorizationRequirement
{
    public static readonly OwnerOrAdminRequirement Instance = new();

    private OwnerOrAdminRequirement() { }
}

public sealed class OwnerOrAdminHandler : AuthorizationHandler<OwnerOrAdminRequirement, OwnedBy>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, OwnerOrAdminRequirement requirement, OwnedBy resource)
    {
        if (context.User.IsAdmin() || context.User.FindFirstValue(ClaimTypes.NameIdentifier) == resource.UserId)
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

public static class OwnerOrAdmin
{
    public static IServiceCollection AddOwnerOrAdminRule(this IServiceCollection services) =>
        services.AddSingleton<IAuthorizationHandler, OwnerOrAdminHandler>();

    /// <summary>Whether <paramref name="caller"/> may see or act on what <paramref name="ownerUserId"/> owns.</summary>
    public static async Task<bool> AllowsAsync(this IAuthorizationService authorization, ClaimsPrincipal caller, string ownerUserId) =>
        (await authorization.AuthorizeAsync(caller, new OwnedBy(ownerUserId), OwnerOrAdminRequirement.Instance)).Succeeded;

    /// <summary>
    /// Runs the endpoint only when the caller owns the user named by the route value <paramref name="userIdRouteValue"/>
    /// (or is the admin); anyone else gets the 404 of a user that does not exist.
    /// </summary>
    public static RouteHandlerBuilder RequireOwnerOrAdmin(this RouteHandlerBuilder endpoint, string userIdRouteValue) =>
        endpoint.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var userId = http.GetRouteValue(userIdRouteValue) as string ?? "";
            var authorization = http.RequestServices.GetRequiredService<IAuthorizationService>();
            return await authorization.AllowsAsync(http.User, userId) ? await next(context) : Problems.NotFound("user", userId);
        }).ProducesProblem(StatusCodes.Status404NotFound);
}
