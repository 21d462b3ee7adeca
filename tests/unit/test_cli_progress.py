"""The long-running commands' progress (cli/progress.py), where stderr is no terminal (a log, a
pipe, a test): plain lines on stderr, never on stdout.

Given: a progress counting rows, positions, events or bytes, on a captured (not a terminal)
stderr. When: it is told how far its bars are. Then: a bar on its way prints a line at once and
then at most once a period, every bar prints its last state once at the end, each line begins
with its description, and stdout is left to the command's results."""

from __future__ import annotations

import pytest

from cli.progress import shown

A_LONG_TIME = 3600.0


def test_a_bar_on_its_way_prints_a_line_at_once_then_waits_its_period_and_its_last_at_the_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with shown("rows", every=A_LONG_TIME) as bar:
        bar("people", 1, 10)
        bar("people", 5, 10)  # within the period: not printed now
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("people  10% 1/10 ")
    assert lines[1].startswith("people  50% 5/10 ")
    assert "rows/s" in lines[1]


def test_a_finished_bar_is_printed_once_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    with shown("positions", every=0.0) as bar:
        bar("incident_details", 1_000, 1_000)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("incident_details 100% 1,000/1,000 ")
    assert "positions/s" in lines[0]


def test_each_phase_has_a_bar_and_the_end_prints_them_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with shown("bytes", every=A_LONG_TIME) as bar:
        bar("checking events.db", 2048, 2048, phase="checking")
        bar("restoring events.db", 1024, 2048, phase="restoring")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines[-2:]] == [
        ["checking", "events.db"],
        ["restoring", "events.db"],
    ]
    assert "2.0/2.0 KiB" in lines[-2]
    assert "1.0/2.0 KiB" in lines[-1]


def test_without_a_total_a_bar_shows_its_count_alone(capsys: pytest.CaptureFixture[str]) -> None:
    with shown("events", every=A_LONG_TIME) as bar:
        bar("sent", 12_500, None)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("sent")
    assert "12,500 " in lines[0]
    assert "/" not in lines[0].split("events/s")[0]


def test_a_note_is_printed_as_it_is_above_the_bars(capsys: pytest.CaptureFixture[str]) -> None:
    with shown("dead letters", every=A_LONG_TIME) as bar:
        bar.note("replaying [b]1,000[/b] dead letters")
        bar("replayed", 4, 1_000)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0] == "replaying [b]1,000[/b] dead letters"
    assert err.splitlines()[1].startswith("replayed")


def test_force_color_does_not_make_a_pipe_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    with shown("dead letters", every=A_LONG_TIME) as bar:
        bar("replayed", 4, 1_000)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("replayed   0% 4/1,000 ")
    assert "\x1b" not in "".join(lines)
