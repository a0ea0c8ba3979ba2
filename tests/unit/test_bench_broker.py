"""``bench.broker.per_message`` divides by the messages actually sent: a case that sends several
messages per call is called only as often as the count asks, and never fewer than once."""

from bench.broker import per_message


def test_a_case_sending_several_messages_a_call_is_called_for_the_messages_asked():
    calls: list[int] = []
    wall, cpu = per_message(lambda: calls.append(1), messages=24, per_call=8)
    assert len(calls) == 3
    assert wall >= 0 and cpu >= 0


def test_fewer_messages_than_one_call_sends_still_run_one_call():
    calls: list[int] = []
    per_message(lambda: calls.append(1), messages=3, per_call=8)
    assert len(calls) == 1
