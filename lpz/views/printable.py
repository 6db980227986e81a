"""Text from untrusted places, made safe to show: on a terminal and in logs.

What the store, the broker or a message holds may carry terminal escape sequences (a clipboard write,
a window title, a screen clear, hidden text) or bidirectional overrides that reorder what a reader
sees. `printable` shows such characters as visible escapes (\\x1b, \\u202e) instead; the command line
applies it to what it prints (lpz.cli.main), and `guard_logging` to every log record of the process
(the CLI's and a Celery worker's, lpz.celery), which it also bounds: a message naming a run id of 10 MB
is logged as a short line, never as 10 MB.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping

# C0 and C1 control characters and DEL; the Unicode format characters that reorder or hide text
# (bidi marks, embeddings, overrides and isolates, zero-width characters); line and paragraph separators.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")
MAX_LOG_LINE = 1000      # characters of one line of a log message or of a traceback
MAX_LOG_ARGUMENT = 300   # characters of a text argument of a log message (a run id has at most 80)
MAX_LOG_MESSAGE = 8000   # characters of a whole log message


def printable(text: str, keep: str = "\n\t") -> str:
    """text with each character that could steer a terminal or hide text escaped (\\x1b, \\u202e);
    those in keep (by default newline and tab) stay as they are."""
    def escaped(match: re.Match) -> str:
        char = match.group()
        if char in keep:
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    return UNSAFE.sub(escaped, text)


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def _bounded_lines(text: str) -> str:
    text = bounded(text, MAX_LOG_MESSAGE)
    if len(text) <= MAX_LOG_LINE:
        return text
    return "\n".join(bounded(line, MAX_LOG_LINE) for line in text.split("\n"))


def _shown_argument(value):
    """A log argument: text escaped whole (a newline in a run id must not start a forged log line)."""
    return printable(bounded(value, MAX_LOG_ARGUMENT), keep="") if isinstance(value, str) else value


def guard_logging() -> None:
    """Make every log record of this process printable and bounded, whoever logs it and wherever it
    goes (lpz, Celery's task-received lines with their message's task id, kombu): its arguments, its
    message and its traceback are escaped (see printable) and cut to MAX_LOG_LINE characters a line."""
    make = logging.getLogRecordFactory()
    if getattr(make, "lpz_guarded", False):
        return

    def guarded(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            if isinstance(record.args, Mapping):
                record.args = {key: _shown_argument(value) for key, value in record.args.items()}
            elif isinstance(record.args, tuple):
                record.args = tuple(_shown_argument(value) for value in record.args)
            message = record.getMessage()
            if isinstance(record.exc_info, tuple) and record.exc_info[0] is not None and not record.exc_text:
                record.exc_text = _bounded_lines(printable(logging.Formatter().formatException(record.exc_info)))
        except Exception:  # a message that does not format: logging reports it as it always has
            return record
        record.msg, record.args = _bounded_lines(printable(message)), None
        return record

    guarded.lpz_guarded = True
    logging.setLogRecordFactory(guarded)
