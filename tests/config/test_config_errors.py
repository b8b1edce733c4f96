"""One reading of pydantic's validation errors (config/errors.py), shared by every loader."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kubeheal.chaos.errors import ExperimentSpecError
from kubeheal.chaos.spec import parse_experiment
from kubeheal.config import SettingsError, load_settings
from kubeheal.config.errors import field_path, field_problems, format_validation_error, line_in
from kubeheal.monitoring import MonitoringConfigError, parse_monitoring_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Cat(_Strict):
    kind: Literal["cat"]
    lives: int = Field(9, le=9)


class _Dog(_Strict):
    kind: Literal["dog"]
    name: str

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value:
            raise ValueError("a dog needs a name")
        return value


class _Home(_Strict):
    pets: list[Annotated[_Cat | _Dog, Field(discriminator="kind")]] = Field(min_length=1)
    owner: str


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Home.model_validate(data)
    return caught.value


def test_paths_leave_out_pydantics_wrappers_and_the_union_tags() -> None:
    error = _error({"pets": [{"kind": "cat", "lives": 12}, {"kind": "dog", "name": ""}]})
    problems = field_problems(error, union_tags=("cat", "dog"))
    assert [(p.field, p.message) for p in problems] == [
        ("pets[0].lives", "Input should be less than or equal to 9"),
        ("pets[1].name", "a dog needs a name"),
        ("owner", "Field required"),
    ]


def test_a_list_too_short_only_because_its_items_failed_is_not_reported() -> None:
    error = _error({"pets": [{"kind": "fish"}], "owner": "ann"})
    problems = field_problems(error)
    assert [p.kind for p in problems] == ["union_tag_invalid"]
    assert problems[0].context["tag"] == "fish"
    assert [p.kind for p in field_problems(_error({"pets": [], "owner": "ann"}))] == ["too_short"]


def test_each_problem_is_one_line_naming_file_line_and_field() -> None:
    text = "owner: ann\npets:\n  - kind: cat\n    lives: 12\n"
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    error = _error(yaml.safe_load(text))
    assert format_validation_error(error, file="home.yaml", root=root, union_tags=("cat",)) == (
        "home.yaml:4: pets[0].lives: Input should be less than or equal to 9"
    )
    assert format_validation_error(error, union_tags=("cat",)) == (
        "pets[0].lives: Input should be less than or equal to 9"
    )


def test_a_missing_field_is_placed_where_its_parent_starts() -> None:
    root = yaml.compose("a:\n  b:\n    c: 1\nd: [x, y]\n", Loader=yaml.SafeLoader)
    assert line_in(root, ("a", "b", "c")) == 3
    assert line_in(root, ("a", "b", "nope")) == 2
    assert line_in(root, ("d", 1)) == 4
    assert line_in(root, ("d", 5)) == 4
    assert line_in(root, ()) == 1
    assert field_path(("slos", 0, "objective")) == "slos[0].objective"


def test_a_settings_file_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "kubeheal.yaml"
    path.write_text("guards:\n  dry_run: true\n  cooldown: soon\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, {})
    assert str(caught.value).startswith(f"{path}:3: guards.cooldown: invalid duration 'soon'")


def test_the_loaders_word_their_problems_the_same_way() -> None:
    with pytest.raises(MonitoringConfigError) as monitoring:
        parse_monitoring_config("golden_signals:\n  latency:\n    for: soon\n")
    assert str(monitoring.value).startswith("golden_signals.latency.for: invalid duration")
    with pytest.raises(ExperimentSpecError) as chaos:
        parse_experiment({"title": "t", "method": [{"fault": "nope"}]})
    assert any(p.startswith("method[0]: unknown fault 'nope'") for p in chaos.value.problems)
