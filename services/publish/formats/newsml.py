"""IPTC NewsML-G2 2.35 rendering: one ``newsItem`` (power conformance) per story version.

Rendered from the version's ninjs item (the same version data every format starts from) and the
version's kind:

* ``guid`` is the story's URI and ``version`` the version number, so a receiver replaces the
  item it holds; updates carry ``sig:update``, corrections ``sig:correction`` and the editor's
  note in ``edNote``; a kill is ``pubStatus stat:canceled`` with the reason in ``edNote``;
* Media Topics are ``subject`` qcodes (``medtop:``), places ``cpnat:geoArea`` subjects with their
  GeoNames URI and their ISO 3166-1 code (``sameAs iso3166-1a2:``), people and organisations
  ``cpnat:person`` / ``cpnat:organisation`` subjects, keywords ``keyword``; the dateline's place
  is ``located`` and ``dateline``;
* the body is XHTML paragraphs in ``inlineXML`` (``xmltext.paragraphs``).

The output is checked against the official schema in the tests (``schema/newsml-g2/``).
"""

from __future__ import annotations

from lxml import etree

from services.publish.formats.xmltext import paragraphs, xml_safe
from shared.models import VersionKind

NAR = "http://iptc.org/std/nar/2006-10-01/"
XHTML = "http://www.w3.org/1999/xhtml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CONTENT_TYPE = "application/vnd.iptc.g2.newsitem+xml"
EXTENSION = "xml"
#: The IPTC catalog that resolves the qcode schemes used here (ninat, stat, sig, medtop, cpnat, iso3166-1a2).
CATALOG = "http://www.iptc.org/std/catalog/catalog.IPTC-G2-Standards_38.xml"
MEDIA_TOPIC_PREFIX = "http://cv.iptc.org/newscodes/mediatopic/"
SIGNALS = {VersionKind.update: "sig:update", VersionKind.retag: "sig:update", VersionKind.correction: "sig:correction"}


def _el(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NAR}}}{name}", {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = xml_safe(text)
    return element


def render(item: dict, kind: VersionKind) -> bytes:
    """The version (its ninjs ``item``) as a NewsML-G2 newsItem document, UTF-8."""
    root = etree.Element(f"{{{NAR}}}newsItem", nsmap={None: NAR})
    root.set("guid", item["uri"])
    root.set("version", item["version"])
    root.set("standard", "NewsML-G2")
    root.set("standardversion", "2.35")
    root.set("conformance", "power")
    if item.get("language"):
        root.set(XML_LANG, item["language"])
    _el(root, "catalogRef", href=CATALOG)
    _item_meta(root, item, kind)
    _content_meta(root, item)
    _content_set(root, item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _item_meta(root: etree._Element, item: dict, kind: VersionKind) -> None:
    meta = _el(root, "itemMeta")
    _el(meta, "itemClass", qcode="ninat:text")
    _el(meta, "provider", literal="newswire")
    _el(meta, "versionCreated", item["versionCreated"])
    _el(meta, "firstCreated", item["firstCreated"])
    if item.get("embargoedUntil"):
        _el(meta, "embargoed", item["embargoedUntil"])
    _el(meta, "pubStatus", qcode=f"stat:{item['pubStatus']}")
    if item.get("edNote"):
        _el(meta, "edNote", item["edNote"])
    if kind in SIGNALS:
        _el(meta, "signal", qcode=SIGNALS[kind])


def _content_meta(root: etree._Element, item: dict) -> None:
    meta = _el(root, "contentMeta")
    _el(meta, "urgency", str(item["urgency"]))
    if item.get("located"):
        _el(_el(meta, "located"), "name", item["located"])
    if item.get("language"):
        _el(meta, "language", tag=item["language"])
    for subject in item.get("subjects", []):
        if subject.get("rel") == "keyword":
            _el(meta, "keyword", subject["name"])
    _subjects(meta, item)
    if item.get("slugline"):
        _el(meta, "slugline", item["slugline"])
    _el(meta, "headline", item["headlines"][0]["value"])
    if item.get("located"):
        _el(meta, "dateline", item["located"])
    if item.get("by"):
        _el(meta, "by", item["by"])


def _subjects(meta: etree._Element, item: dict) -> None:
    for subject in item.get("subjects", []):
        uri = subject.get("uri") or ""
        if subject.get("rel") == "about" and uri.startswith(MEDIA_TOPIC_PREFIX):
            qcode = "medtop:" + uri.removeprefix(MEDIA_TOPIC_PREFIX)
            _el(_el(meta, "subject", type="cpnat:abstract", qcode=qcode), "name", subject["name"])
    for place in item.get("places", []):
        code = place.get("literal")
        if place.get("uri"):
            tagged = _el(meta, "subject", type="cpnat:geoArea", uri=place["uri"])
        elif code:
            tagged = _el(meta, "subject", type="cpnat:geoArea", qcode=f"iso3166-1a2:{code}")
        else:
            tagged = _el(meta, "subject", type="cpnat:geoArea", literal=place["name"])
        _el(tagged, "name", place["name"])
        if code and place.get("uri"):
            _el(tagged, "sameAs", qcode=f"iso3166-1a2:{code}")
    for key, concept_type in (("people", "cpnat:person"), ("organisations", "cpnat:organisation")):
        for entity in item.get(key, []):
            _el(_el(meta, "subject", type=concept_type, literal=entity["name"]), "name", entity["name"])


def _content_set(root: etree._Element, item: dict) -> None:
    inline = _el(_el(root, "contentSet"), "inlineXML", contenttype="application/xhtml+xml")
    html = etree.SubElement(inline, f"{{{XHTML}}}html", nsmap={None: XHTML})
    head = etree.SubElement(html, f"{{{XHTML}}}head")
    etree.SubElement(head, f"{{{XHTML}}}title").text = xml_safe(item["headlines"][0]["value"])
    body = etree.SubElement(html, f"{{{XHTML}}}body")
    for paragraph in paragraphs(item["bodies"][0]):
        etree.SubElement(body, f"{{{XHTML}}}p").text = paragraph
