using System.Security.Claims;
using AkkaMail.Api.Auth;
using Microsoft.AspNetCore.Authorization;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>The one owner-or-admin rule: the owner and the admin may, anyone else (or no one) may not.</summary>
public sealed class OwnerOrAdminTests
{
    private static ClaimsPrincipal Caller(string? userId, bool admin = false)
    {
        if (userId is null) return new ClaimsPrincipal(new ClaimsIdentity());
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, userId) };
        if (admin) claims.Add(new Claim(ApiKeyAuthenticationHandler.AdminClaim, "true"));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, ApiKeyAuthenticationHandler.SchemeName));
    }

    private static async Task<bool> AllowsAsync(ClaimsPrincipal caller, string owner)
    {
        var context = new AuthorizationHandlerContext([OwnerOrAdminRequirement.Instance], caller, new OwnedBy(owner));
        await new OwnerOrAdminHandler().HandleAsync(context);
        return context.HasSucceeded;
    }

    [Fact]
    public async Task The_owner_and_the_admin_may_anyone_else_may_not()
    {
        Assert.True(await AllowsAsync(Caller("alice"), "alice"));
        Assert.True(await AllowsAsync(Caller("root", admin: true), "alice"));
        Assert.False(await AllowsAsync(Caller("mallory"), "alice"));
        Assert.False(await AllowsAsync(Caller(null), "alice"));
        Assert.False(await AllowsAsync(Caller("alice"), "Alice"));
    }
}
