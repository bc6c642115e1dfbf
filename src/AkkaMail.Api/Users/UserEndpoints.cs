using System.Text.Json;
using AkkaMail.Api.Auth;
using AkkaMail.Api.Realtime;
using AkkaMail.Users;

namespace AkkaMail.Api.Users;

public static class UserEndpoints
{
    public sealed record CreateUserRequest(string? Name, string? DefaultFrom);
    public sealed record CreatedUserResponse(string Id, string Name, string? DefaultFrom, string KeyId, string ApiKey);
    public sealed record CreatedKeyResponse(string UserId, string KeyId, string ApiKey);
    public sealed record UserResponse(string Id, string Name, bool IsAdmin, string? DefaultFrom, IReadOnlyList<ApiKeyInfo> Keys);

    public static RouteGroupBuilder MapUserEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/users", CreateAsync).WithName("CreateUser").WithSummary("Create a user (admin key only); its API key is shown once.");
        api.MapGet("/users/me", MeAsync).WithName("GetMe").WithSummary("The user whose key made the request.");
        api.MapPost("/users/{id}/keys", CreateKeyAsync).WithName("CreateKey").WithSummary("Issue another API key (admin, or the user itself).");
        api.MapDelete("/users/{id}/keys/{keyId}", RevokeKeyAsync).WithName("RevokeKey").WithSummary("Revoke a key; it is refused at once, and the real-time connections it opened are closed.");
        return api;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, IUserStore users)
    {
        if (!http.User.IsAdmin()) return Problems.Forbidden("Only the admin key creates users.");
        var (request, error) = await JsonBody.ReadAsync<CreateUserRequest>(http);
        if (error is not null) return error;
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request!.Name) || request.Name.Length > 200) errors["name"] = new[] { "is required, at most 200 characters" };
        if (request.DefaultFrom is not null && !Emails.EmailValidation.IsAddress(request.DefaultFrom))
            errors["defaultFrom"] = new[] { "is not a valid email address" };
        if (errors.Count > 0) return Results.ValidationProblem(errors, title: "The user is not valid", type: ProblemTypes.Validation);
        var created = await users.CreateUserAsync(request.Name!.Trim(), isAdmin: false, request.DefaultFrom?.Trim(), http.RequestAborted);
        return Results.Created($"/api/users/{created.UserId}",
            new CreatedUserResponse(created.UserId, created.Name, request.DefaultFrom?.Trim(), created.KeyId, created.ApiKey));
    }

    private static async Task<IResult> MeAsync(HttpContext http, IUserStore users)
    {
        var user = await users.GetUserAsync(http.User.UserId(), http.RequestAborted);
        if (user is null) return Problems.NotFound("user", http.User.UserId());
        var keys = await users.ListKeysAsync(user.UserId, http.RequestAborted);
        return Results.Ok(new UserResponse(user.UserId, user.Name, user.IsAdmin, user.DefaultFrom, keys));
    }

    private static async Task<IResult> CreateKeyAsync(string id, HttpContext http, IUserStore users)
    {
        // Someone else's user id answers 404, like one that does not exist.
        if (!http.User.IsAdmin() && id != http.User.UserId()) return Problems.NotFound("user", id);
        var key = await users.CreateKeyAsync(id, http.RequestAborted);
        return key is null ? Problems.NotFound("user", id)
            : Results.Created($"/api/users/{id}/keys/{key.KeyId}", new CreatedKeyResponse(id, key.KeyId, key.ApiKey));
    }

    private static async Task<IResult> RevokeKeyAsync(string id, string keyId, HttpContext http, IUserStore users, KeyConnections connections)
    {
        if (!http.User.IsAdmin() && id != http.User.UserId()) return Problems.NotFound("user", id);
        if (!await users.RevokeKeyAsync(id, keyId, http.RequestAborted)) return Problems.NotFound("key", keyId);
        // Its requests are refused from now on; its open hub connections and event streams end now.
        connections.Revoke(id, keyId);
        return Results.NoContent();
    }
}
