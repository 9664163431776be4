using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The anti-replay window of RFC 6347 §4.1.2.6: numbers in order and out of order within the 64-number window,
/// duplicates, numbers too far behind, jumps ahead that reset the window, and that only marking moves it.
/// </summary>
public sealed class ReplayWindowTests
{
    [Fact]
    public void A_new_window_has_seen_nothing()
    {
        var window = new ReplayWindow();

        Assert.Equal(-1, window.Highest);
        Assert.False(window.IsReplay(0));
        Assert.False(window.IsReplay(1_000));
    }

    [Fact]
    public void Numbers_marked_in_order_are_replays_and_the_next_is_not()
    {
        var window = new ReplayWindow();

        for (long sequence = 0; sequence < 10; sequence++)
        {
            Assert.False(window.IsReplay(sequence));
            window.Mark(sequence);
            Assert.Equal(sequence, window.Highest);
        }

        for (long sequence = 0; sequence < 10; sequence++)
        {
            Assert.True(window.IsReplay(sequence), $"{sequence} was marked");
        }

        Assert.False(window.IsReplay(10));
    }

    [Fact]
    public void Numbers_out_of_order_within_the_window_are_accepted_once()
    {
        var window = new ReplayWindow();
        window.Mark(10);
        window.Mark(5);
        window.Mark(20);

        Assert.Equal(20, window.Highest);
        foreach (long unseen in new long[] { 4, 6, 9, 11, 19 })
        {
            Assert.False(window.IsReplay(unseen), $"{unseen} was never seen");
        }

        foreach (long seen in new long[] { 5, 10, 20 })
        {
            Assert.True(window.IsReplay(seen), $"{seen} was marked");
        }

        window.Mark(11);
        Assert.True(window.IsReplay(11));
        Assert.Equal(20, window.Highest); // an older number does not move the window
        Assert.False(window.IsReplay(12));
    }

    [Fact]
    public void A_duplicate_is_a_replay()
    {
        var window = new ReplayWindow();
        window.Mark(42);
        window.Mark(42);

        Assert.True(window.IsReplay(42));
        Assert.Equal(42, window.Highest);
        Assert.False(window.IsReplay(41));
        Assert.False(window.IsReplay(43));
    }

    [Fact]
    public void Zero_is_a_sequence_number_like_any_other()
    {
        var window = new ReplayWindow();
        window.Mark(0);

        Assert.True(window.IsReplay(0));
        Assert.Equal(0, window.Highest);
    }

    [Fact]
    public void Marks_survive_while_the_window_slides_and_drop_out_after_64()
    {
        var window = new ReplayWindow();
        window.Mark(100);
        window.Mark(101);
        window.Mark(163); // 100 is now 63 behind: still in the window

        Assert.True(window.IsReplay(100));
        Assert.True(window.IsReplay(101));
        Assert.False(window.IsReplay(102));

        window.Mark(164); // 100 is 64 behind: out of the window, and so a replay regardless
        Assert.True(window.IsReplay(100));
        Assert.True(window.IsReplay(101));
        Assert.False(window.IsReplay(102));
    }

    [Fact]
    public void More_than_63_behind_the_highest_is_a_replay_even_if_never_seen()
    {
        var window = new ReplayWindow();
        window.Mark(1_000);

        Assert.False(window.IsReplay(1_000 - 63));
        Assert.True(window.IsReplay(1_000 - 64));
        Assert.True(window.IsReplay(1_000 - 65));
        Assert.True(window.IsReplay(0));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1_000_000)]
    public void A_jump_of_64_or_more_keeps_only_the_new_highest(long jump)
    {
        var window = new ReplayWindow();
        for (long sequence = 0; sequence <= 10; sequence++)
        {
            window.Mark(sequence);
        }

        long highest = 10 + jump;
        window.Mark(highest);

        Assert.Equal(highest, window.Highest);
        Assert.True(window.IsReplay(highest));
        for (long behind = 1; behind < 64; behind++)
        {
            Assert.False(window.IsReplay(highest - behind), $"{highest - behind} was never seen");
        }
    }

    [Fact]
    public void A_jump_of_less_than_64_keeps_the_older_marks()
    {
        var window = new ReplayWindow();
        window.Mark(10);
        window.Mark(11);
        window.Mark(10 + 63);

        Assert.True(window.IsReplay(10));
        Assert.True(window.IsReplay(11));
        Assert.False(window.IsReplay(12));
        Assert.False(window.IsReplay(72));
        Assert.True(window.IsReplay(73));
    }

    [Fact]
    public void Checking_alone_does_not_move_the_window()
    {
        var window = new ReplayWindow();
        window.Mark(10);

        // A forged record with a high number is checked, fails authentication, and is never marked.
        Assert.False(window.IsReplay(1_000_000));

        Assert.Equal(10, window.Highest);
        Assert.False(window.IsReplay(9));
        Assert.False(window.IsReplay(11));
        Assert.False(window.IsReplay(1_000_000));
        window.Mark(11);
        Assert.True(window.IsReplay(11));
    }

    [Fact]
    public void The_largest_48_bit_sequence_numbers_work()
    {
        const long Max = (1L << 48) - 1;
        var window = new ReplayWindow();
        window.Mark(Max - 1);
        window.Mark(Max);

        Assert.True(window.IsReplay(Max));
        Assert.True(window.IsReplay(Max - 1));
        Assert.False(window.IsReplay(Max - 2));
        Assert.True(window.IsReplay(Max - 64));
    }
}
