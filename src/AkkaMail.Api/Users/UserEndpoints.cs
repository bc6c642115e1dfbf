using AkkaMail.Api.Auth;
using AkkaMail.Api.Realtime;
using AkkaMail.Users;
using Microsoft.AspNetCore.Http.HttpResults;
using AkkaMail.Api.Infrastructure;

namespace AkkaMail.Api.Users;

public static class UserEndpoints
{
    public sealed record CreateUserRequest(string? Name, string? DefaultFrom);

    public const int MaxListLimit = 200;
    /// <summary>Longer than any id we make: a longer cursor is not one we gave.</summary>
    private const int MaxCursorLength = 200;

    public static RouteGroupBuilder MapUserEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/users", CreateAsync).WithName("CreateUser").Accepts<CreateUserRequest>("application/json")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Create a user (admin key only); its API key is shown once.");
        api.MapGet("/users", ListAsync).WithName("ListUsers").ProducesProblem(StatusCodes.Status403Forbidden)
            .WithSummary($"Users by id (admin key only), with how many active keys each has; limit (≤ {MaxListLimit}), " +
                "after (the nextCursor of the page before).");
        api.MapGet("/users/me", MeAsync).WithName("GetMe").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("The user whose key made the request.");
        // Another user's id answers 404, like one that does not exist (the owner-or-admin rule).
        api.MapPost("/users/{id}/keys", CreateKeyAsync).WithName("CreateKey").RequireOwnerOrAdmin("id")
            .WithSummary("Issue another API key (admin, or the user itself).");
        api.MapDelete("/users/{id}/keys/{keyId}", RevokeKeyAsync).WithName("RevokeKey").RequireOwnerOrAdmin("id")
            .WithSummary("Revoke a key; it is refused at once, and the real-time connections it opened are closed.");
        return api;
    }

    private static async Task<Results<Created<CreatedUserResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        HttpContext http, IUserStore users)
    {
        if (!http.User.IsAdmin()) return Problems.Forbidden("Only the admin key creates users.");
        var (request, error) = await JsonBody.ReadAsync<CreateUserRequest>(http);
        if (error is not null) return error;
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request!.Name) || request.Name.Length > 200) errors["name"] = new[] { "is required, at most 200 characters" };
        if (request.DefaultFrom is not null && !Emails.EmailValidation.IsAddress(request.DefaultFrom))
            errors["defaultFrom"] = new[] { "is not a valid email address" };
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The user is not valid", type: ProblemTypes.Validation);
        var created = await users.CreateUserAsync(request.Name!.Trim(), isAdmin: false, request.DefaultFrom?.Trim(), http.RequestAborted);
        return TypedResults.Created($"/api/users/{created.UserId}",
            new CreatedUserResponse(created.UserId, created.Name, request.DefaultFrom?.Trim(), created.KeyId, created.ApiKey));
    }

    private static async Task<Results<Ok<UserListResponse>, ValidationProblem, ProblemHttpResult>> ListAsync(
        HttpContext http, IUserStore users, int? limit, string? after)
    {
        if (!http.User.IsAdmin()) return Problems.Forbidden("Only the admin key lists users.");
        var n = limit ?? 50;
        if (n is < 1 or > MaxListLimit) return Problems.Validation("limit", $"between 1 and {MaxListLimit}");
        if (after is { Length: > MaxCursorLength }) return Problems.Validation("after", "is not a cursor we gave");
        // One more than the page: a next page exists exactly when it comes back.
        var listed = await users.ListUsersAsync(n + 1, string.IsNullOrEmpty(after) ? null : after, http.RequestAborted);
        var more = listed.Count > n;
        var page = more ? listed.Take(n).ToList() : listed;
        return TypedResults.Ok(new UserListResponse(page.Select(UserSummaryResponse.Of).ToArray(), more ? page[^1].UserId : null));
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> MeAsync(HttpContext http, IUserStore users)
    {
        var user = await users.GetUserAsync(http.User.UserId(), http.RequestAborted);
        if (user is null) return Problems.NotFound("user", http.User.UserId());
        var keys = await users.ListKeysAsync(user.UserId, http.RequestAborted);
        return TypedResults.Ok(new UserResponse(user.UserId, user.Name, user.IsAdmin, user.DefaultFrom,
            keys.Select(ApiKeyResponse.Of).ToArray()));
    }

    private static async Task<Results<Created<CreatedKeyResponse>, ProblemHttpResult>> CreateKeyAsync(
        string id, HttpContext http, IUserStore users)
    {
        var key = await users.CreateKeyAsync(id, http.RequestAborted);
        return key is null ? Problems.NotFound("user", id)
            : TypedResults.Created($"/api/users/{id}/keys/{key.KeyId}", new CreatedKeyResponse(id, key.KeyId, key.ApiKey));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(
        string id, string keyId, HttpContext http, IUserStore users, KeyConnections connections)
    {
        if (!await users.RevokeKeyAsync(id, keyId, http.RequestAborted)) return Problems.NotFound("key", keyId);
        // Its requests are refused from now on; its open hub connections and event streams end now.
        connections.Revoke(id, keyId);
        return TypedResults.NoContent();
    }
}
