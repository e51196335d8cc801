"""ntl.serve: the API's JSON body parser, the app's telemetry and its GIL switch interval."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from ntl.serve.api import JSONBodyRequest


def parsed(body: bytes):
    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    request = JSONBodyRequest({"type": "http", "method": "POST", "headers": []}, receive)
    return asyncio.run(request.json())


@pytest.mark.parametrize(
    "body",
    [
        b'{"customer_id": "c1", "readings": {"2016-01-01": 3.2, "2016-01-02": null}}',
        b'{"readings": {"2016-01-01": 0.1, "2016-01-01": 0.30000000000000004}}',  # the last wins
        b'{"a": [1e400, -0.0, 123456789012345678901234567890, 5e-324, 1.7976931348623157e308]}',
        b'{"text": "caf\\u00e9 \\ud83d\\ude00", "empty": {}, "list": [true, false, null]}',
        '{"kwh": 2.5, "note": "été"}'.encode("utf-16"),  # Python's parser reads other encodings
        b'"\\ud800"',  # a lone surrogate: pydantic's parser refuses it, Python's reads it
    ],
)
def test_json_body_is_what_pythons_parser_reads(body):
    assert repr(parsed(body)) == repr(json.loads(body))  # repr: -0.0 and inf compared exactly


def test_json_body_reads_non_finite_numbers_as_python_does():
    document = parsed(b'{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert math.isnan(document["a"]) and document["b"] == math.inf and document["c"] == -math.inf


def test_a_body_that_is_not_json_raises_pythons_error_with_its_position():
    body = b'{"readings": {"2016-01-01": 1.0,}}'  # a trailing comma
    with pytest.raises(json.JSONDecodeError) as error:
        parsed(body)
    assert error.value.pos == 32 and body[32:33] == b"}"


def test_fastapis_telemetry_is_off_unless_the_environment_configures_opentelemetry():
    from ntl.serve.app import telemetry_options

    off = {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    assert telemetry_options({"PATH": "/usr/bin", "HOME": "/root"}) == off
    assert telemetry_options({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == {}
    assert telemetry_options({"OTEL_SDK_DISABLED": "false", "PATH": "/usr/bin"}) == {}


def test_the_server_process_hands_the_gil_on_every_millisecond():
    import sys

    from ntl.serve.main import SWITCH_INTERVAL_SECONDS, use_short_switch_interval

    before = sys.getswitchinterval()
    try:
        use_short_switch_interval()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS) == 0.001
    finally:
        sys.setswitchinterval(before)
