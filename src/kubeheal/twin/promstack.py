"""A local Prometheus + Alertmanager pair (the real Debian binaries) for tests and demos.

`PromStack` starts `prometheus` and `prometheus-alertmanager` on free 127.0.0.1 ports in a
work directory, and `configure(...)` replaces what they run: scrape targets (e.g. the twin's
`/metrics` at "127.0.0.1:PORT"), rule files and the Alertmanager configuration. Every new
configuration is validated first with `promtool check config` / `amtool check-config`; a
configuration that fails is refused with the tool's message and the running one stays.
After a reload `configure` waits (polling the HTTP APIs) until the targets are scraped,
every rule group is loaded and has been evaluated once, and Prometheus has discovered the
Alertmanager, so a test can inject a fault right away.

History-based evaluations write OpenMetrics text into a fresh TSDB directory with
`backfill(...)` and start a stack on it with `PromStack(workdir, data_dir=...)`.

Errors: everything that goes wrong (missing binaries, a process that exits, an invalid
configuration, a timeout) raises `PromStackError`, whose message includes the tail of the
process log when a process is involved. Process output goes to `prometheus.log` and
`alertmanager.log` in the work directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx
import yaml

__all__ = [
    "Binaries",
    "PromStack",
    "PromStackError",
    "backfill",
    "find_binaries",
]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_SETUP_HINT = (
    "run scripts/setup (installs the Debian packages prometheus and prometheus-alertmanager)"
)
_LOG_TAIL = 3000
_POLL = 0.1

DEFAULT_ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_by: ["alertname"]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


class PromStackError(Exception):
    """The local Prometheus/Alertmanager could not be started, configured or reached."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the four executables of the Debian packages."""

    prometheus: str
    promtool: str
    alertmanager: str
    amtool: str


