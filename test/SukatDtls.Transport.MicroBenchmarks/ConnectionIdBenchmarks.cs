using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.MicroBenchmarks;

/// <summary>
/// What a Connection ID (RFC 9146) costs per record on an established connection: sealing and opening a 1,000-byte
/// application record (AES-128-GCM) as a plain record (no ID) and as a tls12_cid record with an 8-byte ID (the header
/// grows by the ID, the additional data takes the RFC 9146 form, and the reader compares the ID).
/// </summary>
[MemoryDiagnoser]
public class ConnectionIdBenchmarks : IDisposable
{
    private readonly byte[] _plaintext = RandomNumberGenerator.GetBytes(1000);
    private readonly byte[] _datagram = new byte[2048];
    private DtlsRecordLayer _sender = null!;
    private DtlsRecordLayer _receiver = null!;

    [Params(0, 8)]
    public int ConnectionIdLength { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var protection = RecordSuite.Of(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)!;
        byte[] keyBlock = RandomNumberGenerator.GetBytes(protection.KeyBlockLength);
        byte[] id = RandomNumberGenerator.GetBytes(ConnectionIdLength);
        // The server writes records with the ID the client chose and reads those carrying its own; one ID both ways here.
        _sender = new DtlsRecordLayer(protection.CreateCipher(keyBlock, client: false, false, id),
            protection.CreateCipher(keyBlock, client: true, false, id), 1, null);
        _receiver = new DtlsRecordLayer(protection.CreateCipher(keyBlock, client: true, false, id),
            protection.CreateCipher(keyBlock, client: false, false, id), 1, null);
        if (SealAndOpen() != _plaintext.Length)
        {
            throw new InvalidOperationException("the record did not open: the benchmark would time a rejection");
        }
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _sender?.Dispose();
        _receiver?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public int SealAndOpen()
    {
        int length = _sender.Seal(DtlsContentType.ApplicationData, _plaintext, _datagram);
        int offset = 0;
        _receiver.ReadNext(_datagram.AsSpan(0, length), ref offset, out _, out int plaintextLength);
        return plaintextLength;
    }
}
