using AkkaMail.Users;

namespace AkkaMail.Api.Users;

/// <summary>POST /api/users: the new user and its first API key, the only time the key is shown.</summary>
public sealed record CreatedUserResponse(string Id, string Name, string? DefaultFrom, string KeyId, string ApiKey);

/// <summary>POST /api/users/{id}/keys: a new key, the only time it is shown.</summary>
public sealed record CreatedKeyResponse(string UserId, string KeyId, string ApiKey);

/// <summary>GET /api/users/me: the caller and its keys (ids and dates; a key itself is stored only as a hash).</summary>
public sealed record UserResponse(string Id, string Name, bool IsAdmin, string? DefaultFrom, IReadOnlyList<ApiKeyResponse> Keys);

public sealed record ApiKeyResponse(string KeyId, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt)
{
    public static ApiKeyResponse Of(ApiKeyInfo key) => new(key.KeyId, key.CreatedAt, key.RevokedAt);
}

/// <summary>GET /api/users: one page of users by id; <c>nextCursor</c>, passed as <c>after</c>, asks for the next page
/// (null on the last).</summary>
public sealed record UserListResponse(IReadOnlyList<UserSummaryResponse> Items, string? NextCursor);

/// <summary>One user in the admin's list: how many unrevoked keys it has, never the keys.</summary>
public sealed record UserSummaryResponse(string Id, string Name, bool IsAdmin, string? DefaultFrom, DateTimeOffset CreatedAt, int ActiveKeys)
{
    public static UserSummaryResponse Of(UserSummary user) =>
        new(user.UserId, user.Name, user.IsAdmin, user.DefaultFrom, user.CreatedAt, user.ActiveKeys);
}
