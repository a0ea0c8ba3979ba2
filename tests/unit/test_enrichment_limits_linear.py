"""The taggers' rules take time linear in the text, whatever it holds: a story (or a hostile
request) with a long run of spaces, line breaks or one endless word, or a long results table with
thousands of names, must not hold a worker for minutes. Python's ``re`` cannot count its steps,
so each case runs in a child process with a hard timeout: at these sizes (200,000 characters and
more) a quadratic scan takes many minutes (the phrase pattern took 3.5 s at 16,000 characters,
so about 150 times that at 200,000), a linear one a fraction of a second. The timeout is
generous, so the test cannot flake on a slow machine, yet it fails on a quadratic rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
N = 200_000
#: hard limit for one case, loading the model included (a linear case takes a few seconds)
TIMEOUT = 60

SETUP = f"""
import re
from services.enrichment.taggers import entities, tag_text, warm_up
from services.enrichment.taggers.entities import Entity
N = {N}
def trim(name):
    return entities._trim(name, Entity("ORG", name, 0, len(name), 0.7, "rule"))
def side(i):  # a name of letters only, one per number: "Sbcd"
    return "S" + "".join("abcdefghij"[int(d)] for d in str(i))
"""

CASES = {
    # the organisation-phrase pattern: a capital, a long run of spaces, a lower-case letter
    "phrase pattern, spaces": "list(entities._PHRASE.finditer('A' + ' ' * N + 'a'))",
    "phrase pattern, line breaks": "list(entities._PHRASE.finditer('A' + '\\n' * N + 'a'))",
    "phrase pattern, spaces and tabs": "list(entities._PHRASE.finditer('A' + ' \\t' * (N // 2) + 'a'))",
    # a name's trailing words (numbers, lower-case words) are trimmed in one pass
    "trailing words of a name": "trim('Ab' + ' a' * (N // 2) + ' Cd.')",
    "spaces inside a name": "trim('Ab' + ' ' * N + 'Cd')",
    # one endless hyphenated word, then an acronym defined in brackets
    "acronyms after a long word": "entities._acronyms('A-' * N + ' x (ABC)', [])",
    # a results line that ends in a long run of spaces
    "results row": "entities._RESULT_ROW.fullmatch('Ab Cd Ef Gh 1 Ij Kl Mn Op 2' + ' ' * 2 * N + 'x')",
    # the sports heading test reads the first line
    "sports heading": "entities.is_sports('SOCCER' + ' ' * 2 * N + 'x')",
    # thousands of entities: a long results table, a person named again and again
    "results table with many sides": (
        "rows = ''.join(f'{side(i)} {i % 5} {side(i + 1)} {i % 3}\\n' for i in range(N // 6)); "
        "entities._table_sides(rows, [Entity('PER', m.group(), m.start(), m.end(), 0.8, 'model') "
        "for m in re.finditer(r'[A-Z]\\w+', rows)])"
    ),
    "surnames with many entities": (
        "text = 'John Kerry said. ' + 'Kerry met Lavrov. ' * (N // 4); "
        "entities._propagate_surnames(text, [Entity('PER', 'John Kerry', 0, 10, 0.8, 'model')] + "
        "[Entity('PER', 'Lavrov', m.start(), m.end(), 0.8, 'model') for m in re.finditer('Lavrov', text)])"
    ),
    # the whole tagger, as the worker runs it, on hostile stories
    "story of spaces": "warm_up(); tag_text('A' + ' ' * N + 'a')",
    "story of line breaks": "warm_up(); tag_text('Talks\\n\\nA' + '\\n' * N + 'a')",
    "sports story with a long row": "warm_up(); tag_text('SOCCER - RESULTS\\nJohn Smith 1 Cd 2' + ' ' * N + 'x')",
}


@pytest.mark.parametrize("code", CASES.values(), ids=CASES.keys())
def test_rules_are_linear_in_the_text(code):
    script = textwrap.dedent(SETUP) + code + "\nprint('done')\n"
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {TIMEOUT} s on {N:,} characters: quadratic (or worse) in the text")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("done")
