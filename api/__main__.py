"""`python -m api`: serve the HTTP API on the configured host and port."""

from __future__ import annotations

import uvicorn

from api.settings import get_settings


def main() -> None:
    """Run uvicorn on `API_HOST:API_PORT`."""
    settings = get_settings()
    uvicorn.run("api.main:app", host=settings.api_host, port=settings.api_port)


if __name__ == "__main__":
    main()
