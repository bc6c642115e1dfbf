using System.Globalization;
using AkkaMail.MailgunFake;

// Standalone Mailgun fake for benchmarks and manual runs:
//   dotnet run --project tests/AkkaMail.MailgunFake -- --port 5099 --domain mg.test --api-key key-x
//        --latency-ms 50 --failure-rate 0.05 --webhook-url http://127.0.0.1:5000/api/webhooks/mailgun --signing-key sk
//        [--webhook-events delivered,opened] [--webhook-delay-ms 100] [--no-record] [--log]
var options = new MailgunFakeOptions();
var log = false;
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--port": options = options with { Port = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
        case "--host": options = options with { Host = Next() }; break;
        case "--domain": options = options with { Domain = Next() }; break;
        case "--api-key": options = options with { ApiKey = Next() }; break;
        case "--latency-ms": options = options with { Latency = TimeSpan.FromMilliseconds(double.Parse(Next(), CultureInfo.InvariantCulture)) }; break;
        case "--failure-rate": options = options with { FailureRate = double.Parse(Next(), CultureInfo.InvariantCulture) }; break;
        case "--webhook-url": options = options with { WebhookUrl = Next() }; break;
        case "--signing-key": options = options with { WebhookSigningKey = Next() }; break;
        case "--webhook-events": options = options with { WebhookEvents = Next().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(FakeWebhookEvent.FromName).ToArray() }; break;
        case "--webhook-delay-ms": options = options with { WebhookDelay = TimeSpan.FromMilliseconds(double.Parse(Next(), CultureInfo.InvariantCulture)) }; break;
        case "--no-record": options = options with { RecordMessages = false }; break;
        case "--log": log = true; break;
        case "--help" or "-h":
            Console.WriteLine("--port N --host IP --domain D --api-key K --latency-ms N --failure-rate 0..1 --webhook-url URL --signing-key K --webhook-events delivered,opened,... --webhook-delay-ms N --no-record --log");
            return 0;
        default:
            Console.Error.WriteLine($"Unknown argument {args[i]} (try --help)");
            return 2;
    }
}
if (log) options = options with { ConfigureLogging = l => Microsoft.Extensions.Logging.ConsoleLoggerExtensions.AddConsole(l) };

await using var server = await MailgunFakeServer.StartAsync(options);
Console.WriteLine($"Mailgun fake listening on {server.BaseUrl} domain={server.Domain} api-key={server.ApiKey} " +
                  $"latency={options.Latency.TotalMilliseconds}ms failure-rate={options.FailureRate} webhook-url={options.WebhookUrl ?? "-"}");
var stop = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
await stop.Task;
Console.WriteLine($"calls={server.CallCount} accepted={server.AcceptedCount} rejected={server.RejectedCount} webhooks={server.WebhookDeliveries.Count}");
return 0;
