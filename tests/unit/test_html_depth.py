"""The nesting depth of an HTML body, read in one pass: never shallower than the tree the
sanitiser's parser builds, and about as deep for ordinary markup."""

import pytest

from shared.html_depth import nesting_depth

LIMIT = 10_000


@pytest.mark.parametrize(
    "html, depth",
    [
        ("plain text", 0),
        ("<p>One</p><p>Two <b>bold</b> <a href='x'>link</a></p>", 2),
        ("<div>" * 50 + "x" + "</div>" * 50, 50),
        ("<p>One<p>Two<p>Three", 1),  # a <p> ends the open <p>
        ("<ul><li>One<li>Two</ul>", 2),
        ("<table><tr><td>a<td>b<tr><td>c</table>", 3),
        ("<p>a<br>b<img src=x.png><hr></p>", 1),  # void elements hold nothing
    ],
)
def test_ordinary_markup(html, depth):
    assert nesting_depth(html, LIMIT) == depth


@pytest.mark.parametrize(
    "html",
    ["<div><p>a</div>", "<ul><li>a<li>b</ul>", "<p><span>a</p>", "<table><tr><td>a</table>"],
)
def test_end_tags_left_out_count_deeper_never_shallower(html):
    """The parser closes these elements on its way to the outer end tag; counted here as still
    open (an end tag closes only the innermost element), never as fewer."""
    assert 2 * 10 <= nesting_depth(html * 10, LIMIT) <= 3 * 10


@pytest.mark.parametrize(
    "html, depth",
    [
        ('<div title="a > </div>">' * 20, 20),  # an end tag inside an attribute value ends nothing
        ("<div><!-- </div> -->" * 20, 20),  # nor one inside a comment
        ("<div><!--></div>" * 20, 1),  # "<!-->" is a whole (empty) comment
        ("<div><script></div></script>" * 20, 21),  # nor one inside a script
        ("<div><textarea></div></textarea>" * 20, 21),
        ("<div><script><!--<script></script></div></script>" * 20, 21),  # the escaped script's own rules
        ("<b><div></b>" * 20, 40),  # misnested: the parser keeps the <div> open
        ("<div/>" * 20, 20),  # "/>" does not end an HTML element
        ("<svg><g><![CDATA[></g>]]>" * 20, 40),  # foreign content: every start tag counts
        ("<span>" * 20, 20),
    ],
)
def test_markup_that_hides_its_depth(html, depth):
    assert nesting_depth(html, LIMIT) == depth


def test_the_pass_stops_once_past_the_limit():
    assert nesting_depth("<div>" * 40_000, 100) == 101
    assert nesting_depth("<div>" * 100, 100) == 100
