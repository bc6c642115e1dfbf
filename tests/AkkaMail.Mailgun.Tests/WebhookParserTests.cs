using System.Text;

namespace AkkaMail.Mailgun.Tests;

public class WebhookParserTests
{
    public static TheoryData<string, MailgunEventType, MailgunSeverity?, string?, int?> SignedExpectations() => new()
    {
        { "symfony_accepted.json", MailgunEventType.Accepted, null, null, null },
        { "symfony_delivered_messages.json", MailgunEventType.Delivered, null, null, 250 },
        { "symfony_temporary_failure.json", MailgunEventType.Failed, MailgunSeverity.Temporary, "generic", 452 },
        { "symfony_permanent_failure.json", MailgunEventType.Failed, MailgunSeverity.Permanent, "bounce", 550 },
        { "symfony_permanent_failure_no_description.json", MailgunEventType.Failed, MailgunSeverity.Permanent, "bounce", 550 },
        { "symfony_suppression_failure.json", MailgunEventType.Failed, MailgunSeverity.Permanent, "suppress-bounce", 605 },
        { "symfony_opens.json", MailgunEventType.Opened, null, null, null },
        { "symfony_clicks.json", MailgunEventType.Clicked, null, null, null },
        { "symfony_unsubscribes.json", MailgunEventType.Unsubscribed, null, null, null },
        { "symfony_spam_complaints.json", MailgunEventType.Complained, null, null, null },
        { "anymail_delivered_full-payload.signed-with-TEST_WEBHOOK_SIGNING_KEY.json", MailgunEventType.Delivered, null, null, 250 },
    };

    [Theory]
    [MemberData(nameof(SignedExpectations))]
    public void Signed_samples_parse_to_the_right_event(string file, MailgunEventType type, MailgunSeverity? severity, string? reason, int? code)
    {
        var result = MailgunWebhookParser.Parse(Samples.Bytes(file));
        var webhook = Assert.IsType<MailgunWebhookParseResult.Success>(result).Webhook;
        Assert.Equal(Samples.Signature(file), webhook.Signature);
        var e = webhook.Event;
        Assert.Equal(type, e.Type);
        Assert.Equal(type.ToString().ToLowerInvariant(), e.EventType);
        Assert.Equal(severity, e.Severity);
        Assert.Equal(reason, e.Reason);
        Assert.Equal(code, e.DeliveryStatus?.Code);
        Assert.False(string.IsNullOrEmpty(e.Id));
        Assert.InRange(e.Timestamp, new DateTimeOffset(2018, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.False(string.IsNullOrEmpty(e.Recipient));
        Assert.False(string.IsNullOrEmpty(e.MessageId));
        Assert.DoesNotContain('<', e.MessageId!);
        // and with the verifier, end to end
        var verifier = new MailgunWebhookVerifier(Samples.KeyFor(file), Samples.ClockFor(file), TimeSpan.FromMinutes(5));
        Assert.Equal(WebhookVerification.Valid, verifier.Verify(webhook.Signature));
    }

    [Fact]
    public void Delivered_sample_details()
    {
        var e = ParseOk("symfony_delivered_messages.json");
        Assert.Equal("CPgfbmQMTCKtHW6uIWtuVe", e.Id);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1521472262).AddTicks(20), e.Timestamp); // .000002 s
        Assert.Equal("alice@example.com", e.Recipient);
        Assert.Equal("example.com", e.RecipientDomain);
        Assert.Equal("20130503182626.18666.16540@app.symfony.com", e.MessageId);
        Assert.Equal(["my_tag_1", "my_tag_2"], e.Tags);
        Assert.Equal("Mailgun Variable #1", e.UserVariables["my_var_1"]);
        Assert.Equal("awesome", e.UserVariables["my-var-2"]);
        Assert.Equal("info", e.LogLevel);
        Assert.Equal(new MailgunDeliveryStatus(250, "OK", "", 1, null, null), e.DeliveryStatus);
        Assert.False(e.IsTestMode);
    }

    [Fact]
    public void Accepted_sample_without_tags_or_variables_parses_with_empty_collections()
    {
        var e = ParseOk("symfony_accepted.json");
        Assert.Empty(e.Tags);
        Assert.Empty(e.UserVariables);
        Assert.Null(e.DeliveryStatus);
        Assert.Equal("##REDACTED##", e.MessageId);
    }

