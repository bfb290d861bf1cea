"""The action server: rasa-sdk's app with a token check and quiet errors.

rasa-sdk's own server has no authentication and its 500 handler echoes the whole
request (the tracker, with the user's text) back. Here every call to `/webhook` and
`/actions` must carry `?token=<ACTION_SERVER_TOKEN>` (Rasa adds it from the `token`
of `action_endpoint` in endpoints.yml), and errors answer with a short message only.

Run with `.venv/bin/python -m actions.server`.
"""

from __future__ import annotations

import argparse
import hmac
import logging
from typing import Optional
from urllib.parse import urlsplit

from rasa_sdk.endpoint import create_app
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from api.settings import get_settings

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})


def build_app(token: str) -> Sanic:
    """The rasa-sdk app for the `actions` package, guarded by `token`."""
    app = create_app("actions", cors_origins=[])

    @app.middleware("request")
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS:
            return None
        given = request.args.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return json({"error": "missing or invalid token"}, status=401)
        return None

    async def quiet_errors(request: Request, exception: Exception) -> HTTPResponse:
        status = getattr(exception, "status_code", 500)
        if status >= 500:
            logger.error("action server error on %s", request.path, exc_info=exception)
            return json({"error": "internal error in the action server"}, status=500)
        # A bad request (wrong method, unknown path, malformed body) is the
        # caller's mistake, and anyone can send one: a line each, no traceback, so
        # a loop of them cannot flood the log. %r keeps a crafted path on one line.
        logger.warning(
            "action server refused %s %r: %s %s",
            request.method,
            request.path[:200],
            status,
            type(exception).__name__,
        )
        return json({"error": str(exception)}, status=status)

    app.error_handler.add(Exception, quiet_errors)
    return app


def main(argv: Optional[list[str]] = None) -> None:
    settings = get_settings()
    default = urlsplit(settings.action_server_url)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=default.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=default.port or 5055)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Sanic worker processes (the production profile sets ACTION_WORKERS)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    app = build_app(settings.action_server_token)
    app.run(
        host=args.host, port=args.port, workers=max(1, args.workers), access_log=False
    )


if __name__ == "__main__":
    main()
