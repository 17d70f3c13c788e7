"""The stall watch's arithmetic (``router.watchdog.StallWatch``): which waits count.

The end-to-end case (a partition Faust never hands to its agent stops the worker, and the
restart handles it) is in test_failfast.py; these check that a slow agent, a moving
partition or a topic emptied by retention never stop a worker.
"""

from __future__ import annotations

from router.watchdog import StallWatch

TP = ("h.decisions", 0)


def test_messages_waiting_while_the_agent_is_idle_add_up_to_a_stall() -> None:
    w = StallWatch(bound=15.0, topics={"h.decisions"}, busy=lambda t: False, every=5.0)
    waits = [w.observe(TP, committed=7, end=8, earliest=0, busy=False) for _ in range(4)]
    assert waits == [0.0, 5.0, 10.0, 15.0]


def test_time_the_agent_spends_on_a_message_is_not_a_stall() -> None:
    w = StallWatch(bound=15.0, topics={"h.decisions"}, busy=lambda t: False, every=5.0)
    w.observe(TP, committed=7, end=9, earliest=0, busy=False)
    for _ in range(100):  # a desk that takes minutes, a retry waiting its turn
        assert w.observe(TP, committed=7, end=9, earliest=0, busy=True) == 0.0
    assert w.observe(TP, committed=7, end=9, earliest=0, busy=False) == 5.0


def test_a_moving_offset_or_nothing_waiting_starts_the_count_again() -> None:
    w = StallWatch(bound=15.0, topics={"h.decisions"}, busy=lambda t: False, every=5.0)
    w.observe(TP, committed=7, end=20, earliest=0, busy=False)
    assert w.observe(TP, committed=7, end=20, earliest=0, busy=False) == 5.0
    assert w.observe(TP, committed=12, end=20, earliest=0, busy=False) == 0.0
    assert w.observe(TP, committed=20, end=20, earliest=0, busy=False) == 0.0
    # never committed (Faust's None), nothing ever written
    assert w.observe(("h.replies", 1), committed=None, end=0, earliest=0, busy=False) == 0.0
    assert w.observe(("h.replies", 1), committed=None, end=0, earliest=0, busy=False) == 0.0


def test_messages_removed_by_retention_do_not_count_as_waiting() -> None:
    w = StallWatch(bound=15.0, topics={"h.decisions"}, busy=lambda t: False, every=5.0)
    for _ in range(5):  # committed 0 (None) but the log now starts at 40 and ends there
        assert w.observe(TP, committed=None, end=40, earliest=40, busy=False) == 0.0
