"""The browser libraries the API serves, and where their built files are.

`scripts/build_frontend.sh` installs them from the npm registry by lockfile
(`frontend/package.json`, `frontend/package-lock.json`: the one place every browser
library is pinned) and copies the files named here into build/frontend/. No page
the API serves loads anything from a CDN, so the widget, the dashboard and the API
docs all work on a machine without internet access.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

from api.settings import ROOT

FRONTEND_BUILD = ROOT / "build" / "frontend"
BUILD_COMMAND = "scripts/build_frontend.sh"

SOCKET_IO_CLIENT = FRONTEND_BUILD / "socket.io.min.js"  # inside /widget/widget.js
CHART_JS = FRONTEND_BUILD / "chart.umd.js"  # the dashboard's metrics charts
# The API docs (/docs, /redoc), served under /docs/static/ (api/web/routes/docs.py).
DOCS_ASSETS = {
    "swagger-ui-bundle.js": FRONTEND_BUILD / "swagger-ui-bundle.js",
    "swagger-ui.css": FRONTEND_BUILD / "swagger-ui.css",
    "redoc.standalone.js": FRONTEND_BUILD / "redoc.standalone.js",
    "favicon.png": FRONTEND_BUILD / "favicon.png",
}

MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def static_file(path: Path) -> FileResponse:
    """A built or checked-in browser file, cacheable for an hour, never sniffed."""
    response = FileResponse(path, media_type=MEDIA_TYPES[path.suffix])
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
