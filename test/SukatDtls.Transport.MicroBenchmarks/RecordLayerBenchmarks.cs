using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.MicroBenchmarks;

/// <summary>
/// The record layer alone, for every suite the transport offers: sealing one 1,000-byte application record, and a
/// round trip (seal on one side, authenticate and decrypt on the other, replay window included). The memory
/// diagnoser shows what a record allocates: nothing.
/// </summary>
[MemoryDiagnoser]
public class RecordLayerBenchmarks : IDisposable
{
    private readonly byte[] _plaintext = RandomNumberGenerator.GetBytes(1000);
    private readonly byte[] _datagram = new byte[2048];
    private DtlsRecordLayer _sender = null!;
    private DtlsRecordLayer _receiver = null!;

    [Params(
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
        "TLS_PSK_WITH_AES_128_CCM",
        "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256")]
    public string Suite { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        int suite = (int)typeof(CipherSuite).GetField(Suite)!.GetValue(null)!;
        var protection = RecordSuite.Of(suite)!;
        byte[] keyBlock = RandomNumberGenerator.GetBytes(protection.KeyBlockLength);
        bool encryptThenMac = protection.Aead is null;
        _sender = new DtlsRecordLayer(protection.CreateCipher(keyBlock, client: false, encryptThenMac, []),
            protection.CreateCipher(keyBlock, client: true, encryptThenMac, []), 1, null);
        _receiver = new DtlsRecordLayer(protection.CreateCipher(keyBlock, client: true, encryptThenMac, []),
            protection.CreateCipher(keyBlock, client: false, encryptThenMac, []), 1, null);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _sender?.Dispose();
        _receiver?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public int Seal() => _sender.Seal(DtlsContentType.ApplicationData, _plaintext, _datagram);

    [Benchmark]
    public int SealAndOpen()
    {
        int length = _sender.Seal(DtlsContentType.ApplicationData, _plaintext, _datagram);
        int offset = 0;
        _receiver.ReadNext(_datagram.AsSpan(0, length), ref offset, out _, out int plaintextLength);
        return plaintextLength;
    }
}
