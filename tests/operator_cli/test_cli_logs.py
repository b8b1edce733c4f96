"""Log output of `kubeheal run`: a hostile label value never forges a log line.

The label values below are what an exporter (or anyone who can post an alert) controls; the
records go through the formatters `setup_logging` installs, as in the operator.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeheal.cli.logs import JsonFormatter, TextFormatter, setup_logging
from kubeheal.model.text import escape_control, has_control, strip_control

FORGED = "2024-05-01 12:00:00,000 INFO kubeheal.runtime.operator: incident inc-9 resolved"
HOSTILE = f"cart\r\n{FORGED}\n\x1b[2K\x00\u2028\x85end"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and level restored after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("kubeheal.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def _adapter(logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
    # Like `kubeheal.actions.execute`: the adapter carries the object reference.
    return logging.LoggerAdapter(
        logger,
        {"incident": "inc-1", "target": f"Deployment/shop/{HOSTILE}", "action": "restart_pods"},
    )


def test_text_log_keeps_one_record_on_one_line_whatever_the_label() -> None:
    logger, stream = _logger(TextFormatter())
    _adapter(logger).info("alert %s on %s", HOSTILE, "shop")
    logger.warning(HOSTILE, extra={"label": HOSTILE})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert not any(line.startswith(FORGED) for line in lines)
    for raw in ("\r", "\x1b", "\x00", "\u2028", "\x85"):
        assert raw not in stream.getvalue()
    first = lines[0]
    assert "alert cart\\r\\n2024-05-01" in first  # escaped, not lost
    assert "\\x1b[2K\\x00\\u2028\\x85end" in first
    assert "incident=inc-1" in first and "target=Deployment/shop/cart\\r\\n" in first
    assert "label=cart\\r\\n" in lines[1]


def test_text_log_traceback_lines_are_indented_and_escaped() -> None:
    logger, stream = _logger(TextFormatter())
    try:
        raise ValueError(f"bad label {HOSTILE}")
    except ValueError:
        logger.exception("cannot map alert %s", HOSTILE)
    lines = stream.getvalue().splitlines()
    assert "\\r\\n" in lines[0] and "cannot map alert" in lines[0]
    assert len(lines) > 1
    assert all(line.startswith("    ") for line in lines[1:])
    assert any("ValueError: bad label cart\\r" in line for line in lines[1:])
    assert not any(line.startswith(FORGED) for line in lines)
    assert "\r" not in stream.getvalue()


def test_json_log_is_one_object_per_line_with_the_adapter_fields() -> None:
    logger, stream = _logger(JsonFormatter())
    _adapter(logger).info("alert %s", HOSTILE)
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        logger.exception("failed on %s", HOSTILE)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == f"alert {HOSTILE}"  # exact after decoding
    assert first["target"] == f"Deployment/shop/{HOSTILE}"
    assert first["incident"] == "inc-1" and first["action"] == "restart_pods"
    assert second["message"] == f"failed on {HOSTILE}"
    assert "ValueError" in second["exception"]
    for raw in ("\r", "\x1b", "\x00", "\u2028", "\x85"):
        assert raw not in stream.getvalue()


@pytest.mark.parametrize("json_output", [False, True])
def test_setup_logging_installs_the_escaping_formatters(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str], json_output: bool
) -> None:
    setup_logging(level="INFO", json_output=json_output)
    logging.getLogger("kubeheal.server.webhook").info("alert %s", HOSTILE)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "alert" in line]
    assert len(lines) == 1
    assert not any(line.startswith(FORGED) for line in err.splitlines())
    if json_output:
        assert json.loads(lines[0])["message"] == f"alert {HOSTILE}"


async def test_the_http_server_logs_through_the_same_formatter(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.applications import Starlette

    from kubeheal.server.serving import serving

    uvicorn_logger = logging.getLogger("uvicorn")
    saved = list(uvicorn_logger.handlers), uvicorn_logger.propagate
    uvicorn_logger.handlers[:], uvicorn_logger.propagate = [], True
    try:
        setup_logging(level="INFO", json_output=True)
        async with serving(Starlette(), log_level="info"):
            logging.getLogger("uvicorn.error").warning("bad request %s", HOSTILE)
    finally:
        uvicorn_logger.handlers[:], uvicorn_logger.propagate = saved
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "bad request" in line]
    assert json.loads(line)["message"] == f"bad request {HOSTILE}"


@given(st.text())
def test_escaped_and_stripped_text_holds_no_control_character(text: str) -> None:
    escaped = escape_control(text)
    stripped = strip_control(text)
    assert not has_control(escaped) and not has_control(stripped)
    assert len(escaped.splitlines()) <= 1 and len(stripped.splitlines()) <= 1
    if not has_control(text):
        assert escaped == text


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_http_request_lines_are_debug_records(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    """httpx logs every request at INFO (the API client's GETs were most of a running
    operator's lines): they show at DEBUG only, as DEBUG records; kubeheal's own INFO stays.
    (The HTTP server's access log is off: uvicorn runs with access_log=False.)"""
    import httpx

    setup_logging(level=level)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with httpx.Client(transport=transport) as client:
        client.get("http://127.0.0.1:6443/api/v1/namespaces/kubeheal-system/configmaps/x")
    logging.getLogger("kubeheal.runtime.incident_flow").info("incident opened")
    logging.getLogger("httpx").warning("a retried request")
    err = capsys.readouterr().err.splitlines()
    requests = [line for line in err if "configmaps/x" in line]
    if level == "INFO":
        assert requests == []
    else:
        assert len(requests) == 1 and " DEBUG httpx: HTTP Request: GET " in requests[0], err
    assert any("INFO kubeheal.runtime.incident_flow: incident opened" in line for line in err)
    assert any("WARNING httpx: a retried request" in line for line in err)
