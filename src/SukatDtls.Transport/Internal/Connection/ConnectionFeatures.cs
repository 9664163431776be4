using System.Collections;
using Microsoft.AspNetCore.Http.Features;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// A connection's features: the ones the connection itself implements in fixed slots, anything else (Kestrel sets four
/// of its own on every connection, an application may add more) in a small array searched in order. As Kestrel's own
/// transports do (TransportConnection's generated features), and for the same reason: a <see cref="FeatureCollection"/>
/// grows its dictionary four times over a connection's fifteen features, about 0.75 KB held by every connection for its
/// whole life and allocated by every handshake.
/// </summary>
internal sealed class ConnectionFeatures : IFeatureCollection
{
    private readonly Type[] _types;
    private readonly object?[] _values;
    private KeyValuePair<Type, object>[]? _others;
    private int _otherCount;
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
            if (slot >= 0)
            {
                return _values[slot];
            }

            int other = IndexOfOther(key);
            return other >= 0 ? _others![other].Value : null;
        }

        set
        {
            ArgumentNullException.ThrowIfNull(key);
            int slot = Array.IndexOf(_types, key);
            if (slot >= 0)
            {
                _values[slot] = value;
            }
            else
            {
                SetOther(key, value);
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

        for (int i = 0; i < _otherCount; i++)
        {
            yield return _others![i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private int IndexOfOther(Type key)
    {
        for (int i = 0; i < _otherCount; i++)
        {
            if (_others![i].Key == key)
            {
                return i;
            }
        }

        return -1;
    }

    private void SetOther(Type key, object? value)
    {
        int index = IndexOfOther(key);
        if (value is null)
        {
            if (index >= 0)
            {
                // Keep the order of the others (enumeration shows features in the order they were set).
                Array.Copy(_others!, index + 1, _others!, index, _otherCount - index - 1);
                _others![--_otherCount] = default;
            }

            return;
        }

        if (index >= 0)
        {
            _others![index] = new KeyValuePair<Type, object>(key, value);
            return;
        }

        _others ??= new KeyValuePair<Type, object>[4]; // Kestrel's four
        if (_otherCount == _others.Length)
        {
            Array.Resize(ref _others, _others.Length * 2);
        }

        _others[_otherCount++] = new KeyValuePair<Type, object>(key, value);
    }
}
