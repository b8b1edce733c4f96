"""The README's own YAML works as pasted: every ```yaml block is a valid kubeheal settings
file, and `kubeheal run`'s playbook loading accepts it on a machine where its playbook
directory does not exist yet (a warning, not `not a directory`)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml

from kubeheal.cli.operator import PlaybookReloader, load_playbook_set
from kubeheal.config import Settings, load_settings
from kubeheal.engine.playbooks import PlaybookError

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"^```yaml\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
PLAYBOOK = """\
name: shop-restart
description: Restart a crash-looping pod of the shop.
triggers: {signals: [CrashLoopBackOff]}
steps: [{action: restart_pod}]
verification: {check: no_new_restarts_for, stable_for: 2m, timeout: 5m}
"""


def test_the_readme_has_yaml_blocks() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_readme_yaml_block_is_valid_settings(
    block: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = yaml.safe_load(block)
    assert isinstance(doc, dict) and set(doc) <= set(Settings.model_fields), sorted(doc)
    path = tmp_path / "kubeheal.yaml"
    path.write_text(block)
    settings = load_settings(path, {})
    with caplog.at_level(logging.WARNING, logger="kubeheal.cli.operator"):
        playbooks = load_playbook_set(settings)
    assert playbooks.playbooks  # the built-ins
    for directory in settings.playbooks.directories:
        if not Path(directory).exists():
            assert f"playbook directory {str(directory)!r} does not exist" in caplog.text


def test_a_missing_directory_is_loaded_once_it_appears(tmp_path: Path) -> None:
    later = tmp_path / "playbooks"
    settings = Settings.model_validate(
        {"playbooks": {"directories": [str(later)], "builtins": False}}
    )
    assert load_playbook_set(settings).playbooks == ()
    reload = PlaybookReloader(settings)
    assert reload() is None
    later.mkdir()
    (later / "shop.yaml").write_text(PLAYBOOK)
    fresh = reload()
    assert fresh is not None
    assert [p.name for p in fresh.playbooks] == ["shop-restart"]


def test_a_path_that_is_not_a_directory_is_still_an_error(tmp_path: Path) -> None:
    file = tmp_path / "playbooks"
    file.write_text("")
    settings = Settings.model_validate({"playbooks": {"directories": [str(file)]}})
    with pytest.raises(PlaybookError, match="not a directory"):
        load_playbook_set(settings)
