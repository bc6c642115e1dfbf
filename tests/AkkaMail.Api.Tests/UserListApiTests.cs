using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace AkkaMail.Api.Tests;

/// <summary>GET /api/users over real HTTP: the admin key lists every stored user by id, a page at a time through
/// <c>nextCursor</c>; a user's key is refused; a bad limit or cursor is a 400.</summary>
public sealed class UserListApiTests : IAsyncLifetime
{
    private ServiceHost _host = null!;

    public async Task InitializeAsync() => _host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task The_admin_lists_users_page_by_page_and_a_user_is_refused()
    {
        using var admin = _host.AdminClient();
        // The admin user made at first start is listed too.
        var adminId = (await (await admin.GetAsync("/api/users/me")).ReadJsonAsync())["id"]!.GetValue<string>();
        var created = new List<(string Id, string Name, string Key)>();
        foreach (var name in new[] { "ann", "ben", "cid", "dot", "eve" })
        {
            var r = await admin.PostJsonAsync("/api/users", new { name, defaultFrom = name == "ann" ? "Ann <ann@example.com>" : null });
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            var body = await r.ReadJsonAsync();
            created.Add((body["id"]!.GetValue<string>(), name, body["apiKey"]!.GetValue<string>()));
        }
        using (var ann = _host.Client(created[0].Key))
            Assert.Equal(HttpStatusCode.Created, (await ann.PostAsync($"/api/users/{created[0].Id}/keys", null)).StatusCode);

        // Pages of two: every user once, in id order, the last page without a cursor.
        var listed = new List<JsonObject>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var r = await admin.GetAsync("/api/users?limit=2" + (cursor is null ? "" : $"&after={Uri.EscapeDataString(cursor)}"));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var page = (await r.ReadJsonAsync()).AsObject();
            var items = page["items"]!.AsArray().Select(i => i!.AsObject()).ToList();
            Assert.InRange(items.Count, 1, 2);
            listed.AddRange(items);
            cursor = page["nextCursor"]?.GetValue<string>();
            Assert.True(++pages <= 10, "the cursor does not end");
        } while (cursor is not null);
        Assert.Equal(3, pages); // the admin and five users, in pages of two
        var ids = listed.Select(u => u["id"]!.GetValue<string>()).ToList();
        Assert.Equal(created.Select(c => c.Id).Append(adminId).Order(StringComparer.Ordinal), ids);
        Assert.True(listed.Single(u => u["id"]!.GetValue<string>() == adminId)["isAdmin"]!.GetValue<bool>());

        var ann1 = listed.Single(u => u["id"]!.GetValue<string>() == created[0].Id);
        Assert.Equal("ann", ann1["name"]!.GetValue<string>());
        Assert.Equal("Ann <ann@example.com>", ann1["defaultFrom"]!.GetValue<string>());
        Assert.False(ann1["isAdmin"]!.GetValue<bool>());
        Assert.Equal(2, ann1["activeKeys"]!.GetValue<int>());
        Assert.InRange(ann1["createdAt"]!.GetValue<DateTimeOffset>(), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        var ben = listed.Single(u => u["id"]!.GetValue<string>() == created[1].Id);
        Assert.Null(ben["defaultFrom"]);
        Assert.Equal(1, ben["activeKeys"]!.GetValue<int>());
        // Never a key or its hash.
        Assert.All(listed, u => Assert.Equal(new[] { "id", "name", "isAdmin", "defaultFrom", "createdAt", "activeKeys" }, u.Select(p => p.Key)));

        // Without a limit: all six on one page, no cursor.
        var all = (await (await admin.GetAsync("/api/users")).ReadJsonAsync()).AsObject();
        Assert.Equal(ids, all["items"]!.AsArray().Select(u => u!["id"]!.GetValue<string>()));
        Assert.Null(all["nextCursor"]);

        using var user = _host.Client(created[1].Key);
        var refused = await user.GetAsync("/api/users");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        using var anonymous = _host.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/users")).StatusCode);

        foreach (var bad in new[] { "limit=0", "limit=201", "limit=-1", $"after={new string('x', 201)}" })
        {
            var r = await admin.GetAsync($"/api/users?{bad}");
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.NotNull((await r.ReadJsonAsync())["errors"]);
        }
    }
}
