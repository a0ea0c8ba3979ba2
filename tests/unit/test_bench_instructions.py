"""``bench.instructions``: the count read from callgrind's messages, and which counts a stage
and a ``--without`` list ask for."""

from __future__ import annotations

import argparse

import pytest

from bench.instructions import WITHOUT, collected, runs

MESSAGES = """==20723== Callgrind, a call-graph generating cache profiler
==20723== brk segment overflow in thread #1: can't grow to 0x484a000
==20723== Events    : Ir
==20723== Collected : 422420466
==20723==
==20723== I   refs:      422,420,466
"""


def test_the_count_is_callgrinds_collected_line():
    assert collected(MESSAGES) == 422_420_466


def test_no_count_or_two_counts_is_an_error_not_a_number():
    with pytest.raises(ValueError, match="found 0"):
        collected("==1== Callgrind\n")
    with pytest.raises(ValueError, match="found 2"):
        collected(MESSAGES + MESSAGES.replace("20723", "20724"))


def test_each_part_left_out_is_counted_alone_then_all_together():
    asked = runs(argparse.Namespace(stage="api", without="relay,logging"))
    assert asked == [
        ("project", ()),
        ("bare", ()),
        ("project", ("relay",)),
        ("project", ("logging",)),
        ("project", ("relay", "logging")),
    ]
    assert runs(argparse.Namespace(stage="api", without=None)) == [("project", ()), ("bare", ())]
    assert runs(argparse.Namespace(stage="api", without="send")) == [
        ("project", ()),
        ("bare", ()),
        ("project", ("send",)),
    ]


def test_a_worker_stage_has_no_bare_count():
    assert runs(argparse.Namespace(stage="publish", without=None)) == [("project", ())]
    assert runs(argparse.Namespace(stage="enrichment", without="send")) == [("project", ()), ("project", ("send",))]


def test_an_unknown_part_is_refused_with_the_known_ones():
    with pytest.raises(SystemExit, match="unknown nothing") as refused:
        runs(argparse.Namespace(stage="api", without="relay,nothing"))
    assert all(part in str(refused.value) for part in WITHOUT)
