"""Which failures are the user's to fix, and how one is told in one line.

A UserError (bad input, a busy run folder, a failed job whose log says why) and an OSError about
a file (full disk, read-only folder, permission, missing file) are reported as one line naming
the node, file and row. Anything else is a bug of ours: it is reported as an internal error,
never dressed up as a user error. Either way the traceback goes to a log file whose path is
printed.
"""
from __future__ import annotations

import errno
import os
import tempfile
import time
import traceback
from pathlib import Path


class UserError(ValueError):
    """A problem with the user's input or environment, with a message that says what to fix."""


FILE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
               errno.EISDIR, errno.ENOTDIR, errno.EFBIG, errno.ENAMETOOLONG}
HINTS = {errno.ENOSPC: "the disk is full; free space and run again (finished nodes are kept)",
         errno.EDQUOT: "over the disk quota; free space and run again (finished nodes are kept)",
         errno.EROFS: "the folder is read-only; choose a writable one",
         errno.EFBIG: "a file grew past the size limit"}


def is_user_error(exc: BaseException) -> bool:
    # FileNotFoundError without an errno: a library's own "no such file" (datasets' "Unable to find
    # '<task data file>'"), a path the user gave.
    return isinstance(exc, (UserError, FileNotFoundError)) or (isinstance(exc, OSError) and exc.errno in FILE_ERRNOS)


def one_line(exc: BaseException) -> str:
    """The message of a user error, naming the node (when it happened in one) and the file."""
    if isinstance(exc, OSError) and exc.errno in FILE_ERRNOS:
        where = exc.filename or ""
        text = f"{where}: {exc.strerror}" if where else exc.strerror or str(exc)
        if exc.errno in HINTS:
            text += f" ({HINTS[exc.errno]})"
    else:
        text = str(exc)
        if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":  # a KeyError's repr-quoted message
            text = text[1:-1]
    node = getattr(exc, "rlhf_node", None)
    return f"node {node}: {text}" if node else text


def log_dir() -> Path:
    from rlhf_eval.store import cache_root
    return cache_root() / "logs"


def save_traceback(exc: BaseException, command: str) -> Path | None:
    """Write the traceback to a log file; on a full or read-only disk, to the temp folder; None
    when nothing could be written."""
    text = "".join(traceback.format_exception(exc))
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{command}-{os.getpid()}.log"
    for folder in (log_dir(), Path(tempfile.gettempdir()) / "rlhf_eval-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text)
            return path
        except OSError:
            continue
    return None
