using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// Where each received record ends in the input pipe: records consumed whole, in part (the remainder is the next
/// "record"), several at once; and the bound — beyond <see cref="RecordBoundaries.Capacity"/> unread records a new one
/// is refused until some are consumed.
/// </summary>
public sealed class RecordBoundariesTests
{
    [Fact]
    public void Nothing_to_peek_when_empty()
    {
        var boundaries = new RecordBoundaries();

        Assert.False(boundaries.TryPeek(out int length));
        Assert.Equal(0, length);
    }

    [Fact]
    public void Records_are_peeked_in_order_and_consumed_whole()
    {
        var boundaries = new RecordBoundaries();
        Assert.True(boundaries.TryAdd(100));
        Assert.True(boundaries.TryAdd(30));

        Assert.True(boundaries.TryPeek(out int first));
        Assert.Equal(100, first);
        Assert.True(boundaries.TryPeek(out first)); // peeking does not consume
        Assert.Equal(100, first);

        boundaries.OnConsumed(100);
        Assert.True(boundaries.TryPeek(out int second));
        Assert.Equal(30, second);

        boundaries.OnConsumed(30);
        Assert.False(boundaries.TryPeek(out _));
    }

    [Fact]
    public void A_record_consumed_in_part_leaves_its_remainder_as_the_next_record()
    {
        var boundaries = new RecordBoundaries();
        Assert.True(boundaries.TryAdd(100));
        Assert.True(boundaries.TryAdd(30));

        boundaries.OnConsumed(40);
        Assert.True(boundaries.TryPeek(out int length));
        Assert.Equal(60, length);

        boundaries.OnConsumed(59);
        Assert.True(boundaries.TryPeek(out length));
        Assert.Equal(1, length);

        boundaries.OnConsumed(1);
        Assert.True(boundaries.TryPeek(out length));
        Assert.Equal(30, length);
    }

    [Fact]
    public void One_consumption_can_span_several_records_and_end_inside_one()
    {
        var boundaries = new RecordBoundaries();
        Assert.True(boundaries.TryAdd(10));
        Assert.True(boundaries.TryAdd(20));
        Assert.True(boundaries.TryAdd(30));
        Assert.True(boundaries.TryAdd(40));

        boundaries.OnConsumed(5);
        boundaries.OnConsumed(5 + 20 + 12); // the rest of the first, the second, 12 bytes of the third

        Assert.True(boundaries.TryPeek(out int length));
        Assert.Equal(18, length);

        boundaries.OnConsumed(18 + 40);
        Assert.False(boundaries.TryPeek(out _));
    }

    [Fact]
    public void Consuming_more_than_was_recorded_empties_it()
    {
        var boundaries = new RecordBoundaries();
        Assert.True(boundaries.TryAdd(10));

        boundaries.OnConsumed(1_000);

        Assert.False(boundaries.TryPeek(out _));
        Assert.True(boundaries.TryAdd(7));
        Assert.True(boundaries.TryPeek(out int length));
        Assert.Equal(7, length); // no leftover offset from before
    }

    [Fact]
    public void Consuming_nothing_changes_nothing()
    {
        var boundaries = new RecordBoundaries();
        Assert.True(boundaries.TryAdd(10));

        boundaries.OnConsumed(0);

        Assert.True(boundaries.TryPeek(out int length));
        Assert.Equal(10, length);
    }

    [Fact]
    public void At_capacity_a_new_record_is_refused_until_one_is_consumed()
    {
        var boundaries = new RecordBoundaries();
        for (int i = 0; i < RecordBoundaries.Capacity; i++)
        {
            Assert.True(boundaries.TryAdd(10));
        }

        Assert.False(boundaries.TryAdd(5_000));

        // A partly consumed record still takes its place.
        boundaries.OnConsumed(5);
        Assert.False(boundaries.TryAdd(5_000));

        boundaries.OnConsumed(5); // the rest of the first record
        Assert.True(boundaries.TryAdd(5_000));
        Assert.False(boundaries.TryAdd(5_001));

        // The refused ones left no trace: after all the others, the accepted one comes last.
        boundaries.OnConsumed(10L * (RecordBoundaries.Capacity - 1));
        Assert.True(boundaries.TryPeek(out int last));
        Assert.Equal(5_000, last);
        boundaries.OnConsumed(5_000);
        Assert.False(boundaries.TryPeek(out _));
    }
}
