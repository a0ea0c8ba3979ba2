"""How deeply an HTML body nests its elements, found in one linear pass before the sanitiser
reads it.

The sanitiser (nh3, which parses with html5ever) takes time in proportion to the number of tags
times the depth of the tree it builds: 40,000 nested ``<div>`` keep it busy for seconds. This
pass reads the markup as an HTML tokenizer does (comments, quoted attribute values, the text of
``<script>``, ``<style>``, ``<textarea>`` and the like) and keeps a stack of the elements still
open. It never counts fewer than the parser keeps open: an end tag closes an element here only
when it is the innermost one (the parser closes that too), and a start tag closes only what the
parser certainly closes for it (a ``<p>`` the innermost ``<p>``, a ``<li>`` the innermost
``<li>``). Markup that leaves end tags out (``<div><p>text</div>``) therefore counts a little
deeper than the parser builds it. Foreign content (``<svg>``, ``<math>``) and ``<select>`` change
how the parser reads what follows: from there on every start tag counts. The pass stops as soon
as the depth passes the limit; its work is linear in the length of the body.
"""

from __future__ import annotations

import re

#: Elements that have no content and no end tag.
VOID = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
#: Void elements that are HTML even inside ``<svg>`` or ``<math>`` (they end foreign content).
ALWAYS_VOID = frozenset("br embed hr img meta".split())
#: Elements whose content is text up to their end tag (``<script>`` has rules of its own).
RAW_TEXT = frozenset("iframe noembed noframes noscript style textarea title xmp".split())
#: Elements after which markup is read by other rules (foreign content, a select's options).
COUNT_ONLY_AFTER = frozenset("math select svg".split())
HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
#: A start tag closes the innermost open element first when it has one of these names (in order).
CLOSES: dict[str, tuple[frozenset[str], ...]] = {
    "p": (frozenset({"p"}),),
    "li": (frozenset({"li"}),),
    "dt": (frozenset({"dt", "dd"}),),
    "dd": (frozenset({"dt", "dd"}),),
    "option": (frozenset({"option"}),),
    "a": (frozenset({"a"}),),
    "button": (frozenset({"button"}),),
    "td": (frozenset({"td", "th"}),),
    "th": (frozenset({"td", "th"}),),
    "tr": (frozenset({"td", "th"}), frozenset({"tr"})),
    **{heading: (HEADINGS,) for heading in HEADINGS},
}
#: The next piece of markup: a start or end tag, a comment, or another ``<!``, ``<?`` or ``</``.
_MARKUP = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*)|(!--)|[!?/])")
#: A start tag anywhere (foreign content: counted, whatever it is in).
_START_TAG = re.compile(r"<([A-Za-z][^\t\n\f\r />]*)")
#: The rest of a tag after its name, up to and including its ``>``: attribute names, values
#: (quoted ones may hold ``>``) and stray solidi, as the HTML tokenizer reads them.
_TAG_REST = re.compile(
    r"""
    (?>
        [\t\n\f\r ]+
      | /(?!>)
      | (?:=[^\t\n\f\r />=]*+|[^\t\n\f\r />=]++)
        (?>[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >"'][^\t\n\f\r >]*+|(?=>)))?
    )*+
    /?>
    """,
    re.VERBOSE,
)
_COMMENT_END = re.compile(r"--!?>")
#: What moves the tokenizer on inside ``<script>``: comment-like escapes and script tags.
_SCRIPT_MARK = re.compile(r"<!--|-->|</?script(?=[\t\n\f\r />])", re.IGNORECASE)
_RAW_TEXT_END = {name: re.compile(rf"</{name}(?=[\t\n\f\r />])", re.IGNORECASE) for name in RAW_TEXT}


def nesting_depth(html: str, limit: int) -> int:
    """The deepest nesting of elements in ``html``, counted at least as deep as an HTML parser
    builds it; once it passes ``limit`` the pass stops and answers a number above ``limit``."""
    return _Pass(html, limit).run()


class _Pass:
    def __init__(self, html: str, limit: int) -> None:
        self.html = html
        self.limit = limit
        #: Open elements, innermost last.
        self.open: list[str] = []
        self.deepest = 0
        self.count_only = False

    def run(self) -> int:
        position: int | None = 0
        while position is not None and not self.count_only and self.deepest <= self.limit:
            position = self._step(position)
        if self.count_only and position is not None:
            self._count_starts(position)
        return self.deepest

    def _step(self, position: int) -> int | None:
        """Read the next piece of markup from ``position``; where reading goes on (None: the rest
        of the body is text, a comment or an unfinished tag, which hold no elements)."""
        found = _MARKUP.search(self.html, position)
        if found is None:
            return None
        if found.group(2) is None:
            return self._skip_comment(found)
        rest = _TAG_REST.match(self.html, found.end())
        if rest is None:
            return None
        name = found.group(2).lower()
        if not found.group(1):
            return self._start(name, rest.end())
        if self.open and self.open[-1] == name:
            self.open.pop()
        return rest.end()

    def _skip_comment(self, found: re.Match[str]) -> int | None:
        """Past a comment, or past a ``<!…>``, ``<?…>`` or ``</…>`` read as one (a doctype, a
        processing instruction, an end tag without a name)."""
        start = found.start()
        if found.group(3) is None:
            end = self.html.find(">", found.end())
            return None if end < 0 else end + 1
        for abrupt in ("<!-->", "<!--->"):
            if self.html.startswith(abrupt, start):
                return start + len(abrupt)
        end = _COMMENT_END.search(self.html, start + 4)
        return None if end is None else end.end()

    def _start(self, name: str, after: int) -> int | None:
        if name in COUNT_ONLY_AFTER:
            self.count_only = True
        if name not in VOID:
            self._push(name, exact=True)
        if name == "plaintext":
            return None
        if name == "script":
            return self._script_end(after)
        if name in RAW_TEXT:
            end = _RAW_TEXT_END[name].search(self.html, after)
            return None if end is None else end.start()
        return after

    def _script_end(self, position: int) -> int | None:
        """Where a script's text ends: at ``</script``, unless ``<!--`` then ``<script`` hid it
        (the tokenizer's escaped and double-escaped states)."""
        escaped = double = False
        while True:
            mark = _SCRIPT_MARK.search(self.html, position)
            if mark is None:
                return None
            text = mark.group().lower()
            position = mark.end()
            if text == "<!--":
                escaped = True
                position = mark.start() + 2  # "<!-->" closes at once: its dashes count for "-->"
            elif text == "-->":
                escaped = double = False
            elif text == "<script":
                double = double or escaped
            elif double:
                double = False  # "</script" inside the double-escaped part: back to escaped
            else:
                return mark.start()

    def _push(self, name: str, *, exact: bool) -> None:
        rules = CLOSES.get(name, ())
        for names in rules if exact else rules[:1]:
            if self.open and self.open[-1] in names:
                self.open.pop()
        self.open.append(name)
        self.deepest = max(self.deepest, len(self.open))

    def _count_starts(self, position: int) -> None:
        for found in _START_TAG.finditer(self.html, position):
            name = found.group(1).lower()
            if name not in ALWAYS_VOID:
                self._push(name, exact=False)
                if self.deepest > self.limit:
                    return
