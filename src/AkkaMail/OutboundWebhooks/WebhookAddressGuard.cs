using System.Net;
using System.Net.Sockets;

namespace AkkaMail.OutboundWebhooks;

/// <summary>
/// Keeps outbound webhooks out of the service's own network (SSRF): an address that is private, loopback, link-local,
/// shared (CGNAT), unspecified, multicast or reserved is refused, at an endpoint's creation (its URL's host resolved)
/// and again at every connection (after DNS, the socket connects only to an address checked here, so a name that
/// resolves elsewhere later gains nothing). Loopback alone may be allowed by a setting (tests' receivers).
/// </summary>
public sealed class WebhookAddressGuard(bool allowLoopback)
{
    public bool AllowLoopback { get; } = allowLoopback;

    public bool Allows(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return AllowLoopback;
        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => IsPublicV4(address.GetAddressBytes()),
            AddressFamily.InterNetworkV6 => IsPublicV6(address),
            _ => false,
        };
    }

    private static bool IsPublicV4(byte[] b) => !(
        b[0] == 0                                   // "this" network
        || b[0] == 10                               // private
        || (b[0] == 100 && (b[1] & 0xC0) == 64)     // shared address space (CGNAT) 100.64/10
        || b[0] == 127                              // loopback
        || (b[0] == 169 && b[1] == 254)             // link-local (cloud metadata endpoints live here)
        || (b[0] == 172 && (b[1] & 0xF0) == 16)     // private 172.16/12
        || (b[0] == 192 && b[1] == 0 && b[2] == 0)  // IETF protocol assignments
        || (b[0] == 192 && b[1] == 168)             // private
        || (b[0] == 198 && (b[1] & 0xFE) == 18)     // benchmarking 198.18/15
        || b[0] >= 224);                            // multicast, reserved, broadcast

    private static bool IsPublicV6(IPAddress a)
    {
        if (a.Equals(IPAddress.IPv6None) || a.Equals(IPAddress.IPv6Any)) return false;
        if (a.IsIPv6LinkLocal || a.IsIPv6SiteLocal || a.IsIPv6Multicast || a.IsIPv6UniqueLocal) return false;
        var b = a.GetAddressBytes();
        // NAT64 / 6to4 / Teredo wrap an IPv4 address that could be private: refused rather than unwrapped.
        if ((b[0] == 0x20 && b[1] == 0x02) || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
            || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)) return false;
        return true;
    }

    /// <summary>
    /// Why <paramref name="url"/> cannot be an endpoint, or null: an absolute https URL (http only to loopback, and only
    /// when loopback is allowed), no credentials in it, a host that resolves, and only to allowed addresses.
    /// </summary>
    public async Task<string?> RefusalAsync(string? url, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(url) || url.Length > 2000) return "is required, at most 2000 characters";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            return "must be an absolute https URL";
        if (!string.IsNullOrEmpty(uri.UserInfo)) return "must not carry credentials";
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(uri.IdnHost, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(uri.IdnHost, ct);
        }
        catch (SocketException)
        {
            return "its host does not resolve";
        }
        if (addresses.Length == 0) return "its host does not resolve";
        if (addresses.Any(a => !Allows(a)))
            return "resolves to a private, loopback or link-local address, which webhooks may not reach";
        if (uri.Scheme == "http" && !addresses.All(IPAddress.IsLoopback))
            return "must be an https URL (http only to loopback, when allowed)";
        return null;
    }
}

/// <summary>A connection refused by <see cref="WebhookAddressGuard"/>: no attempt is made, the delivery stops.</summary>
public sealed class WebhookAddressRefusedException(string host) : Exception($"{host} resolves to no address webhooks may reach");