    [Fact]
    public void Failure_samples_details()
    {
        var temp = ParseOk("symfony_temporary_failure.json");
        Assert.True(temp.IsTemporaryFailure);
        Assert.Equal("4.2.2", temp.DeliveryStatus!.EnhancedCode);
        Assert.Equal(600, temp.DeliveryStatus.RetrySeconds);
        Assert.StartsWith("4.2.2 The email account", temp.DeliveryStatus.Message);

        var perm = ParseOk("symfony_permanent_failure.json");
        Assert.True(perm.IsPermanentFailure);
        Assert.Equal("No Such User Here", perm.DeliveryStatus!.Message);
        Assert.Equal("error", perm.LogLevel);

        var noDesc = ParseOk("symfony_permanent_failure_no_description.json");
        Assert.Null(noDesc.DeliveryStatus!.Description);

        var suppress = ParseOk("symfony_suppression_failure.json");
        Assert.Equal("Not delivering to previously bounced address", suppress.DeliveryStatus!.Description);
    }

    [Fact]
    public void Opened_and_clicked_carry_client_info()
    {
        foreach (var file in new[] { "symfony_opens.json", "symfony_clicks.json", "symfony_unsubscribes.json" })
        {
            var e = ParseOk(file);
            Assert.Equal("50.56.129.169", e.ClientInfo!.Ip);
            Assert.StartsWith("Mozilla/5.0", e.ClientInfo.UserAgent);
            Assert.Equal("Chrome", e.ClientInfo.ClientName);
            Assert.Equal("desktop", e.ClientInfo.DeviceType);
        }
        Assert.Null(ParseOk("symfony_delivered_messages.json").ClientInfo);
    }

    public static TheoryData<string, MailgunEventType, MailgunSeverity?, string?, int?> DocsExpectations() => new()
    {
        { "mailgun-docs_accepted.event-data.json", MailgunEventType.Accepted, null, null, null },
        { "mailgun-docs_delivered.event-data.json", MailgunEventType.Delivered, null, null, 250 },
        { "mailgun-docs_failed-permanent-delayed-bounce.event-data.json", MailgunEventType.Failed, MailgunSeverity.Permanent, "generic", 550 },
        { "mailgun-docs_failed-permanent-suppress-bounce.event-data.json", MailgunEventType.Failed, MailgunSeverity.Permanent, "suppress-bounce", 605 },
        { "mailgun-docs_failed-temporary.event-data.json", MailgunEventType.Failed, MailgunSeverity.Temporary, "generic", 451 },
    };

    [Theory]
    [MemberData(nameof(DocsExpectations))]
    public void Docs_event_data_samples_parse(string file, MailgunEventType type, MailgunSeverity? severity, string? reason, int? code)
    {
        var e = Assert.IsType<MailgunEventParseResult.Success>(MailgunWebhookParser.ParseEventData(Samples.Bytes(file))).Event;
        Assert.Equal(type, e.Type);
        Assert.Equal(severity, e.Severity);
        Assert.Equal(reason, e.Reason);
        Assert.Equal(code, e.DeliveryStatus?.Code);
        Assert.False(string.IsNullOrEmpty(e.MessageId));
    }

    [Fact]
    public void Docs_event_data_without_signature_is_signature_missing_as_a_webhook()
    {
        foreach (var file in Samples.EventDataFiles)
        {
            var failure = Assert.IsType<MailgunWebhookParseResult.Failure>(MailgunWebhookParser.Parse(Samples.Bytes(file)));
            Assert.Equal(MailgunParseErrorKind.SignatureMissing, failure.Error.Kind);
        }
    }

