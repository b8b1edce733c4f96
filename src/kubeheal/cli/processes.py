"""The one place where kubeheal's commands start a program on behalf of the store.

The operator stack never starts a process; the CLI may (tests/reliability/
test_reliability_security.py). `run_process` is the `kubeheal.store.backup.ProcessRunner`
that ``pg_dump``/``pg_restore`` run through: no shell, the environment given and nothing
else, output captured, a timeout.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

__all__ = ["run_process"]


def run_process(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[int, str]:
    """Run ``argv`` to its end; return its exit code and its stderr (stdout if stderr is
    empty). Raises `OSError` when it cannot start, `TimeoutError` past ``timeout``."""
    try:
        proc = subprocess.run(
            list(argv), env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise TimeoutError(f"{argv[0]} ran past {timeout:g} s") from e
    return proc.returncode, proc.stderr or proc.stdout
