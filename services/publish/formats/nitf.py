"""IPTC NITF 3.6 rendering: one ``nitf`` document per story version, for CMSs that take NITF.

Rendered from the version's ninjs item and its kind, like NewsML-G2 (``newsml.py``):

* ``doc-id`` names the version (``<story id>-v<version>``), ``du-key`` the story and its version,
  so a CMS replaces what it holds; a later version points at the one it replaces
  (``management-doc-idref``);
* ``docdata management-status`` is ``usable``, ``withheld`` (embargoed, with ``date.release``) or
  ``canceled`` (a kill: the earlier version's status becomes ``canceled`` too, and
  ``ed-msg msg-type="kill"`` carries the reason); a correction carries ``correction`` and
  ``ed-msg msg-type="correction"`` with the editor's note, an update ``ed-msg msg-type="update"``;
* Media Topics are ``classifier`` values (``medtop:`` qcodes), places ``location``/``country``
  with their ISO 3166-1 code (``iso-cc``) and GeoNames URI (``location-code``), people and
  organisations ``person`` / ``org``, keywords ``key-list``; the dateline's place is ``dateline``;
* the body is ``p`` paragraphs (``xmltext.paragraphs``).

The output is checked against the official schema in the tests (``schema/newsml-g2/nitf-3-6.xsd``).
"""

from __future__ import annotations

from lxml import etree

from services.publish.formats.newsml import MEDIA_TOPIC_PREFIX
from services.publish.formats.xmltext import paragraphs, xml_safe
from shared.models import VersionKind

NITF = "http://iptc.org/std/NITF/2006-10-18/"
CONTENT_TYPE = "application/nitf+xml"
EXTENSION = "xml"
MESSAGES = {VersionKind.correction: "correction", VersionKind.kill: "kill", VersionKind.update: "update"}
STATUS = {"usable": "usable", "withheld": "withheld", "canceled": "canceled"}


def _el(parent: etree._Element, name: str, text: str | None = None, **attributes: str | None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NITF}}}{name}", {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = xml_safe(text)
    return element


def norm(timestamp: str | None) -> str | None:
    """ISO 8601 basic form (``20261128T100500Z``), as NITF's ``norm`` attributes carry dates."""
    if not timestamp:
        return None
    return timestamp.replace("-", "").replace(":", "").replace("+0000", "Z")


def render(item: dict, kind: VersionKind) -> bytes:
    """The version (its ninjs ``item``) as a NITF 3.6 document, UTF-8."""
    root = etree.Element(f"{{{NITF}}}nitf", nsmap={None: NITF})
    root.set("version", "-//IPTC//DTD NITF 3.6//EN")
    if item.get("language"):
        root.set("baselang", item["language"])
    head = _el(root, "head")
    _el(head, "title", item["headlines"][0]["value"])
    _docdata(head, item, kind)
    _body(root, item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _story_id(item: dict) -> str:
    return next(alt["value"] for alt in item["altIds"] if alt["role"] == "newswire-story-id")


def _docdata(head: etree._Element, item: dict, kind: VersionKind) -> None:
    story_id, version = _story_id(item), int(item["version"])
    earlier = f"{story_id}-v{version - 1}" if version > 1 else None
    docdata = _el(
        head,
        "docdata",
        **{
            "management-status": STATUS[item["pubStatus"]],
            "management-doc-idref": earlier,
            "management-idref-status": "canceled" if earlier and kind == VersionKind.kill else None,
        },
    )
    if kind == VersionKind.correction:
        _el(docdata, "correction", info=xml_safe(item.get("edNote") or ""), **{"id-string": earlier})
    _el(docdata, "doc-id", regsrc="newswire", **{"id-string": f"{story_id}-v{version}"})
    _el(docdata, "urgency", **{"ed-urg": str(item["urgency"])})
    _el(docdata, "date.issue", norm=norm(item["versionCreated"]))
    if item.get("embargoedUntil"):
        _el(docdata, "date.release", norm=norm(item["embargoedUntil"]))
    if kind in MESSAGES:
        _el(docdata, "ed-msg", info=xml_safe(item.get("edNote") or ""), **{"msg-type": MESSAGES[kind]})
    _el(docdata, "du-key", key=story_id, version=str(version))
    keywords = [s["name"] for s in item.get("subjects", []) if s.get("rel") == "keyword"]
    if keywords:
        listed = _el(docdata, "key-list")
        for keyword in keywords:
            _el(listed, "keyword", key=xml_safe(keyword))
    _identified_content(docdata, item)


def _identified_content(docdata: etree._Element, item: dict) -> None:
    people, orgs, places = item.get("people", []), item.get("organisations", []), item.get("places", [])
    topics = [s for s in item.get("subjects", []) if (s.get("uri") or "").startswith(MEDIA_TOPIC_PREFIX)]
    if not (people or orgs or places or topics):
        return
    content = _el(docdata, "identified-content")
    for person in people:
        _el(content, "person", person["name"])
    for org in orgs:
        _el(content, "org", org["name"])
    for place in places:
        location = _el(content, "location", **{"location-code": place.get("uri"), "code-source": _source(place)})
        if place.get("literal"):
            _el(location, "country", place["name"], **{"iso-cc": place["literal"]})
        else:
            location.text = xml_safe(place["name"])
    for topic in topics:
        qcode = "medtop:" + topic["uri"].removeprefix(MEDIA_TOPIC_PREFIX)
        _el(content, "classifier", type="mediatopic", idsrc=MEDIA_TOPIC_PREFIX, value=qcode)


def _source(place: dict) -> str | None:
    return "geonames" if place.get("uri") else None


def _body(root: etree._Element, item: dict) -> None:
    body = _el(root, "body")
    body_head = _el(body, "body.head")
    _el(_el(body_head, "hedline"), "hl1", item["headlines"][0]["value"])
    if item.get("by"):
        _el(body_head, "byline", item["by"])
    if item.get("located"):
        _el(_el(body_head, "dateline"), "location", item["located"])
    content = _el(body, "body.content")
    for paragraph in paragraphs(item["bodies"][0]):
        _el(content, "p", paragraph)
