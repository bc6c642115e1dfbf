using AkkaMail.Templates;
using Xunit;

namespace AkkaMail.Stores.Tests;

/// <summary>What every <see cref="ITemplateStore"/> must do. Each test works on a fresh, empty store.</summary>
public abstract class TemplateStoreContract(IStoreBackend backend)
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, 123, TimeSpan.Zero);
    private static TemplateDefinition Def(string subject, string? text = "Hi {{ name }}", string? html = null, bool strict = true) =>
        new(subject, text, html, strict);

    private async Task<ITemplateStore> NewStoreAsync()
    {
        Skip.IfNot(backend.IsAvailable, backend.SkipReason);
        var store = backend.NewTemplateStore();
        await store.InitializeAsync();
        await store.InitializeAsync(); // idempotent
        return store;
    }

    [SkippableFact]
    public async Task Created_template_is_version_one_and_reads_back_exactly()
    {
        var store = await NewStoreAsync();
        var def = Def("Order {{ id }}", "text ✓ {{ id }}", "<p>{{ id }}</p>", strict: false);
        var created = await store.CreateAsync("u1", "order-shipped", def, T0);
        Assert.Equal(new StoredTemplate("order-shipped", 1, def, T0, T0), created);
        Assert.Equal(created, await store.GetAsync("u1", "order-shipped"));
        Assert.Equal(created, await store.GetAsync("u1", "order-shipped", 1));
        Assert.Null(await store.GetAsync("u1", "order-shipped", 2));
        Assert.Null(await store.GetAsync("u1", "ORDER-SHIPPED"));
        // Another user's template of the same name is another template.
        Assert.Null(await store.GetAsync("u2", "order-shipped"));
        Assert.NotNull(await store.CreateAsync("u2", "order-shipped", Def("theirs"), T0));
        Assert.Equal("Order {{ id }}", (await store.GetAsync("u1", "order-shipped"))!.Definition.Subject);
    }

    [SkippableFact]
    public async Task A_name_is_created_once_and_updates_add_versions_that_stay_readable()
    {
        var store = await NewStoreAsync();
        await store.CreateAsync("u1", "welcome", Def("v1"), T0);
        Assert.Null(await store.CreateAsync("u1", "welcome", Def("again"), T0.AddSeconds(1)));
        var v2 = await store.AddVersionAsync("u1", "welcome", Def("v2", html: "<b>2</b>"), T0.AddSeconds(2));
        var v3 = await store.AddVersionAsync("u1", "welcome", Def("v3", text: null, html: "<b>3</b>"), T0.AddSeconds(3));
        Assert.Equal(2, v2!.Version);
        Assert.Equal(3, v3!.Version);
        Assert.Equal(T0, v3.CreatedAt);
        Assert.Equal(T0.AddSeconds(3), v3.VersionCreatedAt);
        Assert.Equal(v3, await store.GetAsync("u1", "welcome"));
        Assert.Equal("v1", (await store.GetAsync("u1", "welcome", 1))!.Definition.Subject);
        Assert.Equal(v2, await store.GetAsync("u1", "welcome", 2));
        Assert.Null(await store.AddVersionAsync("u1", "nothing", Def("x"), T0));
        Assert.Null(await store.AddVersionAsync("u2", "welcome", Def("x"), T0));
    }

    [SkippableFact]
    public async Task Concurrent_updates_get_distinct_consecutive_versions()
    {
        var store = await NewStoreAsync();
        await store.CreateAsync("u1", "busy", Def("v1"), T0);
        var added = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => store.AddVersionAsync("u1", "busy", Def($"s{i}"), T0.AddSeconds(i))));
        Assert.Equal(Enumerable.Range(2, 10), added.Select(a => a!.Version).Order());
        Assert.Equal(11, (await store.GetAsync("u1", "busy"))!.Version);
    }

    [SkippableFact]
    public async Task A_deleted_template_is_gone_and_its_name_comes_back_with_the_next_version()
    {
        var store = await NewStoreAsync();
        await store.CreateAsync("u1", "promo", Def("v1"), T0);
        await store.AddVersionAsync("u1", "promo", Def("v2"), T0.AddSeconds(1));
        Assert.True(await store.DeleteAsync("u1", "promo"));
        Assert.False(await store.DeleteAsync("u1", "promo"));
        Assert.False(await store.DeleteAsync("u2", "promo"));
        Assert.Null(await store.GetAsync("u1", "promo"));
        Assert.Null(await store.GetAsync("u1", "promo", 1));
        Assert.Null(await store.AddVersionAsync("u1", "promo", Def("x"), T0));
        Assert.Empty(await store.ListAsync("u1", 10));
        // (name, version) never names two contents: an email that recorded promo v2 still means the old v2.
        var again = await store.CreateAsync("u1", "promo", Def("new"), T0.AddSeconds(5));
        Assert.Equal(3, again!.Version);
        Assert.Equal(T0.AddSeconds(5), again.CreatedAt);
        Assert.Equal(again, await store.GetAsync("u1", "promo"));
    }

    [SkippableFact]
    public async Task The_list_is_the_latest_version_of_each_of_the_user_s_templates_by_name()
    {
        var store = await NewStoreAsync();
        foreach (var name in new[] { "c", "a", "b", "d" }) await store.CreateAsync("u1", name, Def(name), T0);
        await store.AddVersionAsync("u1", "b", Def("b2"), T0.AddSeconds(1));
        await store.DeleteAsync("u1", "d");
        await store.CreateAsync("u2", "zz", Def("other user"), T0);
        var list = await store.ListAsync("u1", 10);
        Assert.Equal(new[] { "a", "b", "c" }, list.Select(t => t.Name));
        Assert.Equal(new[] { 1, 2, 1 }, list.Select(t => t.Version));
        Assert.Equal("b2", list[1].Definition.Subject);
        Assert.Equal(new[] { "a", "b" }, (await store.ListAsync("u1", 2)).Select(t => t.Name));
    }
}

public sealed class SqliteTemplateStoreContract(SqliteBackend backend) : TemplateStoreContract(backend), IClassFixture<SqliteBackend>;

public sealed class MongoDbTemplateStoreContract(MongoDbBackend backend) : TemplateStoreContract(backend), IClassFixture<MongoDbBackend>;

public sealed class PostgresTemplateStoreContract(PostgresBackend backend) : TemplateStoreContract(backend), IClassFixture<PostgresBackend>;