    [Theory]
    [InlineData("", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("not json", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("[]", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("null", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("{}", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("{\"signature\":null}", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\"}}", MailgunParseErrorKind.SignatureMissing)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"}}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":[]}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"event\":\"delivered\",\"timestamp\":1.5}}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"id\":\"x\",\"timestamp\":1.5}}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"id\":\"x\",\"event\":\"delivered\"}}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":true}}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":-5}}", MailgunParseErrorKind.MalformedEvent)]
    [InlineData("{\"signature\":{\"timestamp\":\"1\",\"token\":\"t\",\"signature\":\"s\"},\"event-data\":{\"id\":\"x\",\"event\":\"delivered\",\"timestamp\":1e300}}", MailgunParseErrorKind.MalformedEvent)]
    public void Errors_are_classified(string body, MailgunParseErrorKind kind)
    {
        var failure = Assert.IsType<MailgunWebhookParseResult.Failure>(MailgunWebhookParser.Parse(Encoding.UTF8.GetBytes(body)));
        Assert.Equal(kind, failure.Error.Kind);
        Assert.False(string.IsNullOrEmpty(failure.Error.Reason));
        if (kind == MailgunParseErrorKind.MalformedEvent) Assert.NotNull(failure.Signature); // still verifiable
    }

    [Fact]
    public void Unknown_events_wrong_typed_optionals_and_extra_fields_are_tolerated()
    {
        const string body = """
        {"signature":{"timestamp":1700000000,"token":"tok","signature":"sig"},
         "future":{"x":[1,2,3]},
         "event-data":{"id":"x","event":"list_member_uploaded","timestamp":"1700000000.25",
           "recipient":42,"severity":"catastrophic","tags":["a",1,null,{"b":2},"c"],
           "user-variables":{"n":7,"o":{"k":[1]},"s":"str","b":true,"z":null},
           "delivery-status":{"code":"550","attempt-no":"x","message":null},
           "message":{"headers":{"message-id":"<abc@d>"}},"client-info":"nope","flags":{"is-test-mode":true}}}
        """;
        var webhook = Assert.IsType<MailgunWebhookParseResult.Success>(MailgunWebhookParser.Parse(body)).Webhook;
        Assert.Equal("1700000000", webhook.Signature.Timestamp);
        var e = webhook.Event;
        Assert.Equal(MailgunEventType.Unknown, e.Type);
        Assert.Equal("list_member_uploaded", e.EventType);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1700000000250), e.Timestamp);
        Assert.Null(e.Recipient);
        Assert.Equal(MailgunSeverity.Other, e.Severity);
        Assert.Equal("catastrophic", e.SeverityText);
        Assert.Equal(["a", "c"], e.Tags);
        Assert.Equal("7", e.UserVariables["n"]);
        Assert.Equal("{\"k\":[1]}", e.UserVariables["o"]);
        Assert.Equal("str", e.UserVariables["s"]);
        Assert.Equal("true", e.UserVariables["b"]);
        Assert.Equal("null", e.UserVariables["z"]);
        Assert.Equal(550, e.DeliveryStatus!.Code);
        Assert.Null(e.DeliveryStatus.AttemptNo);
        Assert.Null(e.DeliveryStatus.Message);
        Assert.Equal("abc@d", e.MessageId);
        Assert.Null(e.ClientInfo);
        Assert.True(e.IsTestMode);
    }

    [Fact]
    public async Task Stream_parsing_enforces_the_size_limit()
    {
        var bytes = Samples.Bytes("symfony_clicks.json");
        var ok = await MailgunWebhookParser.ParseAsync(new MemoryStream(bytes), maxBytes: bytes.Length);
        Assert.IsType<MailgunWebhookParseResult.Success>(ok);
        var tooLarge = await MailgunWebhookParser.ParseAsync(new MemoryStream(bytes), maxBytes: bytes.Length - 1);
        Assert.Equal(MailgunParseErrorKind.TooLarge, Assert.IsType<MailgunWebhookParseResult.Failure>(tooLarge).Error.Kind);
        var big = new byte[5 * 1024 * 1024];
        var bigResult = await MailgunWebhookParser.ParseAsync(new MemoryStream(big));
        Assert.Equal(MailgunParseErrorKind.TooLarge, Assert.IsType<MailgunWebhookParseResult.Failure>(bigResult).Error.Kind);
    }

    [Fact]
    public void Utf8_bom_is_accepted()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Samples.Bytes("symfony_opens.json")).ToArray();
        Assert.IsType<MailgunWebhookParseResult.Success>(MailgunWebhookParser.Parse(bytes));
    }

    private static MailgunEvent ParseOk(string file) =>
        Assert.IsType<MailgunWebhookParseResult.Success>(MailgunWebhookParser.Parse(Samples.Bytes(file))).Webhook.Event;
}