def find_binaries(search_path: str | None = None) -> Binaries:
    """Locate the executables on PATH (or on ``search_path``, in PATH's syntax), or raise
    `PromStackError` naming the missing ones."""
    names = {
        "prometheus": "prometheus",
        "promtool": "promtool",
        "alertmanager": "prometheus-alertmanager",
        "amtool": "amtool",
    }
    found = {key: shutil.which(exe, path=search_path) for key, exe in names.items()}
    missing = [names[key] for key, path in found.items() if path is None]
    if missing:
        raise PromStackError(f"missing executables {', '.join(missing)}: {_SETUP_HINT}")
    return Binaries(**{key: str(path) for key, path in found.items()})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, size: int = _LOG_TAIL) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _log_excerpt(path: Path, offset: int = 0) -> str:
    """Error lines of the log since `offset`, then its last lines."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(offset, size - 256_000))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    errors = [
        line
        for line in text.splitlines()
        if "level=error" in line or "level=fatal" in line or line.startswith("Error")
    ]
    head = "errors:\n" + "\n".join(errors[-10:]) + "\n" if errors else ""
    return f"{head}--- last lines of {path} ---\n{text[-_LOG_TAIL:]}"


def _run_tool(args: Sequence[str], *, what: str, timeout: float = 60.0) -> str:
    try:
        proc = subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PromStackError(f"{what}: could not run {args[0]}: {e}") from e
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise PromStackError(f"{what} failed:\n{output}")
    return output


def backfill(
    openmetrics_text: str,
    *,
    data_dir: Path,
    promtool: str | None = None,
    timeout: float = 300.0,
) -> Path:
    """Write OpenMetrics samples into the TSDB at `data_dir`; returns `data_dir`.

    Uses `promtool tsdb create-blocks-from openmetrics`: timestamps are in seconds and the
    text must end with `# EOF` (added if missing). Start a stack on the result with
    `PromStack(workdir, data_dir=data_dir)`; a running Prometheus only sees new blocks
    after a restart.
    """
    tool = promtool or find_binaries().promtool
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    text = openmetrics_text if openmetrics_text.endswith("\n") else openmetrics_text + "\n"
    if not text.rstrip().endswith("# EOF"):
        text += "# EOF\n"
    source = data_dir.parent / f".{data_dir.name}.backfill.om"
    source.write_text(text)
    try:
        _run_tool(
            [tool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
            what="promtool tsdb create-blocks-from openmetrics",
            timeout=timeout,
        )
    finally:
        source.unlink(missing_ok=True)
    return data_dir


@dataclass(frozen=True)
class _Expectation:
    """What the running configuration should look like once loaded."""

    jobs: frozenset[str]
    up_targets: frozenset[str]  # addresses of `scrape_targets` that must be "up"
    groups: frozenset[tuple[str, str]]  # (absolute rule file path, group name)
    alertmanager: bool = True  # wait until Prometheus has discovered the Alertmanager


class _Process:
    """One child process with its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self._offset = self._log.tell()
        try:
            self.proc = subprocess.Popen(
                list(args), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
            )
        except OSError as e:
            self._log.close()
            raise PromStackError(f"cannot start {name}: {e}") from e

    def exited(self) -> int | None:
        return self.proc.poll()

    def failure(self, message: str) -> PromStackError:
        self._log.flush()
        return PromStackError(f"{message}\n{_log_excerpt(self.log_path, self._offset)}")

    def stop(self, *, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()


class PromStack:
    """Prometheus + Alertmanager on 127.0.0.1, configured by `configure(...)`.

    Use as a context manager, or `start()` / `stop()`. Times are Prometheus durations
    ("1s"). `data_dir` (default: `workdir/prometheus-data`) may hold backfilled blocks;
    `retention` is long by default so old backfilled history is kept.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        data_dir: Path | None = None,
        retention: str = "10y",
        scrape_job: str = "twin",
        alert_resend_delay: str = "1s",
        startup_timeout: float = 30.0,
        log_level: str = "info",
        search_path: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.search_path = search_path
        """Where the executables are looked up (PATH's syntax; None: PATH)."""
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.data_dir = Path(data_dir) if data_dir is not None else self.workdir / "prometheus-data"
        self.retention = retention
        self.scrape_job = scrape_job
        self.alert_resend_delay = alert_resend_delay
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self.prometheus_port = 0
        self.alertmanager_port = 0
        self._bins: Binaries | None = None
        self._prometheus: _Process | None = None
        self._alertmanager: _Process | None = None
        self._http: httpx.Client | None = None
        self._generation = 0
        self._rules_dir: Path | None = None
        self._am_config = DEFAULT_ALERTMANAGER_CONFIG
        self._prom_state = ""
        self._expect = _Expectation(frozenset(), frozenset(), frozenset())

    # --- addresses ------------------------------------------------------------------------

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{HOST}:{self.alertmanager_port}"

    @property
    def alertmanager_address(self) -> str:
        """host:port of Alertmanager (as Prometheus' `alerting` config names it)."""
        return f"{HOST}:{self.alertmanager_port}"

    @property
    def remote_write_url(self) -> str:
        """Prometheus' remote-write receiver (snappy-compressed protobuf)."""
        return f"{self.prometheus_url}/api/v1/write"

    @property
    def prometheus_config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def alertmanager_config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    @property
    def prometheus_log(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def alertmanager_log(self) -> Path:
        return self.workdir / "alertmanager.log"

    @property
    def running(self) -> bool:
        return self._prometheus is not None and self._prometheus.exited() is None

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, wait_alertmanager: bool = True) -> Self:
        """Start both servers with an empty configuration and wait until they are ready.

        Ready includes Prometheus having discovered the Alertmanager (about 5 s after
        start); `wait_alertmanager=False` returns as soon as both answer (well under 1 s),
        e.g. for history-based evaluations that only query.
        """
        if self._prometheus is not None:
            raise PromStackError("the stack is already started")
        self._bins = find_binaries(self.search_path)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "alertmanager-data").mkdir(exist_ok=True)
        self._http = httpx.Client(timeout=5.0, trust_env=False)  # loopback: never a proxy
        self._prom_state = ""
        self._rules_dir = None
        started = time.monotonic()
        try:
            self._start_alertmanager()
            self._start_prometheus()
            self._expect = _Expectation(
                frozenset(), frozenset(), frozenset(), alertmanager=wait_alertmanager
            )
            self.wait_ready(timeout=self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Prometheus at %s and Alertmanager at %s ready in %.2f s",
            self.prometheus_url,
            self.alertmanager_url,
            time.monotonic() - started,
        )
        return self

    def stop(self) -> None:
        """Terminate both servers (kill after 5 s); safe to call twice."""
        for attr in ("_prometheus", "_alertmanager"):
            proc: _Process | None = getattr(self, attr)
            if proc is not None:
                proc.stop()
                setattr(self, attr, None)
        if self._http is not None:
            self._http.close()
            self._http = None

    def _start_alertmanager(self) -> None:
        assert self._bins is not None
        self._write_checked_am_config(self._am_config)
        for attempt in range(3):
            self.alertmanager_port = _free_port()
            proc = _Process(
                "alertmanager",
                [
                    self._bins.alertmanager,
                    f"--config.file={self.alertmanager_config_path}",
                    f"--storage.path={self.workdir / 'alertmanager-data'}",
                    f"--web.listen-address={self.alertmanager_address}",
                    f"--web.external-url={self.alertmanager_url}/",
                    "--cluster.listen-address=",
                    f"--log.level={self.log_level}",
                ],
                self.alertmanager_log,
            )
            self._alertmanager = proc
            if self._wait_http_ok(proc, f"{self.alertmanager_url}/-/ready", attempt):
                return

    def _start_prometheus(self) -> None:
        assert self._bins is not None
        for attempt in range(3):
            self.prometheus_port = _free_port()
            self._write_prometheus_config(self._render_prometheus_config((), (), ()))
            proc = _Process(
                "prometheus",
                [
                    self._bins.prometheus,
                    f"--config.file={self.prometheus_config_path}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--storage.tsdb.retention.time={self.retention}",
                    f"--web.listen-address={HOST}:{self.prometheus_port}",
                    f"--web.external-url={self.prometheus_url}/",
                    "--web.enable-lifecycle",
                    "--web.enable-admin-api",
                    "--web.enable-remote-write-receiver",
                    f"--rules.alert.resend-delay={self.alert_resend_delay}",
                    f"--log.level={self.log_level}",
                ],
                self.prometheus_log,
            )
            self._prometheus = proc
            if self._wait_http_ok(proc, f"{self.prometheus_url}/-/ready", attempt):
                return

    def _wait_http_ok(self, proc: _Process, url: str, attempt: int) -> bool:
        """Wait for 200 on `url`; False if the port was taken (caller retries)."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = proc.exited()
            if code is not None:
                if "address already in use" in _tail(proc.log_path) and attempt < 2:
                    proc.stop()
                    return False
                raise proc.failure(f"{proc.name} exited with status {code} during startup")
            with contextlib.suppress(httpx.HTTPError):
                if self._client().get(url).status_code == 200:
                    return True
            time.sleep(_POLL)
        raise proc.failure(f"{proc.name} not ready at {url} after {self.startup_timeout:.0f} s")

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise PromStackError("the stack is not started")
        return self._http

    # --- configuration --------------------------------------------------------------------

    def reset_data(self) -> None:
        """Delete every stored series (admin API), so a test sees only its own samples.

        Series scraped for earlier configurations (other twins with the same labels) would
        otherwise stay queryable for their whole range."""
        client = self._client()
        try:
            deleted = client.post(
                f"{self.prometheus_url}/api/v1/admin/tsdb/delete_series",
                params={"match[]": '{__name__=~".+"}'},
            )
            cleaned = client.post(f"{self.prometheus_url}/api/v1/admin/tsdb/clean_tombstones")
        except httpx.HTTPError as e:
            raise PromStackError(f"could not reset Prometheus' data: {e}") from e
        for answer in (deleted, cleaned):
            if answer.status_code != 204:
                raise PromStackError(
                    f"could not reset Prometheus' data: {answer.status_code} {answer.text[:200]}"
                )

    def configure(
        self,
        *,
        scrape_targets: Sequence[str] = (),
        rule_files: Mapping[str, str] | None = None,
        alertmanager_config: str | None = None,
        extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
        timeout: float = 30.0,
        wait_alertmanager: bool = True,
    ) -> None:
        """Replace the whole configuration, reload both servers and wait until loaded.

        `scrape_targets` ("127.0.0.1:PORT", or the twin's URL "http://127.0.0.1:PORT") are
        scraped at `/metrics` in job `scrape_job` with `honor_labels: true`; `rule_files`
        maps file names to rule-file YAML; `alertmanager_config` is Alertmanager YAML
        (None: a "null" receiver with group_wait 0s and group_interval 1s);
        `extra_scrape_configs` are raw `scrape_configs` entries. Every call describes the
        full state: what is not given is removed. A call identical to the running state
        reloads nothing.

        Prometheus 2.42 forgets the Alertmanager on every reload and rediscovers it at
        the next 5 s discovery tick; alerts are resent every `alert_resend_delay`, so
        none is lost, but `wait_alertmanager=False` returns up to 5 s sooner for tests
        that only query.

        Raises `PromStackError` (running configuration unchanged) when promtool or amtool
        refuse the new files, and on timeout with what is not ready yet.
        """
        self._client()
        scrape_targets = [t.removeprefix("http://").rstrip("/") for t in scrape_targets]
        rule_files = dict(rule_files or {})
        for name in rule_files:
            if not name or Path(name).name != name or name.startswith("."):
                raise PromStackError(f"rule file name {name!r} must be a plain file name")
        groups = self._rule_groups(rule_files)
        am_text = (
            DEFAULT_ALERTMANAGER_CONFIG if alertmanager_config is None else alertmanager_config
        )
        wanted = yaml.safe_dump(
            {
                "targets": list(scrape_targets),
                "rules": rule_files,
                "extra": [dict(c) for c in extra_scrape_configs],
            },
            sort_keys=True,
        )
        prom_changed = wanted != self._prom_state or self._rules_dir is None
        am_changed = am_text != self._am_config

        staged_prom = self.workdir / "prometheus.yml.next"
        staged_am = self.workdir / "alertmanager.yml.next"
        rules_dir = self._rules_dir
        if prom_changed:
            self._generation += 1
            rules_dir = self.workdir / f"rules-{self._generation}"
            rules_dir.mkdir()
        assert rules_dir is not None
        try:
            if prom_changed:
                for name, text in rule_files.items():
                    (rules_dir / name).write_text(text)
                prom_text = self._render_prometheus_config(
                    scrape_targets,
                    [str(rules_dir / name) for name in rule_files],
                    extra_scrape_configs,
                )
                staged_prom.write_text(prom_text)
                self._check_prometheus_config(staged_prom)
            if am_changed:
                staged_am.write_text(am_text)
                self._check_am_config(staged_am)
        except BaseException:
            if prom_changed:
                shutil.rmtree(rules_dir, ignore_errors=True)
            staged_prom.unlink(missing_ok=True)
            staged_am.unlink(missing_ok=True)
            raise

        if prom_changed:
            previous_prom = self.prometheus_config_path.read_text()
            os.replace(staged_prom, self.prometheus_config_path)
            try:
                self._reload(self.prometheus_url, "Prometheus")
            except PromStackError:
                self._write_prometheus_config(previous_prom)
                with contextlib.suppress(PromStackError):
                    self._reload(self.prometheus_url, "Prometheus")
                shutil.rmtree(rules_dir, ignore_errors=True)
                staged_am.unlink(missing_ok=True)
                raise
            if self._rules_dir is not None:
                shutil.rmtree(self._rules_dir, ignore_errors=True)
            self._rules_dir = rules_dir
            self._prom_state = wanted

        if am_changed:
            previous_am = self._am_config
            os.replace(staged_am, self.alertmanager_config_path)
            try:
                self._reload(self.alertmanager_url, "Alertmanager")
            except PromStackError:
                self.alertmanager_config_path.write_text(previous_am)
                with contextlib.suppress(PromStackError):
                    self._reload(self.alertmanager_url, "Alertmanager")
                raise
            self._am_config = am_text

        jobs = {self.scrape_job} if scrape_targets else set()
        jobs |= {str(c.get("job_name", "")) for c in extra_scrape_configs}
        self._expect = _Expectation(
            jobs=frozenset(jobs),
            up_targets=frozenset(scrape_targets),
            groups=frozenset((str(rules_dir / name), group) for name, group in groups),
            alertmanager=wait_alertmanager,
        )
        self.wait_ready(timeout=timeout)

    def _rule_groups(self, rule_files: Mapping[str, str]) -> list[tuple[str, str]]:
        out = []
        for name, text in rule_files.items():
            try:
                doc = yaml.safe_load(text) or {}
                out += [(name, str(g["name"])) for g in doc.get("groups") or ()]
            except (yaml.YAMLError, AttributeError, KeyError, TypeError) as e:
                raise PromStackError(f"rule file {name} is not valid rule YAML: {e}") from e
        return out

    def _render_prometheus_config(
        self,
        scrape_targets: Sequence[str],
        rule_paths: Sequence[str],
        extra_scrape_configs: Sequence[Mapping[str, Any]],
    ) -> str:
        scrape_configs: list[dict[str, Any]] = []
        if scrape_targets:
            scrape_configs.append(
                {
                    "job_name": self.scrape_job,
                    "honor_labels": True,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": list(scrape_targets)}],
                }
            )
        scrape_configs += [dict(c) for c in extra_scrape_configs]
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "alerting": {
                "alertmanagers": [
                    {
                        "api_version": "v2",
                        "static_configs": [{"targets": [self.alertmanager_address]}],
                    }
                ]
            },
            "rule_files": list(rule_paths),
            "scrape_configs": scrape_configs,
            "storage": {"tsdb": {"out_of_order_time_window": "24h"}},
        }
        return yaml.safe_dump(config, sort_keys=False)

    def _write_prometheus_config(self, text: str) -> None:
        tmp = self.workdir / "prometheus.yml.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.prometheus_config_path)

    def _write_checked_am_config(self, text: str) -> None:
        staged = self.workdir / "alertmanager.yml.next"
        staged.write_text(text)
        try:
            self._check_am_config(staged)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        os.replace(staged, self.alertmanager_config_path)

    def _check_prometheus_config(self, path: Path) -> None:
        assert self._bins is not None
        _run_tool([self._bins.promtool, "check", "config", str(path)], what="promtool check config")

    def _check_am_config(self, path: Path) -> None:
        assert self._bins is not None
        _run_tool([self._bins.amtool, "check-config", str(path)], what="amtool check-config")

    def _reload(self, base_url: str, name: str) -> None:
        try:
            response = self._client().post(f"{base_url}/-/reload", timeout=30.0)
        except httpx.HTTPError as e:
            raise PromStackError(f"cannot reload {name}: {e!r}") from e
        if response.status_code != 200:
            raise PromStackError(
                f"{name} refused the new configuration ({response.status_code}): "
                f"{response.text.strip()}"
            )

    # --- readiness ------------------------------------------------------------------------

    def wait_ready(self, *, timeout: float = 30.0) -> None:
        """Wait until the current configuration is live, else raise listing what is not.

        Ready means: both servers answer `/-/ready`; Prometheus has discovered the
        Alertmanager; exactly the configured scrape jobs are active, every configured
        scrape target is up and every other one has been scraped once; exactly the
        configured rule groups are loaded and each has been evaluated once.
        """
        deadline = time.monotonic() + timeout
        pending: list[str] = []
        last: list[str] = []
        while True:
            for proc in (self._prometheus, self._alertmanager):
                if proc is None:
                    raise PromStackError("the stack is not started")
                code = proc.exited()
                if code is not None:
                    raise proc.failure(f"{proc.name} exited with status {code}")
            try:
                pending = self._not_ready()
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
                pending = [f"API not answering as expected: {e!r}"]
            if not pending:
                return
            if pending != last:
                log.debug("waiting for: %s", "; ".join(pending))
                last = pending
            if time.monotonic() >= deadline:
                assert self._prometheus is not None
                raise self._prometheus.failure(
                    f"Prometheus/Alertmanager not ready after {timeout:.1f} s:\n- "
                    + "\n- ".join(pending)
                )
            time.sleep(_POLL)

    def _get_data(self, path: str) -> Any:
        response = self._client().get(f"{self.prometheus_url}{path}", timeout=5.0)
        response.raise_for_status()
        return response.json()["data"]

    def _not_ready(self) -> list[str]:
        http = self._client()
        pending = []
        if http.get(f"{self.alertmanager_url}/-/ready").status_code != 200:
            pending.append("Alertmanager /-/ready")
        if http.get(f"{self.prometheus_url}/-/ready").status_code != 200:
            pending.append("Prometheus /-/ready")
            return pending
        ams = self._get_data("/api/v1/alertmanagers")["activeAlertmanagers"]
        discovered = any(self.alertmanager_address in str(a.get("url", "")) for a in ams)
        if self._expect.alertmanager and not discovered:
            pending.append(f"Alertmanager {self.alertmanager_address} not discovered yet")

        expect = self._expect
        targets = self._get_data("/api/v1/targets?state=active")["activeTargets"]
        pools = {str(t.get("scrapePool", "")) for t in targets}
        if pools - expect.jobs:
            pending.append(f"old scrape jobs still active: {sorted(pools - expect.jobs)}")
        if expect.jobs - pools:
            pending.append(f"scrape jobs not active yet: {sorted(expect.jobs - pools)}")
        by_address = {
            str((t.get("discoveredLabels") or {}).get("__address__", "")): t
            for t in targets
            if t.get("scrapePool") == self.scrape_job
        }
        for address in sorted(expect.up_targets):
            target = by_address.get(address)
            if target is None:
                pending.append(f"target {address} not discovered yet")
            elif target.get("health") != "up":
                pending.append(
                    f"target {address} is {target.get('health')}: {target.get('lastError', '')}"
                )
        for target in targets:
            if target.get("scrapePool") in expect.jobs and target.get("health") == "unknown":
                pending.append(f"target {target.get('scrapeUrl')} not scraped yet")

        groups = self._get_data("/api/v1/rules")["groups"]
        loaded = {(str(g["file"]), str(g["name"])): g for g in groups}
        missing = expect.groups - loaded.keys()
        extra = loaded.keys() - expect.groups
        if missing:
            pending.append(f"rule groups not loaded yet: {sorted(g for _, g in missing)}")
        if extra:
            pending.append(f"old rule groups still loaded: {sorted(g for _, g in extra)}")
        for key in sorted(expect.groups & loaded.keys()):
            last = str(loaded[key].get("lastEvaluation", ""))
            if not last or last.startswith("0001-01-01"):
                pending.append(f"rule group {key[1]} not evaluated yet")
        return pending

    # --- diagnostics ----------------------------------------------------------------------

    def logs(self) -> str:
        """The tails of both process logs (for assertion messages)."""
        return (
            f"--- {self.prometheus_log} ---\n{_tail(self.prometheus_log)}\n"
            f"--- {self.alertmanager_log} ---\n{_tail(self.alertmanager_log)}"
        )
