using AkkaMail.Providers;
using AkkaMail.MailgunFake;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkkaMail.Mailgun.Tests;

public class RegistrationTests
{
    [Fact]
    public async Task AddMailgunClient_binds_the_Mailgun_section_and_sends()
    {
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { Domain = "mg.bound.test", ApiKey = "key-bound" });
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mailgun:BaseUrl"] = fake.BaseUrl,
            ["Mailgun:Domain"] = "mg.bound.test",
            ["Mailgun:ApiKey"] = "key-bound",
            ["Mailgun:WebhookSigningKey"] = "sk",
            ["Mailgun:Timeout"] = "00:00:07",
        }).Build();
        var services = new ServiceCollection();
        services.AddMailgunClient(config);
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<MailgunOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(7), options.Timeout);
        Assert.Equal("sk", options.WebhookSigningKey);
        var client = provider.GetRequiredService<MailgunClient>();
        Assert.Equal(new Uri($"{fake.BaseUrl}/v3/mg.bound.test/messages"), client.Endpoint);
        var result = await client.SendAsync(new MailgunMessage { From = "a@mg.bound.test", To = ["b@example.com"], Text = "x" }, default);
        Assert.IsType<MailgunSendResult.Accepted>(result);
    }

    [Fact]
    public async Task The_client_writes_no_per_request_logs_of_its_own()
    {
        await using var fake = await MailgunFakeServer.StartAsync(new MailgunFakeOptions { Domain = "mg.quiet.test", ApiKey = "key-quiet" });
        var captured = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(captured).SetMinimumLevel(LogLevel.Trace));
        services.AddMailgunClient(o => { o.BaseUrl = fake.BaseUrl; o.Domain = "mg.quiet.test"; o.ApiKey = "key-quiet"; });
        await using var provider = services.BuildServiceProvider();
        var result = await provider.GetRequiredService<MailgunClient>()
            .SendAsync(new MailgunMessage { From = "a@mg.quiet.test", To = ["b@example.com"], Text = "x" }, default);
        Assert.IsType<MailgunSendResult.Accepted>(result);
        // IHttpClientFactory's handlers would log the start and end of every call (and open a scope for each).
        Assert.DoesNotContain(captured.Categories, c => c.StartsWith("System.Net.Http.HttpClient", StringComparison.Ordinal));
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentBag<string> Categories { get; } = [];
        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
        public void Dispose() { }

        private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull
            {
                owner.Categories.Add(category);
                return null;
            }
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Categories.Add(category);
        }
    }

    [Fact]
    public void Environment_style_keys_bind()
    {
        Environment.SetEnvironmentVariable("AKKAMAILTEST_Mailgun__ApiKey", "key-from-env");
        Environment.SetEnvironmentVariable("AKKAMAILTEST_Mailgun__Domain", "mg.env.test");
        Environment.SetEnvironmentVariable("AKKAMAILTEST_Mailgun__BaseUrl", MailgunOptions.EuBaseUrl);
        try
        {
            var config = new ConfigurationBuilder().AddEnvironmentVariables("AKKAMAILTEST_").Build();
            var services = new ServiceCollection();
            services.AddMailgunClient(config);
            using var provider = services.BuildServiceProvider();
            var client = provider.GetRequiredService<MailgunClient>();
            Assert.Equal(new Uri("https://api.eu.mailgun.net/v3/mg.env.test/messages"), client.Endpoint);
        }
        finally
        {
            Environment.SetEnvironmentVariable("AKKAMAILTEST_Mailgun__ApiKey", null);
            Environment.SetEnvironmentVariable("AKKAMAILTEST_Mailgun__Domain", null);
            Environment.SetEnvironmentVariable("AKKAMAILTEST_Mailgun__BaseUrl", null);
        }
    }

    [Fact]
    public void Defaults_are_the_US_endpoint_and_30_seconds()
    {
        var o = new MailgunOptions();
        Assert.Equal("https://api.mailgun.net", o.BaseUrl);
        Assert.Equal(TimeSpan.FromSeconds(30), o.Timeout);
    }

    [Fact]
    public void Missing_configuration_fails_validation_when_the_client_is_resolved()
    {
        var services = new ServiceCollection();
        services.AddMailgunClient(new ConfigurationBuilder().Build());
        using var provider = services.BuildServiceProvider();
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<MailgunClient>());
    }

    [Fact]
    public async Task AddMailgunWebhookVerifier_uses_the_signing_key_and_an_in_memory_token_store()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mailgun:WebhookSigningKey"] = Samples.SymfonyKey,
        }).Build();
        var clock = Samples.ClockFor("symfony_clicks.json");
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(clock);
        services.AddMailgunWebhookVerifier(config, TimeSpan.FromMinutes(10));
        await using var provider = services.BuildServiceProvider();
        var verifier = provider.GetRequiredService<MailgunWebhookVerifier>();
        Assert.Equal(TimeSpan.FromMinutes(10), verifier.Tolerance);
        var store = Assert.IsType<InMemoryWebhookTokenStore>(provider.GetRequiredService<IWebhookTokenStore>());
        var sig = Samples.Signature("symfony_clicks.json");
        Assert.Equal(WebhookVerification.Valid, await verifier.VerifyAndRememberAsync(sig, store));
        Assert.Equal(WebhookVerification.Replayed, await verifier.VerifyAndRememberAsync(sig, store));

        var empty = new ServiceCollection().AddMailgunWebhookVerifier(new ConfigurationBuilder().Build());
        using var emptyProvider = empty.BuildServiceProvider();
        Assert.Throws<InvalidOperationException>(() => emptyProvider.GetRequiredService<MailgunWebhookVerifier>());
    }
}
