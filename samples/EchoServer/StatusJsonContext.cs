using System.Text.Json;
using System.Text.Json.Serialization;

namespace SukatDtls.Samples.EchoServer;

/// <summary>
/// The status page's JSON, serialized by generated code rather than reflection (the sample publishes with Native AOT):
/// the web defaults, so the names are camelCase as before.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(DtlsStatusSnapshot))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
