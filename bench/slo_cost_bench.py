"""Cost and correctness of an SLO's 30-day error ratio on a real Prometheus.

    .venv/bin/python bench/slo_cost_bench.py [--slos 10] [--days 30] [--step 1m]
        [--series 2] [--record-interval 1m] [--interval 15s] [--cycles 3] [--variants ...]

Builds N events SLOs (99.9 % over 30 days) with kubeheal's own rule rendering and compares
three ways of recording the period ratio ``slo:sli_error:ratio_rate30d``, each in one group
per SLO (``RenderOptions(period_interval=0)``):

* ``raw``: kubeheal's rules, the SLI's own queries over 30 days (three 30-day range
  selections per evaluation: the errors, and the total twice);
* ``sloth``: Sloth's, the mean of the recorded 5-minute ratios,
  ``sum_over_time(slo:sli_error:ratio_rate5m[30d]) / count_over_time(...)`` (NOT weighted by
  traffic);
* ``weighted``: the recorded 5-minute error and total rates,
  ``sum_over_time(slo:sli_error:rate5m[30d]) / sum_over_time(slo:sli_total:rate5m[30d])``;

and ``raw-split``: kubeheal's default rendering, the same rules with the three period rules
(the ratio, the period burn rate and the budget remaining; no alert reads them) in a group of
their own, here evaluated ``--period-every`` times less often than the others (4m against
Prometheus' 1m in production). Without it in ``--variants``, its cost is estimated from the
period rules' measured share of the rule time.

The data: per SLO ``--series`` raw counter series ``bench_requests_total{slo, instance,
code}`` (half of them ``code="500"``) every ``--step`` for ``--days``, with traffic that swings
by 80 % over the day while the errors come at a steady rate, so the error ratio is nine times
higher at the trough than at the peak (the mean of ratios overstates the weighted one by 2/3);
and the 5-minute series the rules would have recorded every ``--record-interval`` over the
same days (their values as Prometheus computes them at those instants, which the bench checks
against Prometheus' own ``rate()``). Everything is written as OpenMetrics, one file per 2-hour
block as it is generated (``promtool tsdb create-blocks-from openmetrics``), then Prometheus
(Debian's, on 127.0.0.1, in a temporary directory) compacts the blocks as a long-running
server would (up to 54h), scrapes the same counters live from a small exporter in this
process, and evaluates each variant's rule file (loaded by ``/-/reload``) every ``--interval``
for ``--cycles`` cycles after a warm-up cycle.

Measured per variant, from Prometheus' /metrics over the measured cycles: the rule groups'
evaluation seconds per cycle (``prometheus_rule_group_duration_seconds``), the per-rule
evaluation seconds (``prometheus_rule_evaluation_duration_seconds``), the sum of
``prometheus_rule_group_last_duration_seconds``, Prometheus' CPU seconds per cycle
(``process_cpu_seconds_total``), and from ``/api/v1/rules`` the share of the period rules;
from these, the load at the production interval (``--production-interval``, default 1m; the
split period group every ``--period-every`` intervals). Correctness: each variant's period
expression (the rule's own text) as an instant query at the end of the backfilled data,
against the exact ratio of the synthetic traffic over the same 30 days; and the period ratio
of ``kubeheal slo report`` / the operator's SLO source (``status_query``) against ``raw``.

Every step has a deadline: subprocesses run with timeouts, Prometheus is killed in
``finally``, the temporary directory is removed unless ``--keep``. Prints a table and a JSON
summary (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml

from kubeheal.slo.model import SLO, EventsSLI
from kubeheal.slo.rules import RenderOptions, ratio_metric, render_groups, total_metric
from kubeheal.slo.status import status_query
from kubeheal.slo.windows import format_duration, parse_duration

HOST = "127.0.0.1"
PERIOD = 30 * 86_400
BLOCK = 7_200
AMPLITUDE = 0.8
OMEGA = 2 * math.pi / 86_400
METRIC = "bench_requests_total"
ERROR_RATE5M = "slo:sli_error:rate5m"
PERIOD_RULES = (
    ratio_metric(PERIOD),
    "slo:period_burn_rate:ratio",
    "slo:period_error_budget_remaining:ratio",
)
VARIANTS = ("raw", "sloth", "weighted", "raw-split")


class BenchError(RuntimeError):
    """The bench could not run a step (a tool failed, a deadline passed)."""


# -- the synthetic traffic ----------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """One SLO's traffic: total rate ``base x (1 + A sin(wt + phase))``, errors at the steady
    ``errors`` per second; counters start at 0 at ``t0``."""

    slo: str
    base: float
    phase: float
    errors: float
    t0: int

    def total(self, t: float) -> float:
        wave = math.cos(OMEGA * t + self.phase) - math.cos(OMEGA * self.t0 + self.phase)
        return self.base * ((t - self.t0) - AMPLITUDE / OMEGA * wave)

    def failed(self, t: float) -> float:
        return self.errors * (t - self.t0)

    def exact_ratio(self, start: float, end: float) -> float:
        """Errors over all requests in ``(start, end]``."""
        return (self.failed(end) - self.failed(start)) / (self.total(end) - self.total(start))


def traffic(count: int, t0: int) -> list[Traffic]:
    found = []
    for i in range(count):
        base = 2.0 + (i % 40) * 0.5
        ratio = 0.0002 + 0.0001 * (i % 10)  # weighted error ratio, around the 0.1 % budget
        found.append(
            Traffic(
                slo=f"s{i:04d}",
                base=base,
                phase=2 * math.pi * (i % 24) / 24,
                errors=ratio * base,
                t0=t0,
            )
        )
    return found


def slo_of(item: Traffic) -> SLO:
    sel = f'slo="{item.slo}"'
    return SLO(
        service=f"svc-{item.slo}",
        name="availability",
        objective=Decimal("99.9"),
        period=PERIOD,
        sli=EventsSLI(
            error_query=f'sum(rate({METRIC}{{{sel},code="500"}}[{{{{.window}}}}]))',
            total_query=f"sum(rate({METRIC}{{{sel}}}[{{{{.window}}}}]))",
        ),
        scrape_interval=15,
    )


def _series(item: Traffic, count: int) -> list[tuple[str, Callable[[float], float]]]:
    """``(OpenMetrics series name, counter of t)`` of one SLO: ``count`` series, half errors."""
    instances = max(1, count // 2)
    found: list[tuple[str, Callable[[float], float]]] = []
    for k in range(instances):
        ids = f'job="bench",instance="i{k}",slo="{item.slo}"'

        def ok(t: float, item: Traffic = item) -> float:
            return (item.total(t) - item.failed(t)) / instances

        def bad(t: float, item: Traffic = item) -> float:
            return item.failed(t) / instances

        found += [(f'{METRIC}{{{ids},code="200"}}', ok), (f'{METRIC}{{{ids},code="500"}}', bad)]
    return found


def _labels(slo: SLO) -> str:
    return f'slo_id="{slo.id}",slo_name="{slo.name}",slo_service="{slo.service}"'


# -- backfill ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    start: int
    end: int
    step: int
    record: int
    series: int


def _block_text(items: Sequence[Traffic], slos: Sequence[SLO], lay: Layout, lo: int) -> str:
    """OpenMetrics samples with ``lo <= t < lo + BLOCK`` (the last block holds ``end`` too)."""
    hi = min(lo + BLOCK, lay.end + 1)
    raw_ts = range(max(lay.start, -(-lo // lay.step) * lay.step), hi, lay.step)
    first_rec = lay.start + 300
    rec_lo = max(first_rec, -(-lo // lay.record) * lay.record)
    rec_ts = range(rec_lo, hi, lay.record)
    out: list[str] = []
    for item in items:
        for name, counter in _series(item, lay.series):
            out.extend(f"{name} {counter(t)!r} {t}\n" for t in raw_ts)
    if rec_ts:
        families: dict[str, list[str]] = {
            ratio_metric(300): [],
            ERROR_RATE5M: [],
            total_metric(300): [],
        }
        for item, slo in zip(items, slos, strict=True):
            labels = _labels(slo)
            for t in rec_ts:
                # what rate(x[5m]) reads at an instant on the scrape grid: the samples at
                # t - 5m and t, no extrapolation (checked against Prometheus below)
                bad = item.failed(t) - item.failed(t - 300)
                all_ = item.total(t) - item.total(t - 300)
                families[ratio_metric(300)].append(f"{{{labels}}} {bad / all_!r} {t}\n")
                families[ERROR_RATE5M].append(f"{{{labels}}} {bad / 300!r} {t}\n")
                families[total_metric(300)].append(f"{{{labels}}} {all_ / 300!r} {t}\n")
        for family, lines in families.items():
            out.extend(family + line for line in lines)
    out.append("# EOF\n")
    return "".join(out)


def backfill(
    items: Sequence[Traffic], slos: Sequence[SLO], lay: Layout, data: Path, promtool: str
) -> dict[str, float]:
    """Write the blocks, one OpenMetrics file per 2h block, generating the next file while
    promtool converts the previous one."""
    scratch = data.parent / "openmetrics"
    scratch.mkdir()
    started = time.monotonic()
    written = 0
    running: tuple[subprocess.Popen[bytes], Path] | None = None

    def finish(job: tuple[subprocess.Popen[bytes], Path]) -> None:
        proc, path = job
        try:
            _, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.communicate()
            raise BenchError(f"promtool took over 600 s on {path.name}") from e
        if proc.returncode != 0:
            raise BenchError(f"promtool failed on {path.name}: {err.decode()[-2000:]}")
        path.unlink()

    first = (lay.start // BLOCK) * BLOCK
    try:
        for index, lo in enumerate(range(first, lay.end + 1, BLOCK)):
            path = scratch / f"{index:05d}.om"
            text = _block_text(items, slos, lay, lo)
            path.write_text(text)
            written += len(text)
            if running is not None:
                finish(running)
            proc = subprocess.Popen(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(data)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            running = (proc, path)
        if running is not None:
            finish(running)
            running = None
    finally:
        if running is not None:
            running[0].kill()
            running[0].communicate()
    return {"seconds": time.monotonic() - started, "openmetrics_bytes": written}


# -- live exporter -------------------------------------------------------------------------


def exporter(items: Sequence[Traffic], series: int) -> tuple[http.server.HTTPServer, int]:
    """Serve the same counters at the current time (with explicit timestamps)."""
    rows = [(name, counter) for item in items for name, counter in _series(item, series)]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            now_ms = int(time.time() * 1000)
            t = now_ms / 1000
            body = "".join(f"{name} {counter(t)!r} {now_ms}\n" for name, counter in rows).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, name="exporter", daemon=True).start()
    return server, server.server_address[1]


# -- rule variants -------------------------------------------------------------------------


def _sel(slo: SLO) -> str:
    return f'{{slo_id="{slo.id}"}}'


def variant_groups(slo: SLO, variant: str, period_interval: int) -> list[dict[str, Any]]:
    if variant == "raw-split":  # kubeheal's own rendering with its period group
        return render_groups(slo, RenderOptions(period_interval=period_interval))
    (group,) = render_groups(slo, RenderOptions(period_interval=0))
    rules: list[dict[str, Any]] = list(group["rules"])
    sel = _sel(slo)
    period = ratio_metric(PERIOD)
    index = next(i for i, r in enumerate(rules) if r.get("record") == period)
    if variant == "sloth":
        five = f"{ratio_metric(300)}{sel}[30d]"
        rules[index] = {
            **rules[index],
            "expr": f"sum_over_time({five})\n/\ncount_over_time({five})",
        }
    elif variant == "weighted":
        assert isinstance(slo.sli, EventsSLI)
        errors = slo.sli.error_query.replace("{{.window}}", "5m")
        total = slo.sli.total_query.replace("{{.window}}", "5m")
        labels = rules[index]["labels"]
        ratio = rules.pop(index)
        ratio["expr"] = (
            f"sum_over_time({ERROR_RATE5M}{sel}[30d])\n/\n"
            f"sum_over_time({total_metric(300)}{sel}[30d])"
        )
        after = max(
            i for i, r in enumerate(rules) if str(r.get("record", "")).startswith("slo:sli_")
        )
        rules.insert(
            after + 1,
            {"record": ERROR_RATE5M, "expr": f"({errors}) or ({total}) * 0", "labels": labels},
        )
        rules.insert(after + 2, ratio)
    return [{"name": group["name"], "rules": rules}]


def period_expr(groups: Sequence[dict[str, Any]]) -> str:
    for group in groups:
        for rule in group["rules"]:
            if rule.get("record") == ratio_metric(PERIOD):
                return str(rule["expr"])
    raise BenchError("no period rule")


# -- Prometheus ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Prometheus:
    def __init__(self, binary: str, work: Path, data: Path, *, interval: int, target: str):
        self.binary = binary
        self.work = work
        self.data = data
        self.rules = work / "rules"
        self.rules.mkdir(exist_ok=True)
        self.config = work / "prometheus.yml"
        self.log = work / "prometheus.log"
        self.interval = interval
        self.target = target
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=120)

    def write_config(self) -> None:
        config = {
            "global": {
                "scrape_interval": "15s",
                "evaluation_interval": format_duration(self.interval),
            },
            "rule_files": [str(self.rules / "*.yml")],
            "scrape_configs": [
                {"job_name": "bench", "honor_labels": True, "static_configs": [
                    {"targets": [self.target]}
                ]}
            ],
        }  # fmt: skip
        self.config.write_text(yaml.safe_dump(config))

    def start(self, *, deadline: float = 120) -> None:
        self.write_config()
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.data}",
                "--storage.tsdb.retention.time=400d",
                "--storage.tsdb.max-block-duration=54h",
                f"--web.listen-address={HOST}:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            start_new_session=True,
        )
        self._poll(lambda: self._ok("/-/ready"), deadline, "Prometheus ready")

    def stop(self) -> None:
        self.http.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _ok(self, path: str) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"Prometheus exited: {self.log.read_text()[-2000:]}")
        try:
            return self.http.get(path, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def _poll(check: Callable[[], bool], deadline: float, what: str, every: float = 0.5) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if check():
                return
            time.sleep(every)
        raise BenchError(f"timed out after {deadline:.0f} s waiting for {what}")

    def metrics(self) -> dict[str, float]:
        text = self.http.get("/metrics").text
        found: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
        return found

    def sum_of(self, prefix: str, metrics: dict[str, float] | None = None) -> float:
        values = metrics if metrics is not None else self.metrics()
        return sum(v for k, v in values.items() if k == prefix or k.startswith(prefix + "{"))

    def load_rules(self, name: str, groups: list[dict[str, Any]]) -> None:
        for old in self.rules.glob("*.yml"):
            old.unlink()
        (self.rules / f"{name}.yml").write_text(yaml.safe_dump({"groups": groups}, width=200))
        answer = self.http.post("/-/reload", timeout=300)
        if answer.status_code != 200:
            raise BenchError(f"reload failed: {answer.text[:2000]}")

    def api_rules(self) -> list[dict[str, Any]]:
        data = self.http.get("/api/v1/rules", params={"type": "record"}).json()
        return list(data["data"]["groups"])

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        answer = self.http.post("/api/v1/query", data={"query": expr, "time": str(at)})
        body = answer.json()
        if body.get("status") != "success":
            raise BenchError(f"query failed: {body.get('error')}: {expr[:200]}")
        return list(body["data"]["result"])


def wait_compacted(prom: Prometheus, *, deadline: float) -> dict[str, float]:
    """Wait for the first compaction of the backfilled 2h blocks to finish."""
    started = time.monotonic()
    before = prom.sum_of("prometheus_tsdb_blocks_loaded")
    stable: list[float] = []

    def done() -> bool:
        m = prom.metrics()
        blocks = prom.sum_of("prometheus_tsdb_blocks_loaded", m)
        ran = prom.sum_of("prometheus_tsdb_compactions_total", m)
        stable.append(blocks)
        if before <= 3:
            return True
        return ran > 0 and len(stable) >= 6 and len(set(stable[-6:])) == 1 and blocks < before

    prom._poll(done, deadline, "the compaction of the backfilled blocks", every=2)
    return {
        "blocks_before": before,
        "blocks_after": stable[-1] if stable else before,
        "seconds": time.monotonic() - started,
    }


# -- one variant ---------------------------------------------------------------------------


def _evaluated_since(prom: Prometheus, since: float, groups: int) -> bool:
    seen = 0
    for group in prom.api_rules():
        last = group.get("lastEvaluation", "")
        if last and not last.startswith("0001"):
            stamp = _rfc3339(last)
            if stamp >= since:
                seen += 1
    return seen >= groups


def _rfc3339(text: str) -> float:
    from datetime import datetime

    head, _, frac = text.partition(".")
    zone = "+00:00"
    if frac:
        digits = "".join(c for c in frac if c.isdigit())
        rest = frac[len(digits) :]
        zone = "+00:00" if rest in ("Z", "") else rest
        base = datetime.fromisoformat(head + zone).timestamp()
        return base + float("0." + digits) if digits else base
    if head.endswith("Z"):
        head = head[:-1]
    return datetime.fromisoformat(head + zone).timestamp()


def measure(
    prom: Prometheus,
    variant: str,
    slos: Sequence[SLO],
    *,
    cycles: int,
    period_every: int,
    deadline: float,
) -> dict[str, Any]:
    interval = prom.interval
    groups = [g for slo in slos for g in variant_groups(slo, variant, interval * period_every)]
    reloaded = time.time()
    prom.load_rules(variant, groups)
    names = {g["name"] for g in groups}
    # warm-up: every group evaluated once after the reload (its blocks read once)
    prom._poll(
        lambda: _evaluated_since(prom, reloaded, len(names)),
        deadline,
        f"{variant} warm-up",
        every=max(0.5, interval / 10),  # /api/v1/rules of 1,000 groups is not free
    )
    m1, t1 = prom.metrics(), time.monotonic()
    span = cycles * interval * (period_every if variant.endswith("split") else 1)
    time.sleep(span)
    m2, t2 = prom.metrics(), time.monotonic()
    wall = t2 - t1

    def delta(name: str) -> float:
        return prom.sum_of(name, m2) - prom.sum_of(name, m1)

    group_seconds = delta("prometheus_rule_group_duration_seconds_sum")
    rule_seconds = delta("prometheus_rule_evaluation_duration_seconds_sum")
    rule_count = delta("prometheus_rule_evaluation_duration_seconds_count")
    cpu = delta("process_cpu_seconds_total")
    failures = delta("prometheus_rule_evaluation_failures_total")
    missed = delta("prometheus_rule_group_iterations_missed_total")
    last_sum = sum(
        v
        for k, v in m2.items()
        if k.startswith("prometheus_rule_group_last_duration_seconds{")
        and any(f';{n}"' in k for n in names)
    )
    period_last = 0.0
    all_last = 0.0
    for group in prom.api_rules():
        if group["name"] not in names:
            continue
        for rule in group["rules"]:
            all_last += float(rule.get("evaluationTime", 0))
            if rule["name"] in PERIOD_RULES:
                period_last += float(rule.get("evaluationTime", 0))
    cycle_count = wall / interval
    return {
        "variant": variant,
        "groups": len(groups),
        "rules": sum(len(g["rules"]) for g in groups),
        "wall_seconds": round(wall, 1),
        "group_seconds_per_cycle": group_seconds / cycle_count,
        "rule_evaluations_per_cycle": rule_count / cycle_count,
        "rule_seconds_per_cycle": rule_seconds / cycle_count,
        "cpu_seconds_per_cycle": cpu / cycle_count,
        "cpu_share": cpu / wall,
        "last_duration_sum": last_sum,
        "period_share_of_rule_time": period_last / all_last if all_last else None,
        "failures": failures,
        "missed_iterations": missed,
    }


def check_correctness(
    prom: Prometheus,
    items: Sequence[Traffic],
    slos: Sequence[SLO],
    variants: Sequence[str],
    *,
    at: int,
    start: int,
    sample: int,
    period_every: int,
) -> dict[str, Any]:
    """Each variant's period expression at ``at`` against the exact ratio."""
    out: dict[str, Any] = {}
    chosen = list(range(0, len(slos), max(1, len(slos) // sample)))[:sample]
    raw_values: dict[str, float] = {}
    for variant in variants:
        errors: list[float] = []
        for i in chosen:
            expr = period_expr(variant_groups(slos[i], variant, 60))
            result = prom.query(expr, at)
            if len(result) != 1:
                raise BenchError(f"{variant}: {len(result)} series for {slos[i].id} at {at}")
            value = float(result[0]["value"][1])
            exact = items[i].exact_ratio(max(start, at - PERIOD), at)
            errors.append(value / exact - 1)
            if variant == "raw":
                raw_values[slos[i].id] = value
        out[variant] = {
            "max_relative_error": max(errors, key=abs),
            "mean_relative_error": sum(errors) / len(errors),
            "slos_checked": len(errors),
        }
    # the report and the operator's source ask status_query: its period part must be raw's
    gaps = []
    for i in chosen[: min(10, len(chosen))]:
        for row in prom.query(status_query(slos[i]), at):
            labels = row["metric"]
            if labels.get("kubeheal_part") == "ratio" and labels.get("kubeheal_window") == str(
                PERIOD
            ):
                raw = raw_values.get(slos[i].id)
                if raw is not None:
                    gaps.append(abs(float(row["value"][1]) / raw - 1))
    out["status_query_vs_raw_max_relative_gap"] = max(gaps) if gaps else None
    out["status_query_checked"] = len(gaps)
    # the recorded 5m series equal Prometheus' rate() at the same instants
    probe = slos[chosen[0]]
    t = at - 3_600
    assert isinstance(probe.sli, EventsSLI)
    rate = prom.query(probe.sli.total_query.replace("{{.window}}", "5m"), t)
    recorded = prom.query(f"{total_metric(300)}{_sel(probe)}", t)
    out["recorded_5m_vs_rate_relative_gap"] = abs(
        float(recorded[0]["value"][1]) / float(rate[0]["value"][1]) - 1
    )
    return out


def time_status_queries(prom: Prometheus, slos: Sequence[SLO], *, sample: int) -> dict[str, Any]:
    """Wall seconds of the one query ``kubeheal slo report`` and the operator's SLO source send
    per SLO (``status_query``: every window and the raw period ratio), at the latest data."""
    chosen = slos[:: max(1, len(slos) // sample)][:sample]
    now = time.time()
    started = time.monotonic()
    for slo in chosen:
        prom.query(status_query(slo), now)
    per_slo = (time.monotonic() - started) / len(chosen)
    return {
        "slos_timed": len(chosen),
        "seconds_per_slo": per_slo,
        "all_slos_every_30s_share": per_slo * len(slos) / 30,
    }


# -- main ----------------------------------------------------------------------------------


def _duration(text: str) -> int:
    return parse_duration(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slos", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step", type=_duration, default=60, help="raw scrape step (divides 5m)")
    parser.add_argument("--series", type=int, default=2, help="raw series per SLO (even)")
    parser.add_argument(
        "--record-interval", type=_duration, default=60, help="step of the recorded 5m series"
    )
    parser.add_argument("--interval", type=_duration, default=5, help="live rule interval")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--period-every", type=int, default=5)
    parser.add_argument("--production-interval", type=_duration, default=60)
    parser.add_argument(
        "--variants", nargs="+", default=["raw", "sloth", "weighted"], choices=VARIANTS
    )
    parser.add_argument("--check-slos", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1800, help="overall deadline, seconds")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    parser.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    args = parser.parse_args(argv)
    if 300 % args.step or args.record_interval % args.step or args.series < 2 or args.series % 2:
        parser.error("--step must divide 5m and --record-interval; --series must be even, >= 2")
    return args


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise BenchError(f"the bench ran past its --timeout of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(args: argparse.Namespace) -> dict[str, Any]:
    align = math.lcm(args.step, args.record_interval, 300)
    end = int(time.time()) // align * align
    start = end - args.days * 86_400
    items = traffic(args.slos, start)
    slos = [slo_of(item) for item in items]
    lay = Layout(start=start, end=end, step=args.step, record=args.record_interval,
                 series=args.series)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="slo-cost-", dir=args.workdir))
    data = work / "data"
    data.mkdir()
    prom: Prometheus | None = None
    server: http.server.HTTPServer | None = None
    summary: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "slos": args.slos,
        "days": args.days,
        "step": format_duration(args.step),
        "series_per_slo": args.series,
        "record_interval": format_duration(args.record_interval),
        "live_interval": format_duration(args.interval),
        "raw_samples": args.slos * args.series * (args.days * 86_400 // args.step + 1),
        "recorded_samples": 3 * args.slos * (args.days * 86_400 // args.record_interval),
    }
    try:
        summary["backfill"] = backfill(items, slos, lay, data, args.promtool)
        server, port = exporter(items, args.series)
        prom = Prometheus(args.prometheus, work, data, interval=args.interval,
                          target=f"{HOST}:{port}")  # fmt: skip
        prom.start()
        summary["compaction"] = wait_compacted(prom, deadline=600)
        summary["correctness"] = check_correctness(
            prom, items, slos, args.variants, at=end, start=start, sample=args.check_slos,
            period_every=args.period_every,
        )  # fmt: skip
        summary["status_query"] = time_status_queries(prom, slos, sample=args.check_slos)
        summary["variants"] = [
            measure(prom, v, slos, cycles=args.cycles, period_every=args.period_every,
                    deadline=max(120.0, 20.0 * args.interval))
            for v in args.variants
        ]  # fmt: skip
    finally:
        if prom is not None:
            prom.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            summary["workdir"] = str(work)
    _production(summary, args)
    return summary


def _production(summary: dict[str, Any], args: argparse.Namespace) -> None:
    """Scale the measured cost per cycle to the production interval."""
    # a split variant's cycle is an average over period_every cycles (the period group runs
    # in one of them), so the same scaling holds: the period group every period_every minutes
    for row in summary.get("variants", []):
        per_cycle = row["cpu_seconds_per_cycle"]
        row["cpu_share_in_production"] = per_cycle / args.production_interval
        share = row["period_share_of_rule_time"]
        if share is not None and not row["variant"].endswith("split"):
            # the period rules in their own group, every period_every production intervals
            row["cpu_share_in_production_split_estimate"] = (
                per_cycle * (1 - share) + per_cycle * share / args.period_every
            ) / args.production_interval


def table(summary: dict[str, Any]) -> str:
    correct = summary.get("correctness", {})
    lines = [
        "| variant | rules | rule-eval s / cycle | CPU s / cycle | period rules' share of "
        "rule time | CPU share at 1m | same, period group at 1/N (est.) | period ratio vs exact "
        "(max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.get("variants", []):
        err = correct.get(row["variant"], {}).get("max_relative_error")
        share = row["period_share_of_rule_time"]
        split = row.get("cpu_share_in_production_split_estimate")
        lines.append(
            f"| {row['variant']} | {row['rules']} | {row['rule_seconds_per_cycle']:.3f} | "
            f"{row['cpu_seconds_per_cycle']:.3f} | "
            f"{'' if share is None else f'{share:.0%}'} | "
            f"{row['cpu_share_in_production']:.2%} | "
            f"{'' if split is None else f'{split:.2%}'} | "
            f"{'' if err is None else f'{err:+.3%}'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.nice(5)
    try:
        with _alarm(args.timeout):
            summary = run(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    text = json.dumps(summary, indent=2, default=str)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(table(summary))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
