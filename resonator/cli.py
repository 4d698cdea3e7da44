"""One way to end a command: expected failures as one line and exit code 2.

    if __name__ == "__main__":
        sys.exit(run_main(main))

`main(argv)` raises `ProjectError` (or lets an OSError through) for anything a
user can cause; `run_main` prints `error: <where>: <what> (<fix>)` on stderr and
returns 2. With `--debug` among the arguments (or RESONATOR_DEBUG=1) the
traceback is shown instead. A closed stdout (`... | head`) ends quietly.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

from resonator.errors import ProjectError, from_os_error


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("RESONATOR_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]
    try:
        return int(main(argv) or 0)
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ProjectError as e:
        if debug:
            raise
        print(f"error: {e.line()}", file=sys.stderr)
        return 2
    except OSError as e:
        if debug:
            raise
        print(f"error: {from_os_error(e).line()}", file=sys.stderr)
        return 2
