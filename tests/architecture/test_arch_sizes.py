"""Rooms a newcomer can change alone: no source file over 900 lines, the operator under 400."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "kubeheal"
MOST_LINES = 900
OPERATOR_MOST_LINES = 400
"""runtime/operator.py keeps only the lifecycle, reflectors and sweeps (docs/architecture.md)."""


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def sizes_over(root: Path) -> dict[str, int]:
    return {
        path.relative_to(root).as_posix(): n
        for path in sorted(root.rglob("*.py"))
        if (n := line_count(path)) > MOST_LINES
    }


def test_no_source_file_is_over_900_lines() -> None:
    assert sizes_over(SRC) == {}, "split these into cohesive modules (see docs/architecture.md)"


def test_the_operator_module_stays_under_400_lines() -> None:
    assert line_count(SRC / "runtime" / "operator.py") <= OPERATOR_MOST_LINES


def test_a_file_over_the_limit_is_found(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * (MOST_LINES + 1))
    (tmp_path / "small.py").write_text("x = 1\n" * MOST_LINES)
    assert sizes_over(tmp_path) == {"big.py": MOST_LINES + 1}
