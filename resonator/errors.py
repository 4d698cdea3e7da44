"""Expected failures, in the project's own words.

Every error a user can cause (a bad key, a missing or corrupt file, a full disk)
is a `ProjectError`: `where` names the file or dotted key, `what` says what is
wrong, `fix` says what to do. `resonator.cli.run_main` prints it as one line,
`error: <where>: <what> (<fix>)`, and exits with code 2; `--debug` shows the
traceback instead. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import errno


class ProjectError(Exception):
    """An expected failure: names the file or key, what is wrong and what to do."""

    def __init__(self, where, what: str, fix: str | None = None):
        self.where, self.what, self.fix = str(where), what, fix
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.where}: {self.what}" + (f" ({self.fix})" if self.fix else "")


class InputError(ProjectError):
    """An input file is missing, truncated, corrupt or does not match its record."""


def from_os_error(e: OSError, fallback: str = "a file") -> ProjectError:
    """An OSError as a ProjectError that names its file and the remedy."""
    where = e.filename or fallback
    reasons = {
        errno.ENOSPC: ("disk full", "free space and rerun; finished outputs were not touched"),
        errno.EDQUOT: ("disk quota exceeded", "free space and rerun; finished outputs were not touched"),
        errno.EROFS: ("read-only file system", "make the output location writable and rerun"),
        errno.EACCES: ("permission denied", "make the output location writable and rerun"),
        errno.EPERM: ("operation not permitted", "check the file's permissions and rerun"),
        errno.ENOENT: ("does not exist", "run the stage that makes it, e.g. `dvc repro`"),
    }
    what, fix = reasons.get(e.errno, (e.strerror or str(e), None))
    return ProjectError(where, what, fix)
