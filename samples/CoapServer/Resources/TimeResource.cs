using System.Globalization;
using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// <c>GET /time</c>: the server's clock in UTC, ISO 8601 to the 100 ns tick (a different answer every time, so a
/// duplicate request answered from the cache shows as an identical answer).
/// </summary>
internal sealed class TimeResource(TimeProvider timeProvider) : CoapResource
{
    public override string Path => "/time";

    public override string LinkAttributes => ";rt=\"example.time\";ct=0;title=\"The server's clock (UTC)\"";

    public override bool Allows(CoapCode method) => method == CoapCode.Get;

    public override CoapResponse Handle(CoapRequest request) =>
        CoapResponse.Text(CoapCode.Content, timeProvider.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
}
