"""`kubeheal anomaly score-csv` and `plot`: streaming output and what bad input does."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kubeheal.anomaly import AnomalyDetector
from kubeheal.cli.main import app

runner = CliRunner()


def write(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text(("timestamp,value\n" if header else "") + "\n".join(rows) + "\n")
    return path


def good_rows(n: int = 600, spike: int | None = 500) -> list[str]:
    rng = np.random.default_rng(1)
    values = 10 + rng.standard_normal(n)
    if spike is not None:
        values[spike] += 20
    return [f"2024-05-01T00:00:00Z,{values[0]}"] + [
        f"{1714521600 + 60 * i},{values[i]}" for i in range(1, n)
    ]


def read(path: Path) -> list[list[str]]:
    with path.open() as fh:
        return list(csv.reader(fh))


def test_score_csv_writes_every_row_in_order(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", good_rows())
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out), "--chunk", "37"])
    assert result.exit_code == 0, result.output
    rows = read(out)
    assert rows[0] == ["timestamp", "value", "anomaly_score"]
    assert len(rows) == 601
    scores = np.array([float(r[2]) for r in rows[1:]])
    assert scores[500] >= 0.5 and int((scores >= 0.5).sum()) <= 3
    # the same scores as the detector fed at once: chunking changes nothing
    values = np.array([float(r[1]) for r in rows[1:]])
    whole = AnomalyDetector().update(1714521600 + 60.0 * np.arange(600), values).scores
    np.testing.assert_allclose(scores, np.round(whole, 6), atol=1e-6)
    assert "1 anomalies" in result.output or "anomalies" in result.output


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no data rows"),
        (["1714521600,1", "1714521660"], "row 3: expected timestamp,value"),
        (["1714521600,1", "yesterday,2"], "row 3: unreadable timestamp"),
        (["1714521600,1", "1714521660,abc"], "row 3: unreadable value"),
        (["1714521600,1", "1714521660,nan"], "row 3: value 'nan' is not a finite"),
        (["1714521600,1", "1714521660,"], "row 3: value '(empty)' is not a finite"),
    ],
)
def test_bad_input_is_an_error_naming_the_row(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    src = write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
    assert not list(tmp_path.glob(".score-*"))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["1714521600,1", "1714521660,2", "1714521630,3"],
            "row 4: timestamp '1714521630' is earlier than the row before",
        ),
        (["1714521600,1", "1714521600,2"], "row 3: duplicate timestamp '1714521600'"),
    ],
)
def test_strict_refuses_repeated_and_out_of_order_timestamps(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    src = write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out), "--strict"])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
    assert not list(tmp_path.glob(".score-*"))


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = runner.invoke(app, ["anomaly", "score-csv", str(empty), str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "no data rows" in result.output
    result = runner.invoke(app, ["anomaly", "score-csv", str(tmp_path / "nope.csv"), "o.csv"])
    assert result.exit_code == 2 and "no such file" in result.output


def test_skip_invalid_and_allow_duplicates(tmp_path: Path) -> None:
    rows = good_rows(300, spike=None)
    rows[100] = rows[100].split(",")[0] + ",NaN"
    rows[200] = rows[199].split(",")[0] + ",10"
    src = write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        ["anomaly", "score-csv", str(src), str(out), "--skip-invalid", "--allow-duplicates"],
    )
    assert result.exit_code == 0, result.output
    got = read(out)[1:]
    assert len(got) == 300
    assert got[100][2] == "" and got[200][2] != ""


def test_constant_series_scores_zero(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", [f"{1714521600 + 60 * i},5" for i in range(400)], False)
    out = tmp_path / "out.csv"
    assert runner.invoke(app, ["anomaly", "score-csv", str(src), str(out)]).exit_code == 0
    assert {r[2] for r in read(out)[1:]} == {"0.000000"}


def test_plot_writes_png_and_html(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    n = 400
    rows = [f"{1714521600 + 60 * i},{100 + 0.5 * i + (30 if i == 350 else 0)}" for i in range(n)]
    src = write(tmp_path / "in.csv", rows)
    png, page = tmp_path / "p.png", tmp_path / "p.html"
    result = runner.invoke(
        app,
        ["anomaly", "plot", str(src), "--out", str(png), "--html", str(page), "--limit", "600"],
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "data:image/png;base64," in text and "exhaustion in" in text
    assert "<td>spike</td>" in text or "<td>level</td>" in text


def test_repeated_and_out_of_order_timestamps_are_scored_by_default(tmp_path: Path) -> None:
    # a daylight-saving change repeats an hour; a late sample arrives after a later one
    rows = good_rows(600)
    rows[300] = rows[299].split(",")[0] + ",10.5"  # repeated timestamp
    late = 1714521600 + 60 * 397
    rows[400] = f"{late},10.2"  # earlier than the row before (row 400 is at +399 min)
    src = write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out)])
    assert result.exit_code == 0, result.output
    got = read(out)[1:]
    assert len(got) == 600
    assert all(r[2] != "" for r in got)
    assert got[400][0] == str(late)  # the row is written as it came
    scores = np.array([float(r[2]) for r in got])
    assert scores[500] >= 0.5  # the spike after them is still found
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "1 repeated and 1 out-of-order timestamps (first at row 302)" in warnings[0]
    assert "--strict" in warnings[0]


def test_in_order_input_gives_no_warning(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", good_rows())
    result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_strict_allow_duplicates_accepts_repeats_but_not_going_back(tmp_path: Path) -> None:
    rows = ["1714521600,1", "1714521600,2", "1714521660,3"]
    src = write(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    ok = runner.invoke(
        app, ["anomaly", "score-csv", str(src), str(out), "--strict", "--allow-duplicates"]
    )
    assert ok.exit_code == 0, ok.output
    assert len(read(out)) == 4
    src = write(tmp_path / "back.csv", [*rows, "1714521630,4"])
    bad = runner.invoke(
        app,
        ["anomaly", "score-csv", str(src), str(out), "--strict", "--allow-duplicates"],
    )
    assert bad.exit_code == 2 and "row 5: timestamp '1714521630' is earlier" in bad.output


NAB = Path("/work/shared/data/nab/data")


@pytest.mark.slow
@pytest.mark.skipif(not NAB.is_dir(), reason="NAB data not present")
def test_every_nab_file_is_scored_row_for_row_with_default_options(tmp_path: Path) -> None:
    sources = sorted(NAB.glob("*/*.csv"))
    assert len(sources) >= 30
    for src in sources:
        out = tmp_path / "out.csv"
        result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out)])
        assert result.exit_code == 0, f"{src}: {result.output}"
        rows = read(out)[1:]
        assert len(rows) == len(read(src)) - 1
        assert all(r[2] != "" for r in rows), src


@pytest.mark.skipif(not NAB.is_dir(), reason="NAB data not present")
def test_a_real_file_with_a_daylight_saving_repeat_and_a_late_row_is_scored(
    tmp_path: Path,
) -> None:
    # the two refusals of issue 17, reproduced on a real NAB file: an hour repeated (the
    # clocks going back) and a row whose timestamp is earlier than the row before
    lines = (NAB / "realTraffic" / "speed_7578.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]
    body = body[:600] + body[590:600] + body[600:]  # ten rows again, as after a DST change
    body[800], body[801] = body[801], body[800]  # one row late
    src = tmp_path / "dst.csv"
    src.write_text("\n".join([header, *body]) + "\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert len(read(out)) == len(body) + 1
    # rows 602-610 go back, row 611 repeats the latest time, row 803 is the late one
    assert "1 repeated and 10 out-of-order timestamps (first at row 602)" in result.output
    strict = runner.invoke(app, ["anomaly", "score-csv", str(src), str(out), "--strict"])
    assert strict.exit_code == 2 and "row 602" in strict.output and "earlier" in strict.output
