"""The desk's side-by-side view: what was removed from the older version and added in the newer."""

from services.ingest.web.diff import plain_text, word_diff


def _marked(pieces, change):
    return "".join(p.text for p in pieces if p.change == change)


def test_changed_words_are_marked_on_their_side_and_the_rest_is_kept():
    old, new = word_diff("Parliament passes the budget by 50 votes", "Parliament passes the budget by 51 votes")
    assert "".join(p.text for p in old) == "Parliament passes the budget by 50 votes"
    assert "".join(p.text for p in new) == "Parliament passes the budget by 51 votes"
    assert _marked(old, "removed") == "50" and _marked(new, "added") == "51"
    assert _marked(old, "added") == "" and _marked(new, "removed") == ""


def test_identical_texts_have_no_changes_and_empty_ones_work():
    old, new = word_diff("Same text.", "Same text.")
    assert {p.change for p in old + new} == {"same"}
    assert word_diff("", "") == ([], [])
    old, new = word_diff("", "All new")
    assert old == [] and _marked(new, "added") == "All new"


def test_html_bodies_compare_as_text_with_paragraphs_on_lines():
    text = plain_text(None, "<p>First &amp; foremost.</p><p>Second <b>bold</b>.</p>")
    assert text == "First & foremost.\nSecond bold."
    assert plain_text("Plain wins.", "<p>ignored</p>") == "Plain wins."
    assert plain_text(None, None) == ""
