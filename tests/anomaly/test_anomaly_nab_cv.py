"""bench/nab_bench.py's leave-one-category-out CV: the held-out category never chooses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from kubeheal.anomaly.nab import LabelledFile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from nab_bench import cross_validate


def files(category: str, count: int) -> list[LabelledFile]:
    return [LabelledFile(f"{category}/f{i}.csv", 2000, ((1500, 1600),)) for i in range(count)]


def perfect(lf: LabelledFile) -> np.ndarray:
    s = np.zeros(lf.rows)
    s[lf.windows[0][0]] = 1.0
    return s


def test_a_candidate_good_only_on_the_held_out_category_is_not_credited() -> None:
    a, b = files("catA", 2), files("catB", 2)
    # "onlyA" detects catA perfectly and nothing in catB; "onlyB" the other way round.
    runs = {
        "onlyA": [(lf, perfect(lf)) for lf in a] + [(lf, np.zeros(lf.rows)) for lf in b],
        "onlyB": [(lf, np.zeros(lf.rows)) for lf in a] + [(lf, perfect(lf)) for lf in b],
    }
    out = cross_validate(runs)
    # in-sample either scores 50; held out, each fold picks the candidate that is blind to it
    assert {f["held_out"]: f["chosen"] for f in out["folds"]} == {"catA": "onlyB", "catB": "onlyA"}
    assert abs(out["cv"]["standard"]) < 1e-9
    # its own CV score is 0 too: the threshold learnt on catB (detect nothing) misses catA
    assert abs(out["per_candidate"]["onlyA"]["standard"]) < 1e-9


def test_the_held_out_category_is_scored_at_the_threshold_of_the_others() -> None:
    a, b = files("catA", 2), files("catB", 2)
    # catA's detections score 0.9, catB's 0.6: a threshold learnt on catA (0.9) misses catB
    scored = [(lf, 0.9 * perfect(lf)) for lf in a] + [(lf, 0.6 * perfect(lf)) for lf in b]
    out = cross_validate({"only": scored})
    thresholds = {f["held_out"]: f["standard"]["threshold"] for f in out["folds"]}
    assert thresholds == {"catA": 0.6, "catB": 0.9}
    assert abs(out["cv"]["standard"] - 50.0) < 1e-9  # catA found at 0.6, catB missed at 0.9


def test_a_candidate_good_everywhere_scores_100_in_cv() -> None:
    corpus = files("catA", 2) + files("catB", 3) + files("catC", 1)
    runs = {
        "good": [(lf, perfect(lf)) for lf in corpus],
        "null": [(lf, np.zeros(lf.rows)) for lf in corpus],
    }
    out = cross_validate(runs)
    assert all(f["chosen"] == "good" for f in out["folds"])
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert abs(out["cv"][profile] - 100.0) < 1e-9
        assert abs(out["per_candidate"]["null"][profile]) < 1e-9
