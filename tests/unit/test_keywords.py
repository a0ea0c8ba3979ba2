"""The keyword tagger: the noun phrases and names an editor would search for, scored, best first."""

import re

import pytest

from services.enrichment.taggers.keywords import keywords

HEADLINE = "ECB raises interest rates as inflation fears mount"
BODY = """FRANKFURT, April 14 - The European Central Bank raised interest rates on Monday for the first time \
since 2011, citing mounting inflation fears across the euro zone. ECB President Mario Draghi said the 0.25 \
percentage point increase was needed to anchor inflation expectations, which rose sharply in March.

Draghi told reporters in Frankfurt that energy prices had pushed consumer inflation to 2.6 percent, well above \
the bank's target of 2 percent. "We acted decisively," Draghi said on Monday, adding that interest rates could \
rise again by June.

Economists quickly warned that higher interest rates would hurt the fragile recovery in southern Europe, where \
youth unemployment remains above 20 percent. Bond yields in Italy and Spain jumped after the announcement, while \
the euro climbed to $1.45.

German finance minister Wolfgang Schaeuble welcomed the decision on Tuesday. Energy prices and inflation \
expectations will dominate the next meeting of the Governing Council on June 9."""

DATES = set(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
STOP_WORDS = set("the a an of in on for to and as by at from with which where while that we it was".split())
#: Verbs, adverbs and adjectives of the story above: none is a keyword, alone or in a phrase.
NOT_NOUNS = set(
    """raises raised mount mounting citing said told pushed acted adding rise rose warned hurt remains jumped
    climbed welcomed needed anchor dominate sharply decisively quickly well again above higher fragile first
    next southern""".split()
)


def story(headline: str = HEADLINE) -> str:
    return f"{headline}\n\n{BODY}"


@pytest.fixture(scope="module")
def found() -> list[dict]:
    return keywords(story())


def lower_names(found: list[dict]) -> list[str]:
    return [k["name"].lower() for k in found]


def test_each_keyword_has_a_name_a_confidence_and_its_mentions(found):
    assert found
    for k in found:
        assert set(k) == {"name", "confidence", "mentions"}
        assert isinstance(k["name"], str) and k["name"].strip() == k["name"] != ""
        assert isinstance(k["mentions"], int) and k["mentions"] >= 1


def test_no_dates_numbers_stop_words_or_verbs(found):
    for name in lower_names(found):
        words = re.findall(r"[\w.'’-]+", name)
        assert not re.search(r"\d", name), name
        assert not set(words) & DATES, name
        assert not set(words) & NOT_NOUNS, name
        assert words[0] not in STOP_WORDS and words[-1] not in STOP_WORDS, name
        assert "percent" not in words, name
    assert "european" not in lower_names(found) and "german" not in lower_names(found)  # no adjective alone


def test_noun_phrases_and_names_are_found(found):
    names = lower_names(found)
    assert {"interest rates", "inflation expectations", "energy prices", "mario draghi"} <= set(names)
    assert names[0] == "interest rates"  # in the headline and three times in the body


def test_a_surname_alone_counts_as_the_full_name(found):
    draghi = [k for k in found if "draghi" in k["name"].lower()]
    assert [k["name"] for k in draghi] == ["Mario Draghi"]
    assert draghi[0]["mentions"] == 3


def test_a_word_of_a_chosen_phrase_is_not_repeated(found):
    names = lower_names(found)
    assert len(names) == len(set(names))
    for word in ("interest", "rates", "rate", "prices", "energy", "expectations", "draghi"):
        assert word not in names


def test_a_word_frequent_on_its_own_is_kept_beside_its_phrase():
    text = (
        "Oil prices fall as OPEC talks stall\n\n"
        "Oil prices fell on Tuesday after talks between OPEC ministers in Vienna ended without a deal. "
        "Traders said oil was still plentiful. Saudi Arabia pumps more oil than any other member, and "
        "oil stocks in the United States rose again last week."
    )
    found = {k["name"]: k for k in keywords(text)}
    assert found["oil prices"]["mentions"] == 2
    assert found["oil"]["mentions"] == 2  # "oil" alone, not counting "oil prices" and "oil stocks"


def test_duplicates_are_merged_whatever_their_case():
    text = (
        "Foreign Ministers meet in Vienna\n\n"
        "The foreign ministers of Austria and Hungary met in Vienna on Friday. "
        "The Foreign Ministers discussed border controls and migration."
    )
    found = keywords(text)
    ministers = [k for k in found if k["name"].lower() == "foreign ministers"]
    assert len(ministers) == 1 and ministers[0]["mentions"] == 3
    assert ministers[0]["name"] == "foreign ministers"  # the body's own spelling
    assert found[0] is ministers[0]


def test_at_most_limit_keywords_best_first(found):
    assert 1 < len(found) <= 10
    assert keywords(story(), limit=3) == found[:3]
    assert keywords(story(), limit=0) == []
    long_story = story() + "\n\n" + "\n\n".join(f"The {w} committee met the {w} board." for w in "abcdefghijkl")
    assert len(keywords(long_story)) <= 10


def test_confidences_are_in_range_descending_and_differ(found):
    confidences = [k["confidence"] for k in found]
    assert all(0 < c <= 1 for c in confidences)
    assert confidences == sorted(confidences, reverse=True)
    assert len(set(confidences)) > 1


def test_the_headline_weighs_more():
    def rank_and_confidence(headline: str) -> tuple[int, float]:
        names = [k["name"].lower() for k in keywords(story(headline))]
        k = keywords(story(headline))[names.index("youth unemployment")]
        return names.index("youth unemployment"), k["confidence"]

    rank_in_body, confidence_in_body = rank_and_confidence(HEADLINE)
    rank_in_headline, confidence_in_headline = rank_and_confidence("Youth unemployment stays high as ECB acts")
    assert rank_in_headline < rank_in_body
    assert confidence_in_headline > confidence_in_body


def test_a_headline_in_capitals_adds_no_verbs():
    names = lower_names(keywords(story("ECB RAISES INTEREST RATES AS INFLATION FEARS MOUNT")))
    assert names[0] == "interest rates"
    assert not {w for name in names for w in name.split()} & {"raises", "mount"}


def test_empty_text_has_no_keywords():
    assert keywords("") == []
    assert keywords("  \n\n ") == []
    assert keywords("Monday, 3 November 2015") == []


def test_seed_story(seed_story):
    found = keywords(f"{seed_story['headline']}\n\n{seed_story['body_text']}")
    names = [k["name"] for k in found]
    assert {"John Kerry", "Central Asia", "United States"} <= set(names[:5])
    assert "charm offensive" in names
    for name in names:
        assert not re.search(r"\d", name) and not set(name.lower().split()) & DATES
