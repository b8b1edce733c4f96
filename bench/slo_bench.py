"""Benchmark of SLO rule generation: N SLOs from spec text to every generated file.

    .venv/bin/python bench/slo_bench.py [--slos 1000] [--repeats 3] [--promtool]

Builds N SLOs in 100-SLO Sloth specs (a third events SLIs, a third error-ratio SLIs, a third
histogram-latency SLIs; ten common objectives, or with --distinct-objectives one per SLO;
periods 30d, 28d and 7d in turn), then times, best of --repeats, each run cold:
- parsing and validating the spec text (``parse_specs``);
- rendering the rule files and PrometheusRule resources to YAML text;
- rendering the promtool test files (test variant rules and cases) to YAML text.
"total" is the three together, what ``kubeheal slo generate`` does before writing files.
With --promtool, also checks one spec's rules with ``promtool check rules`` (sanity, not timed).
Prints a JSON summary (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kubeheal.slo import promtests
from kubeheal.slo.generate import GenerateOptions, render_outputs
from kubeheal.slo.specs import parse_specs

PER_SPEC = 100


OBJECTIVES = (99.9, 99.5, 95.0, 99.95, 99.0, 98.0, 97.5, 99.99, 99.8, 90.0)


def spec_text(index: int, count: int, *, distinct: bool = False) -> str:
    slos = []
    for i in range(count):
        objective = 99 + (index * PER_SPEC + i + 1) / 1024 if distinct else OBJECTIVES[i % 10]
        metric = f"svc{index}_op{i}"
        kind = i % 3
        sli: dict[str, object]
        if kind == 0:
            sli = {
                "events": {
                    "error_query": (
                        f'sum(rate({metric}_requests_total{{code=~"5.."}}[{{{{.window}}}}]))'
                    ),
                    "total_query": f"sum(rate({metric}_requests_total[{{{{.window}}}}]))",
                }
            }
        elif kind == 1:
            sli = {
                "raw": {
                    "error_ratio_query": (
                        f'1 - avg_over_time(probe_success{{job="{metric}"}}[{{{{.window}}}}])'
                    )
                }
            }
        else:
            sli = {
                "plugin": {
                    "id": "kubeheal/histogram-latency/v1",
                    "options": {
                        "metric": f"{metric}_duration_seconds",
                        "selector": f'job="{metric}"',
                        "threshold": "0.2",
                        "buckets": "0.05,0.1,0.25,0.5,1",
                    },
                }
            }
        slos.append(
            {
                "name": f"op{i}",
                "objective": objective,
                "description": f"operation {i} of service {index}",
                "labels": {"team": f"team{index % 7}"},
                "sli": sli,
                "alerting": {
                    "name": f"Svc{index}Op{i}",
                    "labels": {"category": "availability"},
                    "page_alert": {"labels": {"severity": "critical"}},
                    "ticket_alert": {"labels": {"severity": "warning"}},
                },
            }
        )
    spec = {
        "version": "prometheus/v1",
        "service": f"svc{index}",
        "labels": {"namespace": f"ns{index}", "deployment": f"svc{index}"},
        "slos": slos,
    }
    return yaml.safe_dump(spec, sort_keys=False)


def run(total: int, *, distinct: bool) -> dict[str, float]:
    periods = (30, 28, 7)
    texts = [
        (
            f"svc{i}",
            spec_text(i, min(PER_SPEC, total - i * PER_SPEC), distinct=distinct),
            periods[i % 3] * 86_400,
        )
        for i in range((total + PER_SPEC - 1) // PER_SPEC)
    ]
    # Scenario models are cached per (objective, period, guard, alerts): start cold.
    promtests._suites.cache_clear()
    t0 = time.perf_counter()
    specs = [
        (stem, parse_specs(text, source=f"{stem}.yaml", default_period=period))
        for stem, text, period in texts
    ]
    t1 = time.perf_counter()
    rules = render_outputs(specs, GenerateOptions(tests=False))
    t2 = time.perf_counter()
    everything = render_outputs(specs, GenerateOptions(tests=True))
    t3 = time.perf_counter()
    tests_only = (t3 - t2) - (t2 - t1)
    return {
        "parse_seconds": t1 - t0,
        "rules_seconds": t2 - t1,
        "tests_seconds": tests_only,
        "total_seconds": (t1 - t0) + (t3 - t2),
        "files": len(everything),
        "rule_lines": sum(text.count("\n") for name, text in rules.items() if "rules" in name),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--promtool", action="store_true")
    parser.add_argument(
        "--distinct-objectives",
        action="store_true",
        help="give every SLO its own objective (no two share a test model: the worst case)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = [run(args.slos, distinct=args.distinct_objectives) for _ in range(args.repeats)]
    best = {key: min(r[key] for r in runs) for key in runs[0]}
    summary = {
        "slos": args.slos,
        "distinct_objectives": args.distinct_objectives,
        "repeats": args.repeats,
        "best": best,
        "runs": runs,
    }
    if args.promtool:
        specs = [("svc0", parse_specs(spec_text(0, PER_SPEC), source="svc0.yaml"))]
        with tempfile.TemporaryDirectory() as tmp:
            outputs = render_outputs(specs, GenerateOptions(tests=False))
            path = Path(tmp) / "svc0.rules.yml"
            path.write_text(outputs["svc0.rules.yml"])
            checked = subprocess.run(
                ["promtool", "check", "rules", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            summary["promtool_check"] = checked.stdout.strip().splitlines()[-1]
            if checked.returncode != 0:
                print(checked.stdout + checked.stderr, file=sys.stderr)
                return 1
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
