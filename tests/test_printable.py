"""Untrusted text on a terminal and in logs: escaped and bounded (lpz.views.printable)."""
from __future__ import annotations

import io
import logging

import pytest
from rich.text import Text

from lpz.views.printable import MAX_LOG_LINE, guard_logging, printable

HOSTILE = ("a\x1b]52;c;SGVsbG8=\x07b\x1b[2Jc\x1b[8md\u202ee\u2066f\x9bg\x7fh\x00i\r"
           "j\u200bk\u2028l")


def test_printable_escapes_what_steers_a_terminal_and_keeps_the_rest():
    shown = printable(HOSTILE)
    assert shown == ("a\\x1b]52;c;SGVsbG8=\\x07b\\x1b[2Jc\\x1b[8md\\u202ee\\u2066f\\x9bg\\x7fh\\x00i\\x0d"
                     "j\\u200bk\\u2028l")
    assert printable("line 1\n\tline 2, «ünïcödé» 日本 ▁▂▃") == "line 1\n\tline 2, «ünïcödé» 日本 ▁▂▃"
    assert printable("a\nb", keep="") == "a\\x0ab"
    assert printable(shown) == shown  # escaping twice changes nothing


@pytest.fixture
def guarded_log():
    """A logger writing to a string, with this process's log records guarded (restored afterwards)."""
    factory = logging.getLogRecordFactory()
    guard_logging()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("lpz.test-printable")
    logger.addHandler(handler)
    logger.propagate, level = False, logger.level
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)
    logger.setLevel(level)
    logging.setLogRecordFactory(factory)


def test_log_records_are_escaped_and_bounded(guarded_log):
    logger, stream = guarded_log
    logger.error("refused a task for run %s: %s", "r\x1b[2J" + "x" * 10_000_000, "fake\nERROR forged line")
    logger.warning({"worker": "w\x1b]0;title\x07"})  # not a format string
    try:
        raise ValueError("boom\x1b[8m" + "v" * 100_000)
    except ValueError:
        logger.exception("task %s failed", "t")
    logger.info("Task %(name)s[%(id)s] received", {"name": "lpz.train_cell", "id": "\u202e" + "i" * 50_000})
    text = stream.getvalue()
    assert not any(printable(c) != c for c in text if c != "\n")
    assert max(len(line) for line in text.splitlines()) < MAX_LOG_LINE + 100
    assert "refused a task for run r\\x1b[2Jxxx" in text and "more characters)" in text
    assert "fake\\x0aERROR forged line" in text and "\nERROR forged" not in text
    assert "{'worker': 'w\\x1b]0;title\\x07'}" in text
    assert "Task lpz.train_cell[\\u202eiii" in text
    assert "ValueError: boom\\x1b[8mvvv" in text and "Traceback" in text


def test_the_cli_console_escapes_what_it_prints_and_keeps_its_own_styles():
    from lpz.cli.main import _Terminal
    out = io.StringIO()
    console = _Terminal(file=out, force_terminal=True, color_system="standard", soft_wrap=True, width=200)
    console.print(Text.assemble(("run", "bold"), " created \x1b]52;c;SGVsbG8=\x07 \u202e"), "[red]red[/]")
    shown = out.getvalue()
    assert "\\x1b]52;c;SGVsbG8= \\u202e" in shown  # (Rich drops a BEL by itself)
    assert "\x1b[1mrun\x1b[0m" in shown and "\x1b[31mred\x1b[0m" in shown  # Rich's own escapes, untouched
    assert "\x07" not in shown and "\u202e" not in shown and "\x1b]" not in shown
