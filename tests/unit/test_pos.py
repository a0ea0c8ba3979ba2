"""``PosFromTags`` gives every token the part-of-speech tags the model's attribute ruler gives."""

import pytest
import spacy

from services.enrichment.taggers import ner
from services.enrichment.taggers.pos import PosFromTags, relevant, replace_ruler, supported

TRICKY = [
    "There's a dog that's barking; that is what that dog wants, isn't it? We ain't gonna stop.",
    "US SENATE PASSES BUDGET  -- Washington , Dec 3 (Reuters)\n\n   The  U.S.  Senate passed it.\n\n\n",
    "Let's say she'd've gone. Whose book? Which one's hers? All of them were theirs.",
    "I'm sure you're right, y'all. 'Tis the season -- 3.5 pct up, Q3 revs $4.2 mln.",
    'THE MINISTER SAID:  "WE WILL NOT."\t\tNo.  That, those, these and this one too.',
]


@pytest.fixture(scope="module")
def ruled():
    return spacy.load(ner.MODEL, exclude=["parser", "lemmatizer", "senter"])


def tags(docs) -> list[list[tuple[str, str, str]]]:
    return [[(t.text, t.tag_, t.pos_) for t in doc] for doc in docs]


def test_the_worker_model_tags_as_the_ruler_does(ruled, seed_story):
    texts = [seed_story["headline"], seed_story["body_text"], *TRICKY]
    texts += [ner.recase(text) for text in texts]
    assert "attribute_ruler" not in ner.model().pipe_names
    assert "pos_from_tags" in ner.model().pipe_names
    by_lookup = tags(ner.model().pipe(texts))
    by_ruler = tags(ruled.pipe(texts))
    assert by_lookup == by_ruler
    assert {pos for doc in by_lookup for _, _, pos in doc} >= {"NOUN", "PROPN", "VERB", "ADJ", "PRON", "SPACE"}


def test_patterns_beyond_one_tokens_tag_word_and_space_keep_the_ruler(ruled):
    two_tokens = {"patterns": [[{"TAG": "DT"}, {"LOWER": "one"}]], "attrs": {"POS": "PRON"}, "index": 0}
    regex = {"patterns": [[{"LOWER": {"REGEX": "^n't$"}}]], "attrs": {"POS": "PART"}, "index": 0}
    shape = {"patterns": [[{"SHAPE": "dd"}]], "attrs": {"POS": "NUM"}, "index": 0}
    for pattern in (two_tokens, regex, shape):
        assert not supported([pattern])
        with pytest.raises(ValueError):
            PosFromTags([pattern])
    nlp = spacy.load(ner.MODEL, exclude=["parser", "lemmatizer", "senter"])
    nlp.get_pipe("attribute_ruler").add_patterns([two_tokens])
    assert not replace_ruler(nlp)
    assert "attribute_ruler" in nlp.pipe_names


def test_patterns_on_a_dependency_label_are_left_out_only_when_they_cannot_match():
    never = [
        {"patterns": [[{"DEP": "nsubj", "TAG": "DT"}]], "attrs": {"POS": "PRON"}},
        {"patterns": [[{"DEP": {"NOT_IN": ["det", ""]}, "TAG": "DT"}]], "attrs": {"POS": "PRON"}},
        {"patterns": [[{"DEP": {"IN": ["det"]}}, {"LOWER": "one"}]], "attrs": {"POS": "PRON"}},
    ]
    assert relevant(never) == []
    could = {"patterns": [[{"DEP": {"NOT_IN": ["det"]}, "TAG": "DT"}]], "attrs": {"POS": "PRON"}}
    assert relevant([could]) == [could]
    assert not supported([could])


def test_lemma_and_morphology_patterns_are_not_followed_and_a_later_pattern_wins():
    patterns = [
        {"patterns": [[{"TAG": {"IN": ["NN", "NNS"]}}]], "attrs": {"POS": "NOUN", "MORPH": "Number=Sing"}},
        {"patterns": [[{"LOWER": "data"}]], "attrs": {"LEMMA": "datum"}},
        {"patterns": [[{"TAG": "NNS", "LOWER": "news"}]], "attrs": {"POS": "PROPN"}},
    ]
    lookup = PosFromTags(patterns)
    assert len(lookup.rules) == 2
    assert lookup.outcome(("NNS", "news", False)) == ("PROPN", None)
    assert lookup.outcome(("NNS", "dogs", False)) == ("NOUN", None)
    assert lookup.outcome(("VB", "news", False)) == (None, None)
