using System.Collections;
using Microsoft.AspNetCore.Http.Features;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// A connection's features: the ones the connection itself implements in fixed slots, anything else an application
/// sets in a dictionary made on first use. As Kestrel's own transports do (TransportConnection's generated features),
/// and for the same reason: a <see cref="FeatureCollection"/> grows its dictionary three times while a connection's
/// eleven features are set, about 0.75 KB per connection held for its whole life and allocated by every handshake.
/// </summary>
internal sealed class ConnectionFeatures : IFeatureCollection
{
    private readonly Type[] _types;
    private readonly object?[] _values;
    private Dictionary<Type, object>? _others;
    private int _revision;

    /// <param name="owner">What every one of <paramref name="types"/> resolves to at first.</param>
    /// <param name="types">The feature interfaces <paramref name="owner"/> implements (shared, not copied).</param>
    public ConnectionFeatures(object owner, Type[] types)
    {
        _types = types;
        _values = new object?[types.Length];
        Array.Fill(_values, owner);
    }

    public bool IsReadOnly => false;

    public int Revision => _revision;

    public object? this[Type key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            int slot = Array.IndexOf(_types, key);
            return slot >= 0 ? _values[slot] : _others?.GetValueOrDefault(key);
        }

        set
        {
            ArgumentNullException.ThrowIfNull(key);
            int slot = Array.IndexOf(_types, key);
            if (slot >= 0)
            {
                _values[slot] = value;
            }
            else if (value is null)
            {
                _others?.Remove(key);
            }
            else
            {
                (_others ??= [])[key] = value;
            }

            _revision++;
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        for (int i = 0; i < _types.Length; i++)
        {
            if (_values[i] is { } value)
            {
                yield return new KeyValuePair<Type, object>(_types[i], value);
            }
        }

        if (_others is not null)
        {
            foreach (var pair in _others)
            {
                yield return pair;
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
