"""The web chat widget, as the partner's site embeds it.

    GET  /widget/widget.js        the widget: one script tag embeds it on any page

`widget.js` is built per request from three files and cached while they are
unchanged: the official Socket.IO browser client, which `scripts/build_frontend.sh`
installs from npm into build/frontend/ (api/frontend.py; never from a CDN),
wrapped so that it defines no global, the widget's strings from the text catalogue
(common/texts/<lang>.yml, `widget`; `?lang=` picks the language, English by
default), and api/widget/static/widget.js.

A page that embeds it, for the demo, is api/demo/portal.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

from fastapi import APIRouter, Header, status
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.frontend import BUILD_COMMAND, SOCKET_IO_CLIENT
from common.texts import DEFAULT_LANGUAGE, catalogue, languages

HERE = Path(__file__).resolve().parent
WIDGET_SOURCE = HERE / "static" / "widget.js"
PORTAL_CSS = HERE / "static" / "portal.css"
DEMO_COOKIE = "contoso_portal"
DEMO_USER_NAME = "Demo user"
JAVASCRIPT = "application/javascript; charset=utf-8"  # whatever the host page's charset

router = APIRouter(tags=["widget"])

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


# --------------------------------------------------------------------------- widget


@dataclass
class _Bundle:
    key: tuple[float, ...]
    body: str
    etag: str


_bundle_cache: dict[str, _Bundle] = {}


def widget_texts(language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """Every string the widget shows, in `language` (English for ids it leaves
    out, or for a language without a catalogue)."""
    if language not in languages():
        language = DEFAULT_LANGUAGE
    return catalogue(language).widget()


def widget_script(
    language: str = DEFAULT_LANGUAGE, source: Path = WIDGET_SOURCE
) -> str:
    """The widget's own code with its strings in front of it, as `TEXTS` (JSON,
    ASCII only: safe inside any script whatever the page's charset)."""
    texts = json.dumps(widget_texts(language), ensure_ascii=True, sort_keys=True)
    return f"var TEXTS = {texts};\n{source.read_text(encoding='utf-8')}"


def build_widget_js(
    client: Path = SOCKET_IO_CLIENT,
    source: Path = WIDGET_SOURCE,
    language: str = DEFAULT_LANGUAGE,
) -> str:
    """The Socket.IO client, wrapped so it sets no global (its UMD header takes the
    CommonJS branch), then the widget and its strings, all inside one function
    scope."""
    library = client.read_text(encoding="utf-8")
    library = "\n".join(
        line
        for line in library.splitlines()
        if not line.startswith("//# sourceMappingURL")
    )
    widget = widget_script(language, source)
    return (
        "/*! CSP billing desk chat widget. Includes the Socket.IO client (MIT). */\n"
        "(function () {\n"
        "var io = (function () {\n"
        "var module = { exports: {} }, exports = module.exports, define;\n"
        f"{library}\n"
        "return module.exports;\n"
        "})();\n"
        f"{widget}\n"
        "})();\n"
    )


def widget_bundle(language: str = DEFAULT_LANGUAGE) -> _Bundle:
    """The bundle in `language`, rebuilt when the client or the widget changed (the
    catalogue is read once per process)."""
    if language not in languages():
        language = DEFAULT_LANGUAGE
    key = (SOCKET_IO_CLIENT.stat().st_mtime, WIDGET_SOURCE.stat().st_mtime)
    cached = _bundle_cache.get(language)
    if cached is None or cached.key != key:
        body = build_widget_js(language=language)
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
        cached = _bundle_cache[language] = _Bundle(key, body, etag)
    return cached


MISSING_CLIENT_JS = (
    'console.error("chat widget: the socket.io client is not built; '
    f'run {BUILD_COMMAND} on the server");\n'
)


@router.get("/widget/widget.js", include_in_schema=False)
def widget_js(
    if_none_match: Annotated[Optional[str], Header()] = None,
    lang: str = DEFAULT_LANGUAGE,
) -> Response:
    """The embeddable widget (JavaScript), its strings in `lang`."""
    if not SOCKET_IO_CLIENT.exists():
        return Response(
            MISSING_CLIENT_JS,
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            media_type=JAVASCRIPT,
        )
    bundle = widget_bundle(lang)
    headers = {"Cache-Control": "public, max-age=300", "ETag": bundle.etag}
    if if_none_match == bundle.etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(bundle.body, media_type=JAVASCRIPT, headers=headers)
