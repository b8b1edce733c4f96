"""The experiment file: validation, clear errors, JSON Schema, the examples."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from kubeheal.chaos.errors import ExperimentSpecError
from kubeheal.chaos.gameday import gameday_phases
from kubeheal.chaos.spec import (
    FAULT_KINDS,
    PodTarget,
    experiment_json_schema,
    load_experiment,
    parse_experiment,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "chaos"

BASE = {
    "name": "t",
    "steady_state": [
        {"name": "up", "kubernetes": {"workload": {"namespace": "demo", "name": "sample-app"}}}
    ],
    "method": [
        {
            "name": "kill",
            "fault": "pod-delete",
            "target": {"namespace": "demo", "labels": {"app": "sample-app"}, "share": 0.3},
        }
    ],
}


def _with_fault(**fault: object) -> dict[str, object]:
    return {**BASE, "method": [{"name": "f", **fault}]}


def test_unknown_fault_is_named_with_the_known_ones() -> None:
    with pytest.raises(ExperimentSpecError) as err:
        parse_experiment(_with_fault(fault="pod-explode", target={"namespace": "x"}))
    text = str(err.value)
    assert "method[0]: unknown fault 'pod-explode'" in text
    assert "pod-delete" in text and "pod-network-latency" in text
    assert len(err.value.problems) == 1


def test_every_problem_is_listed_by_field() -> None:
    data = _with_fault(fault="pod-delete", target={"namespace": "demo"}, durration="5m")
    data["steady_state"] = [{"name": "x", "http": {"url": "ftp://nope"}}]
    with pytest.raises(ExperimentSpecError) as err:
        parse_experiment(data)
    problems = "\n".join(err.value.problems)
    assert "steady_state[0]" in problems and "http://" in problems
    assert "target needs labels or deployment" in problems
    assert "durration" in problems


def test_references_between_parts_are_checked() -> None:
    data = {**BASE, "abort": {"probes": ["nope"]}}
    with pytest.raises(ExperimentSpecError, match="abort names unknown probes"):
        parse_experiment(data)


def test_share_rounds_up_and_hits_at_least_one_pod() -> None:
    assert PodTarget(namespace="a", labels={"a": "b"}, share=0.3).how_many(3) == 1
    assert PodTarget(namespace="a", labels={"a": "b"}, share=0.5).how_many(3) == 2
    assert PodTarget(namespace="a", labels={"a": "b"}, share=0.25).how_many(1) == 1
    assert PodTarget(namespace="a", labels={"a": "b"}, count=5).how_many(3) == 3
    assert PodTarget(namespace="a", labels={"a": "b"}).how_many(0) == 0


def test_durations_accept_units() -> None:
    exp = parse_experiment(
        _with_fault(
            fault="pod-delete",
            duration="5m",
            interval="10s",
            target={"namespace": "d", "deployment": "x"},
        )
    )
    fault = exp.method[0]
    assert fault.duration.total_seconds() == 300
    assert fault.interval is not None and fault.interval.total_seconds() == 10  # type: ignore[union-attr]


def test_json_schema_validates_the_examples_and_the_gameday() -> None:
    schema = json.loads(experiment_json_schema())
    assert set(schema["$defs"]["PodDelete"]["properties"]) >= {"fault", "target", "interval"}
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert examples, "examples/chaos has no experiments"
    for path in examples:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
        load_experiment(path)
    kinds = {f.fault for phase in gameday_phases() for e in phase for f in e.method}
    assert kinds == {
        "pod-delete",
        "pod-network-latency",
        "pod-cpu-hog",
        "memory-leak",
        "node-memory-pressure",
        "bad-rollout",
        "image-pull-error",
        "traffic-spike",
        "pod-hang",
        "pod-http-errors",
        "node-disk-pressure",
        "node-not-ready",
    }
    assert kinds <= set(FAULT_KINDS)


def test_unreadable_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(ExperimentSpecError, match="cannot read"):
        load_experiment(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ExperimentSpecError, match="not valid YAML"):
        load_experiment(bad)


def test_cli_bad_input_exits_2_before_anything(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubeheal.cli.main import app

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with_fault(fault="pod-explode", target={"namespace": "x"})))
    result = CliRunner().invoke(app, ["chaos", "run", str(bad), "--twin", "sample-app"])
    assert result.exit_code == 2
    assert "unknown fault 'pod-explode'" in result.output
    schema = CliRunner().invoke(app, ["chaos", "schema"])
    assert schema.exit_code == 0 and json.loads(schema.output)["title"] == (
        "kubeheal chaos experiment"
    )
