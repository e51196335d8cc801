"""Start the app: check the options, load and verify the run, then serve with uvicorn."""

from __future__ import annotations

import sys

from ntl.serve.config import ServeConfig

# Python hands the GIL from a running thread to a waiting one every switch interval (5 ms by
# default). The app's event loop runs Python nearly all the time under load, so a batch thread
# woken by its scoring process's answer waited up to 5 ms to take it and send the next batch,
# while that process sat idle: 1 ms made the single-customer loop 955 -> 1,070 requests a
# second (p50 21 -> 18 ms, make bench), 0.5 ms no better.
SWITCH_INTERVAL_SECONDS = 0.001


def use_short_switch_interval() -> None:
    """This process hands the GIL between its threads every SWITCH_INTERVAL_SECONDS."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def serve(config: ServeConfig, log_level: str = "info") -> int:
    """Load the run (hash-checked: a tampered artifact raises before any port is bound) and
    serve it until interrupted. Errors ntl raises on purpose reach the CLI as one line."""
    import uvicorn

    from ntl.serve.app import create_app

    use_short_switch_interval()
    app = create_app(config)
    where = f"http://{config.host}:{config.port}"
    auth = "API token required" if config.token else "no token (loopback only)"
    print(
        f"ntl serve: run {app.state.service.record.run_name!r} on {where} ({auth})", file=sys.stderr
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return 0
