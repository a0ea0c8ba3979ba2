"""NewsML-G2 and NITF renderings of every kind of version, checked against the official IPTC
schemas (lxml), and checked for what a receiving system reads in them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from lxml import etree

from services.publish import formats
from services.publish.formats import newsml, ninjs, nitf
from shared.models import StoryContent, VersionKind
from shared.tags import StoryTags
from tests.support import xml_schema

G2 = {"g": newsml.NAR, "x": newsml.XHTML}
N = {"n": nitf.NITF}
CREATED = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

TAGS = {
    "tagger_version": "test",
    "people": [{"type": "person", "name": "Antony Blinken", "confidence": 0.9}],
    "organisations": [{"type": "organisation", "name": "NATO", "confidence": 0.8}],
    "places": [
        {
            "name": "Kazakhstan",
            "code": "KZ",
            "kind": "country",
            "rel": "subject",
            "confidence": 0.9,
            "uri": "https://sws.geonames.org/1522867/",
        },
        {
            "name": "Almaty",
            "code": "KZ",
            "kind": "city",
            "rel": "mentioned",
            "confidence": 0.7,
            "uri": "https://sws.geonames.org/1526384/",
        },
        {"name": "Uzbekistan", "code": "UZ", "kind": "country", "rel": "subject", "confidence": 0.9},
    ],
    "subjects": [
        {
            "name": "diplomacy",
            "uri": "http://cv.iptc.org/newscodes/mediatopic/20000565",
            "confidence": 0.8,
            "relevance": 90,
            "qcode": "medtop:20000565",
        },
    ],
    "keywords": [{"name": "Central Asia", "confidence": 0.6}],
}

KIND_STATUS = [
    (VersionKind.original, "usable"),
    (VersionKind.original, "withheld"),
    (VersionKind.update, "usable"),
    (VersionKind.correction, "usable"),
    (VersionKind.retag, "usable"),
    (VersionKind.kill, "canceled"),
]


@cache
def schema(name: str):
    return xml_schema(name)


def item(kind: VersionKind, pubstatus: str, body_html: str | None = None, headline: str = "US returns to Asia"):
    """The version's ninjs, rendered by the real ninjs renderer (what the XML formats start from)."""
    content = StoryContent(
        headline=headline,
        body_text=None if body_html else "First paragraph.\n\nSecond paragraph,\nwrapped.",
        body_html=body_html,
        urgency=3,
        byline="Jane Doe",
        located="Bishkek",
        slugline="US-ASIA",
        language="en",
        embargoed_until=CREATED + timedelta(hours=1) if pubstatus == "withheld" else None,
    )
    version = 1 if kind == VersionKind.original else 3
    note = {VersionKind.correction: "Corrects the date", VersionKind.kill: "Legal: withdrawn"}.get(kind)
    envelope = ninjs.Envelope(
        story_id="story42",
        version=version,
        pubstatus=pubstatus,
        first_created=CREATED,
        version_created=CREATED + timedelta(minutes=version),
        tags=StoryTags.model_validate(TAGS),
        ed_note=note,
    )
    return ninjs.render(content, envelope)


def valid(document: bytes, name: str) -> etree._Element:
    root = etree.fromstring(document)
    checker = schema(name)
    assert checker.validate(root), [str(error) for error in checker.error_log]
    return root


@pytest.mark.parametrize(("kind", "pubstatus"), KIND_STATUS)
def test_every_kind_of_version_is_a_schema_valid_newsml_g2_news_item(kind, pubstatus):
    root = valid(newsml.render(item(kind, pubstatus), kind), "NewsML-G2_2.35-spec-All-Power.xsd")
    assert root.get("guid") == "urn:newswire:story:story42"
    assert root.get("version") == ("1" if kind == VersionKind.original else "3")
    assert root.get("conformance") == "power" and root.get("standardversion") == "2.35"
    assert root.find("g:itemMeta/g:pubStatus", G2).get("qcode") == f"stat:{pubstatus}"


@pytest.mark.parametrize(("kind", "pubstatus"), KIND_STATUS)
def test_every_kind_of_version_is_a_schema_valid_nitf_document(kind, pubstatus):
    root = valid(nitf.render(item(kind, pubstatus), kind), "nitf-3-6.xsd")
    docdata = root.find("n:head/n:docdata", N)
    assert docdata.get("management-status") == pubstatus
    assert root.find("n:head/n:docdata/n:du-key", N).get("key") == "story42"


def test_newsml_g2_carries_signals_notes_and_the_kill():
    correction = etree.fromstring(newsml.render(item(VersionKind.correction, "usable"), VersionKind.correction))
    assert correction.find("g:itemMeta/g:signal", G2).get("qcode") == "sig:correction"
    assert correction.findtext("g:itemMeta/g:edNote", namespaces=G2) == "Corrects the date"
    update = etree.fromstring(newsml.render(item(VersionKind.update, "usable"), VersionKind.update))
    assert update.find("g:itemMeta/g:signal", G2).get("qcode") == "sig:update"
    killed = etree.fromstring(newsml.render(item(VersionKind.kill, "canceled"), VersionKind.kill))
    assert killed.find("g:itemMeta/g:pubStatus", G2).get("qcode") == "stat:canceled"
    assert killed.findtext("g:itemMeta/g:edNote", namespaces=G2) == "Legal: withdrawn"
    original = etree.fromstring(newsml.render(item(VersionKind.original, "usable"), VersionKind.original))
    assert original.find("g:itemMeta/g:signal", G2) is None


