"""Documentation generated from the code stays in sync with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_playbook_docs_match_the_builtin_playbooks() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-playbook-docs"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, "docs/playbooks.md is stale: run scripts/gen-playbook-docs"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo" in readme and "scripts/test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci
