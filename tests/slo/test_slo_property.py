"""Property: for any valid spec, promtool accepts the rules and the generated tests pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeheal.slo.generate import GenerateOptions, render_outputs
from kubeheal.slo.rules import RenderOptions
from kubeheal.slo.specs import parse_specs

DAY = 86_400

names = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,6})?", fullmatch=True)
label_values = st.from_regex(r"[a-z0-9][a-z0-9 ._-]{0,10}", fullmatch=True)
labels = st.dictionaries(
    st.sampled_from(["team", "tier", "env", "region"]), label_values, max_size=2
)


@st.composite
def slo_entries(draw: st.DrawFn, index: int) -> dict:
    objective = draw(
        st.decimals(min_value=Decimal("0.5"), max_value=Decimal("99.999"), places=3)
        | st.sampled_from([Decimal("99.9"), Decimal("99.95"), Decimal("99"), Decimal("95")])
    )
    metric = f"m{index}_requests_total"
    if draw(st.booleans()):
        sli: dict = {
            "events": {
                "error_query": f'sum(rate({metric}{{code=~"5.."}}[{{{{.window}}}}]))',
                "total_query": f"sum(rate({metric}[{{{{.window}}}}]))",
            }
        }
    else:
        sli = {
            "raw": {
                "error_ratio_query": f'1 - avg_over_time(up{{job="j{index}"}}[{{{{.window}}}}])'
            }
        }
    page_off = draw(st.booleans()) and draw(st.booleans())
    ticket_off = draw(st.booleans()) and draw(st.booleans())
    return {
        "name": f"slo{index}-{draw(names)}",
        "objective": float(objective),
        "labels": draw(labels),
        "sli": sli,
        "alerting": {
            "name": f"Alert{index}",
            "labels": draw(labels),
            "annotations": {"summary": "{{ $labels.slo_name }} burns"},
            "page_alert": {"disable": page_off, "labels": {"severity": "critical"}},
            "ticket_alert": {"disable": ticket_off, "labels": {"severity": "warning"}},
        },
    }


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, int, RenderOptions]:
    count = draw(st.integers(1, 2))
    document = {
        "version": "prometheus/v1",
        "service": draw(names),
        "labels": draw(labels),
        "slos": [draw(slo_entries(i)) for i in range(count)],
    }
    period = draw(st.sampled_from([30, 28, 7, 14, 90]) | st.integers(6, 60)) * DAY
    options = RenderOptions(
        min_events=draw(st.sampled_from([0, 1, 20, 500])),
        absent_for=draw(st.sampled_from([60, 300, 600, 3600])),
    )
    return yaml.safe_dump(document, sort_keys=False), period, options


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(spec=specs())
def test_random_specs_pass_promtool(
    spec: tuple[str, int, RenderOptions],
    promtool,
    write: Callable[[Mapping[str, str], Path], list[Path]],
) -> None:
    text, period, options = spec
    slos = parse_specs(text, source="random.yaml", default_period=period)
    outputs = render_outputs([("random", slos)], GenerateOptions(render=options))
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(outputs, root)
        rule_files = [root / "random.rules.yml", *sorted(root.glob("tests/*.rules.yml"))]
        checked = promtool("check", "rules", *rule_files)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        tests = sorted(root.glob("tests/*.test.yml"))
        if not tests:  # every alert disabled
            assert not options.absent_alerts or all(s.page.disabled for s in slos)
            return
        ran = promtool("test", "rules", *tests, cwd=root / "tests")
        assert ran.returncode == 0, ran.stdout + ran.stderr + text
        assert ran.stdout.count("SUCCESS") == len(tests)
