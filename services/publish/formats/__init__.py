"""Output formats. Each renders a stored story version to the document a subscriber receives.

Every format renders from the same version data: the version's ninjs item (rendered and checked
when the version was published) and its kind. ``body`` is the one interface the delivery code
uses: the bytes to send and their content type.

* ``ninjs`` (default): the Standard Webhooks JSON event ``{"type", "timestamp", "data": <ninjs>}``;
* ``newsml-g2``: a NewsML-G2 2.35 ``newsItem`` (``newsml.py``);
* ``nitf``: a NITF 3.6 document (``nitf.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.publish.formats import newsml, nitf
from shared.models import VersionKind
from shared.webhook_client import event_body


@dataclass(frozen=True)
class Rendition:
    body: bytes
    content_type: str


def _ninjs(item: dict, kind: VersionKind, published_at: str) -> Rendition:
    return Rendition(event_body(kind.event_type, published_at, item), "application/json")


def _xml(render: Callable[[dict, VersionKind], bytes], content_type: str):
    def rendition(item: dict, kind: VersionKind, _published_at: str) -> Rendition:
        return Rendition(render(item, kind), content_type)

    return rendition


_RENDERERS = {
    "ninjs": _ninjs,
    "newsml-g2": _xml(newsml.render, newsml.CONTENT_TYPE),
    "nitf": _xml(nitf.render, nitf.CONTENT_TYPE),
}


def body(format_name: str, item: dict, kind: VersionKind, published_at: str) -> Rendition:
    """What a subscriber taking ``format_name`` receives for this version."""
    return _RENDERERS[format_name](item, kind, published_at)
