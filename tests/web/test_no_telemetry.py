"""Request telemetry stays off: a deployment that configures OpenTelemetry (for its own
services, or through `opentelemetry-instrument`) must not get spans from Vakstem's framework
that carry respondents' URLs, whose resume codes open their answers. FastAPI records such spans
(`url.path`) by itself as soon as a tracer provider is set; `create_app` turns that off.

Run in a fresh interpreter: a tracer provider can be set only once per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, INVALID_SPAN_CONTEXT

    recorded = []

    class Tracer(trace.Tracer):
        def start_span(self, name, context=None, kind=None, attributes=None, *a, **k):
            recorded.append({"name": name, "attributes": dict(attributes or {})})
            return NonRecordingSpan(INVALID_SPAN_CONTEXT)

        def start_as_current_span(self, name, *a, **k):
            return trace.use_span(self.start_span(name, *a, **k), end_on_exit=True)

    class Provider(trace.TracerProvider):
        def get_tracer(self, *a, **k):
            return Tracer()

    trace.set_tracer_provider(Provider())

    from fastapi.testclient import TestClient
    from vakstem.settings import Settings
    from vakstem.web.app import create_app

    settings = Settings(database_url=sys.argv[1], secret_key="k" * 32)
    with TestClient(create_app(settings)) as client:
        client.get("/s/voorbeeld/r/ABCDE12345")
        client.get("/openapi.json")
    print(json.dumps(recorded))
    """
)


def test_no_request_spans_even_with_a_tracer_provider_set(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
