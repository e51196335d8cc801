"""Start the app: check the options, load and verify the run, then serve with uvicorn."""

from __future__ import annotations

import sys

from ntl.serve.config import ServeConfig


def serve(config: ServeConfig, log_level: str = "info") -> int:
    """Load the run (hash-checked: a tampered artifact raises before any port is bound) and
    serve it until interrupted. Errors ntl raises on purpose reach the CLI as one line."""
    import uvicorn

    from ntl.serve.app import create_app

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
