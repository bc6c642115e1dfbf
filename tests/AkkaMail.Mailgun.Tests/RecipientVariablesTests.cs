using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AkkaMail.MailgunFake;

namespace AkkaMail.Mailgun.Tests;

/// <summary>Batch sending: the client's recipient-variables field, and the fake reading it as Mailgun does.</summary>
public sealed class RecipientVariablesTests : IAsyncLifetime
{
    private MailgunFakeServer _fake = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { Domain = "mg.akkamail.test", ApiKey = "key-secret", Seed = 1 });

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        _http.Dispose();
    }

    private MailgunClient Client() => new(_http, _fake.ClientOptions());

    private static MailgunMessage Batch(IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? recipientVariables) => new()
    {
        From = "AkkaMail <noreply@mg.akkamail.test>",
        To = ["Ann <ann@example.com>", "bob@example.com"],
        Subject = "Hi %recipient.name%",
        Text = "Code %recipient.code%, %recipient.unknown% stays",
        Html = "<p>%recipient.name%</p>",
        RecipientVariables = recipientVariables,
    };

    [Fact]
    public async Task With_recipient_variables_each_recipient_gets_its_own_message_with_its_own_values_only()
    {
        var values = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["ann@example.com"] = new Dictionary<string, string> { ["name"] = "Ann", ["code"] = "A1" },
            ["bob@example.com"] = new Dictionary<string, string> { ["name"] = "Bob", ["code"] = "B2" },
        };
        Assert.IsType<MailgunSendResult.Accepted>(await Client().SendAsync(Batch(values), default));
        var sent = Assert.Single(_fake.Messages);
        Assert.Single(sent.Fields["recipient-variables"]);
        Assert.Equal(values.Keys.Order(), sent.RecipientVariables!.Keys.Order());

        var ann = sent.ForRecipient("ann@example.com");
        Assert.Equal(["Ann <ann@example.com>"], ann.To);
        Assert.Equal("Hi Ann", ann.Subject);
        Assert.Equal("Code A1, %recipient.unknown% stays", ann.Text);
        Assert.Equal("<p>Ann</p>", ann.Html);
        Assert.Equal(["ann@example.com"], ann.Recipients);
        var bob = sent.ForRecipient("bob@example.com");
        Assert.Equal(["bob@example.com"], bob.To);
        Assert.Equal("Code B2, %recipient.unknown% stays", bob.Text);
        Assert.DoesNotContain("ann", string.Join(" ", bob.To) + bob.Subject + bob.Text + bob.Html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Without_recipient_variables_every_recipient_sees_the_whole_to_list()
    {
        Assert.IsType<MailgunSendResult.Accepted>(await Client().SendAsync(Batch(null), default));
        var sent = Assert.Single(_fake.Messages);
        Assert.Null(sent.RecipientVariables);
        Assert.False(sent.Fields.ContainsKey("recipient-variables"));
        var bob = sent.ForRecipient("bob@example.com");
        Assert.Equal(2, bob.To.Count);
        Assert.Equal("Hi %recipient.name%", bob.Subject);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"a@example.com\": \"not an object\"}")]
    public async Task Malformed_recipient_variables_are_refused_like_mailgun_does(string json)
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("a@mg.akkamail.test"), "from" },
            { new StringContent("b@example.com"), "to" },
            { new StringContent("hello"), "text" },
            { new StringContent(json), "recipient-variables" },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{_fake.BaseUrl}/v3/{_fake.Domain}/messages") { Content = form };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("api:" + _fake.ApiKey)));
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("recipient-variables", await response.Content.ReadAsStringAsync());
        Assert.Empty(_fake.Messages);
    }
}
