"""The error boundary every command runs under: expected errors as one line, anything else with its traceback.

    if __name__ == "__main__":
        run_command(main)

An *expected* error is a problem with what the user gave (a file, a config key, a command-line value), and prints

    error: <file or key>: <problem>
    hint: <what to do>                      (only where one helps)

with exit status 1. It is either an `InputError` (raised anywhere), or any exception that tubelink's own code raises
on purpose with a `raise SomeError(...)` statement: by project convention those messages already start with the
file or key they are about (`f"{path}: invalid JSON"`). Everything else (a bug, a library failure) is unexpected
and keeps its traceback. `--debug` on the command line or TUBELINK_DEBUG=1 shows the traceback of expected errors
too.
"""

from __future__ import annotations

import linecache
import logging
import os
import re
import sys
from typing import Any, Callable, Optional

__all__ = ["InputError", "is_expected", "describe", "run_command", "debug_requested", "require_output_folder"]

DEBUG_FLAG = "--debug"
DEBUG_ENV = "TUBELINK_DEBUG"
# Files under this folder are tubelink's own code (the package and the repository's scripts).
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_RAISE_STATEMENT = re.compile(r"^\s*raise\s+[A-Za-z_]")  # `raise X(...)`, not a bare re-raise


class InputError(ValueError):
    """A problem with the user's input: `subject` is the file, config key or option, `problem` what is wrong,
    `hint` (optional) what to do about it. A ValueError, so existing `except ValueError` handlers still apply."""

    def __init__(self, subject: str, problem: str, hint: Optional[str] = None) -> None:
        super().__init__(f"{subject}: {problem}")
        self.subject, self.problem, self.hint = str(subject), problem, hint


def _innermost_frame(err: BaseException):
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def _raised_on_purpose(err: BaseException) -> bool:
    """True when a `raise X(...)` statement in tubelink's own code raised `err` (not a library, not an operation
    such as `d[key]` or `int(text)` that failed inside our code)."""
    tb = _innermost_frame(err)
    if tb is None:
        return False
    filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
    if not filename.startswith(_REPO_ROOT + os.sep) or f"{os.sep}site-packages{os.sep}" in filename:
        return False
    return bool(_RAISE_STATEMENT.match(linecache.getline(filename, tb.tb_lineno)))


def _is_worker_exit(err: BaseException) -> bool:
    """A worker of `launch` that exited non-zero; it has printed its own error line already."""
    mp = sys.modules.get("torch.multiprocessing")
    return mp is not None and isinstance(err, getattr(mp, "ProcessExitedException", ()))


def is_expected(err: BaseException) -> bool:
    """Whether `err` is a problem with the user's input (printed as one line) rather than a bug."""
    if isinstance(err, InputError) or _is_worker_exit(err):
        return True
    if not isinstance(err, Exception) or isinstance(err, (AssertionError, UnicodeError)):
        return False
    return _raised_on_purpose(err)


def describe(err: BaseException) -> str:
    """The `error: ...` line (plus a `hint: ...` line where the error carries one)."""
    if _is_worker_exit(err):
        return f"error: worker process {err.error_index} exited with status {err.exit_code} (its error is above)"
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.filename}: {err.strerror}"
    elif isinstance(err, KeyError) and err.args and isinstance(err.args[0], str):
        text = err.args[0]  # str(KeyError) would quote the message
    else:
        text = str(err) or type(err).__name__
    line = "error: " + " ".join(part.strip() for part in text.splitlines() if part.strip())  # one line, always
    hint = getattr(err, "hint", None)
    return line + (f"\nhint: {hint}" if hint else "")


def debug_requested(argv: Optional[list] = None) -> bool:
    """True when `--debug` is on the command line (it is removed from `argv`) or TUBELINK_DEBUG is set."""
    argv = sys.argv if argv is None else argv
    found = DEBUG_FLAG in argv[1:]
    while DEBUG_FLAG in argv[1:]:
        argv.remove(DEBUG_FLAG)
    return found or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def _ensure_console_logging() -> None:
    """Give the `tubelink` logger a console handler when the command set up none, so checkpoint coverage tables
    and warnings reach the user in every command (commands with an output folder replace it with their own)."""
    logger = logging.getLogger("tubelink")
    if not logger.handlers:
        from .logger import setup_logger

        setup_logger()


def run_command(main: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a command's `main(*args, **kwargs)` under the boundary; exits 1 on an expected error, 130 on Ctrl-C."""
    debug = debug_requested()
    _ensure_console_logging()
    try:
        return main(*args, **kwargs)
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        if debug or not is_expected(err):
            raise
        logging.getLogger("tubelink").debug("expected error", exc_info=True)  # the traceback, in log.txt only
        sys.stdout.flush()
        print(describe(err), file=sys.stderr)
        sys.exit(1)


def require_output_folder(path: str, option: str) -> str:
    """Create the output folder `path` (given as `option`) or raise InputError when it cannot be one."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(path, f"{option} must be a folder, but a file of that name exists", "choose another path")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise InputError(path, f"{option}: cannot create the folder: {err.strerror}") from None
    return path