def test_newsml_g2_subjects_places_dateline_and_body():
    root = etree.fromstring(newsml.render(item(VersionKind.original, "usable"), VersionKind.original))
    meta = root.find("g:contentMeta", G2)
    qcodes = [s.get("qcode") for s in meta.findall("g:subject[@type='cpnat:abstract']", G2)]
    assert qcodes == ["medtop:20000565"]
    places = {s.findtext("g:name", namespaces=G2): s for s in meta.findall("g:subject[@type='cpnat:geoArea']", G2)}
    assert places["Kazakhstan"].get("uri") == "https://sws.geonames.org/1522867/"
    assert places["Kazakhstan"].find("g:sameAs", G2).get("qcode") == "iso3166-1a2:KZ"
    assert places["Uzbekistan"].get("qcode") == "iso3166-1a2:UZ"
    assert [s.findtext("g:name", namespaces=G2) for s in meta.findall("g:subject[@type='cpnat:person']", G2)] == [
        "Antony Blinken"
    ]
    assert meta.findtext("g:located/g:name", namespaces=G2) == "Bishkek"
    assert meta.findtext("g:dateline", namespaces=G2) == "Bishkek"
    assert meta.findtext("g:keyword", namespaces=G2) == "Central Asia"
    paragraphs = [p.text for p in root.findall("g:contentSet/g:inlineXML/x:html/x:body/x:p", G2)]
    assert paragraphs == ["First paragraph.", "Second paragraph, wrapped."]


def test_nitf_carries_corrections_kills_places_and_topics():
    corrected = etree.fromstring(nitf.render(item(VersionKind.correction, "usable"), VersionKind.correction))
    assert corrected.find("n:head/n:docdata/n:correction", N).get("info") == "Corrects the date"
    assert corrected.find("n:head/n:docdata/n:ed-msg", N).get("msg-type") == "correction"
    assert corrected.find("n:head/n:docdata", N).get("management-doc-idref") == "story42-v2"
    killed = etree.fromstring(nitf.render(item(VersionKind.kill, "canceled"), VersionKind.kill))
    docdata = killed.find("n:head/n:docdata", N)
    assert (docdata.get("management-status"), docdata.get("management-idref-status")) == ("canceled", "canceled")
    assert docdata.find("n:ed-msg", N).attrib == {"msg-type": "kill", "info": "Legal: withdrawn"}
    content = docdata.find("n:identified-content", N)
    assert {c.get("iso-cc") for c in content.findall("n:location/n:country", N)} == {"KZ", "UZ"}
    assert [c.get("value") for c in content.findall("n:classifier", N)] == ["medtop:20000565"]
    assert killed.findtext("n:body/n:body.head/n:dateline/n:location", namespaces=N) == "Bishkek"


def test_html_bodies_become_paragraphs_and_markup_in_text_stays_text():
    html = "<p>One <b>bold</b> line.</p><ul><li>Item</li></ul><p>Control\x01 char.</p>"
    headline = "<script>alert(1)</script> & more"
    for render, name in ((newsml.render, "NewsML-G2_2.35-spec-All-Power.xsd"), (nitf.render, "nitf-3-6.xsd")):
        document = render(item(VersionKind.original, "usable", body_html=html, headline=headline), VersionKind.original)
        root = valid(document, name)
        texts = [p.text for p in root.iter("{*}p")]
        assert texts == ["One bold line.", "Item", "Control char."]
        assert b"<script>" not in document and headline in "".join(root.itertext())


def test_the_schemas_refuse_what_breaks_them():
    """The checks above could not pass a wrong document: elements out of order are refused."""
    root = etree.fromstring(newsml.render(item(VersionKind.original, "usable"), VersionKind.original))
    meta = root.find("g:itemMeta", G2)
    meta.append(meta.find("g:itemClass", G2))  # itemClass must come first
    assert not schema("NewsML-G2_2.35-spec-All-Power.xsd").validate(root)
    document = etree.fromstring(nitf.render(item(VersionKind.original, "usable"), VersionKind.original))
    etree.SubElement(document.find("n:head", N), f"{{{nitf.NITF}}}body")  # no body inside head
    assert not schema("nitf-3-6.xsd").validate(document)


def test_each_format_names_its_content_type():
    version = item(VersionKind.original, "usable")
    assert formats.body("ninjs", version, VersionKind.original, "2026-11-28T10:01:00Z").content_type == (
        "application/json"
    )
    assert formats.body("newsml-g2", version, VersionKind.original, "x").content_type == (
        "application/vnd.iptc.g2.newsitem+xml"
    )
    assert formats.body("nitf", version, VersionKind.original, "x").content_type == "application/nitf+xml"
