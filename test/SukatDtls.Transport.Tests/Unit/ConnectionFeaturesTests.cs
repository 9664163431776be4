using Microsoft.AspNetCore.Connections.Features;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>The connection's feature collection: fixed slots for its own features, a dictionary for the rest.</summary>
public sealed class ConnectionFeaturesTests
{
    private sealed class Owner : IConnectionIdFeature, IConnectionItemsFeature
    {
        public string ConnectionId { get; set; } = "owner";

        public IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    }

    private sealed class Replacement : IConnectionIdFeature
    {
        public string ConnectionId { get; set; } = "replacement";
    }

    private interface IOtherFeature;

    private sealed class Other : IOtherFeature;

    private static readonly Type[] s_types = [typeof(IConnectionIdFeature), typeof(IConnectionItemsFeature)];

    [Fact]
    public void The_owners_features_resolve_to_the_owner_and_others_to_nothing()
    {
        var owner = new Owner();
        var features = new ConnectionFeatures(owner, s_types);
        Assert.Same(owner, features.Get<IConnectionIdFeature>());
        Assert.Same(owner, features[typeof(IConnectionItemsFeature)]);
        Assert.Null(features.Get<IOtherFeature>());
        Assert.Null(features.Get<IConnectionLifetimeFeature>());
        Assert.False(features.IsReadOnly);
        Assert.Equal(0, features.Revision);
    }

    [Fact]
    public void An_application_replaces_removes_and_adds_features_and_each_change_counts()
    {
        var owner = new Owner();
        var features = new ConnectionFeatures(owner, s_types);

        var replacement = new Replacement();
        features.Set<IConnectionIdFeature>(replacement);
        Assert.Same(replacement, features.Get<IConnectionIdFeature>());
        Assert.Equal(1, features.Revision);

        features.Set<IConnectionItemsFeature>(null);
        Assert.Null(features.Get<IConnectionItemsFeature>());

        var other = new Other();
        features.Set<IOtherFeature>(other);
        Assert.Same(other, features.Get<IOtherFeature>());
        Assert.Equal(3, features.Revision);

        Assert.Equal(
            [new KeyValuePair<Type, object>(typeof(IConnectionIdFeature), replacement), new KeyValuePair<Type, object>(typeof(IOtherFeature), other)],
            features.ToArray());

        features.Set<IOtherFeature>(null);
        Assert.Null(features.Get<IOtherFeature>());
        Assert.Equal(4, features.Revision);
        Assert.Single(features);
    }

    private interface IA;

    private interface IB;

    private interface IC;

    private interface ID;

    private interface IE;

    private sealed class All : IA, IB, IC, ID, IE;

    [Fact]
    public void More_features_than_Kestrel_sets_keep_their_order_and_one_from_the_middle_can_go()
    {
        var features = new ConnectionFeatures(new Owner(), s_types);
        var all = new All();
        features.Set<IA>(all);
        features.Set<IB>(all);
        features.Set<IC>(all);
        features.Set<ID>(all);
        features.Set<IE>(all); // beyond the first four
        features.Set<IB>(null);
        features.Set<IC>(new All()); // replaced in place

        Assert.Equal([typeof(IConnectionIdFeature), typeof(IConnectionItemsFeature), typeof(IA), typeof(IC), typeof(ID), typeof(IE)],
            features.Select(pair => pair.Key).ToArray());
        Assert.Same(all, features.Get<IE>());
        Assert.Null(features.Get<IB>());
        Assert.NotSame(all, features.Get<IC>());
    }
}
