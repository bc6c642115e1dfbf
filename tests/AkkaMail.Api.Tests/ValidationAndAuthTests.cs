using System.Net;
using System.Text;
using Xunit;

namespace AkkaMail.Api.Tests;

public sealed class HostFixture : IAsyncLifetime
{
    public ServiceHost Host { get; private set; } = null!;
    public async Task InitializeAsync() => Host = await ServiceHost.StartAsync();
    public async Task DisposeAsync() => await Host.DisposeAsync();
}

public sealed class ValidationAndAuthTests(HostFixture fixture) : IClassFixture<HostFixture>
{
    private ServiceHost Host => fixture.Host;

    public static TheoryData<string, string> BadFields => new()
    {
        { """{"to":["a@example.com"],"subject":"s","text":"t"}""", "from" },
        { """{"from":"not an address","to":["a@example.com"],"subject":"s","text":"t"}""", "from" },
        { """{"from":"a@example.com","subject":"s","text":"t"}""", "to" },
        { """{"from":"a@example.com","to":[],"subject":"s","text":"t"}""", "to" },
        { """{"from":"a@example.com","to":["nope"],"subject":"s","text":"t"}""", "to[0]" },
        { """{"from":"a@example.com","to":["a@example.com", null],"subject":"s","text":"t"}""", "to[1]" },
        { """{"from":"a@example.com","to":["a@example.com"],"cc":["x"],"subject":"s","text":"t"}""", "cc[0]" },
        { """{"from":"a@example.com","to":["a@example.com"],"bcc":["@b"],"subject":"s","text":"t"}""", "bcc[0]" },
        { """{"from":"a@example.com","to":["a@example.com"],"replyTo":"zz","subject":"s","text":"t"}""", "replyTo" },
        { """{"from":"a@example.com","to":["a@example.com"],"text":"t"}""", "subject" },
        { """{"from":"a@example.com","to":["a@example.com"],"subject":"s"}""", "text" },
        { """{"from":"a@example.com","to":["a@example.com"],"subject":"s","text":"t","tags":["a","b","c","d"]}""", "tags" },
        { """{"from":"a@example.com","to":["a@example.com"],"subject":"s","text":"t","headers":{"Bad Name":"v"}}""", "headers.Bad Name" },
        { """{"from":"a@example.com","to":["a@example.com"],"subject":"s","text":"t","headers":{"From":"v"}}""", "headers.From" },
        { """{"from":"a@example.com","to":["a@example.com"],"subject":"s","text":"t","variables":{"email-id":"x"}}""", "variables.email-id" },
        { """{"from":"a@example.com","to":["a@example.com"],"subject":"s","text":"t","attachments":[{"fileName":"a.txt","content":"***"}]}""", "attachments[0].content" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public async Task Each_bad_field_is_a_400_naming_it(string body, string field)
    {
        using var client = Host.AdminClient();
        var r = await client.PostAsync("/api/emails", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType!.MediaType);
        var problem = await r.ReadJsonAsync();
        Assert.Equal("https://akkamail.dev/problems/validation", problem["type"]!.GetValue<string>());
        Assert.NotNull(problem["errors"]![field]);
    }

    [Fact]
    public async Task Every_bad_field_is_named_at_once()
    {
        using var client = Host.AdminClient();
        var r = await client.PostAsync("/api/emails", new StringContent("""{"from":"x","to":["y"],"tags":[1]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var problem = await r.ReadJsonAsync();
        Assert.Equal("https://akkamail.dev/problems/malformed-json", problem["type"]!.GetValue<string>());

        r = await client.PostAsync("/api/emails", new StringContent("""{"from":"x","to":["y"]}""", Encoding.UTF8, "application/json"));
        var errors = (await r.ReadJsonAsync())["errors"]!.AsObject().Select(kv => kv.Key).ToHashSet();
        Assert.Superset(new HashSet<string> { "from", "to[0]", "subject", "text" }, errors);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("\"just a string\"")]
    [InlineData("{\"to\":\"alice@example.com\"}")]
    [InlineData("{\"subject\":{\"nested\":[1,2,3]}}")]
    public async Task Malformed_json_is_400_not_500(string body)
    {
        using var client = Host.AdminClient();
        var r = await client.PostAsync("/api/emails", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Wrong_content_type_is_415()
    {
        using var client = Host.AdminClient();
        var r = await client.PostAsync("/api/emails", new StringContent("from=a", Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("am_not-a-real-key")]
    [InlineData("")]
    public async Task Requests_without_a_valid_key_are_401(string? key)
    {
        using var client = Host.Client(key);
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail());
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        Assert.Equal("application/problem+json", post.Content.Headers.ContentType!.MediaType);
        var get = await client.GetAsync("/api/emails/anything");
        Assert.Equal(HttpStatusCode.Unauthorized, get.StatusCode);
    }

    [Fact]
    public async Task X_Api_Key_header_works_like_bearer()
    {
        using var client = Host.Client();
        client.DefaultRequestHeaders.Add("X-Api-Key", Host.AdminKey);
        var post = await client.PostJsonAsync("/api/emails", Json.ValidEmail());
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
    }

    [Fact]
    public void Admin_key_file_is_private_and_the_store_keeps_only_its_hash()
    {
        Assert.StartsWith("am_", Host.AdminKey);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Host.DataPath, "admin.key")));
        foreach (var file in Directory.GetFiles(Host.DataPath, "akkamail.db*"))
        {
            using var s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(s, Encoding.Latin1);
            Assert.DoesNotContain(Host.AdminKey, reader.ReadToEnd());
        }
    }
}
