"""Text preprocessing: the course's review_to_words, bag of words, vocabularies, caps."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import EmptyInput, InputTooLarge, InvalidVocabulary
from chalicelib.inference_spec import TextSpec
from chalicelib.processing.text import (
    STOP_WORDS,
    bag_of_words,
    parse_vocabulary,
    split_texts,
    words,
)

COURSE = TextSpec(vocabulary="s3://b/v.json", stop_words=True, stemmer="porter")
REVIEW = (
    "This movie was <b>GREAT</b>!<br /><br />The actors were amazing &amp; the "
    "stories&#8230; touching. I didn't like the ending, though."
)


def vocabulary(*entries: str) -> bytes:
    return orjson.dumps({word: index for index, word in enumerate(entries)})


def test_a_review_is_cleaned_as_the_course_cleans_it() -> None:
    # BeautifulSoup's get_text joins the text around tags with nothing ("GREAT!The").
    assert words(REVIEW, COURSE) == [
        "movi",
        "great",
        "actor",
        "amaz",
        "stori",
        "touch",
        "like",
        "end",
        "though",
    ]


def test_each_step_can_be_turned_off() -> None:
    plain = TextSpec(vocabulary="s3://b/v.json", strip_html=False, lowercase=False)
    assert words("The <b>Cat</b> sat", plain) == ["The", "b", "Cat", "b", "sat"]
    assert words("The <b>Cat</b> sat", TextSpec(vocabulary="s3://b/v.json")) == [
        "the",
        "cat",
        "sat",
    ]


def test_a_lone_angle_bracket_is_text_not_a_tag() -> None:
    assert words("3 < 4 and 5 > 2", TextSpec(vocabulary="s3://b/v.json")) == [
        "3",
        "4",
        "and",
        "5",
        "2",
    ]


def test_stop_words_hold_no_contractions_since_apostrophes_split_words_first() -> None:
    assert all(re.fullmatch("[a-z]+", word) for word in STOP_WORDS)
    assert {"the", "not", "don", "t", "wouldn"} <= STOP_WORDS


def test_words_are_counted_over_the_vocabulary() -> None:
    vocab = parse_vocabulary(vocabulary("great", "movi", "bad", "actor"), "s3://b/v.json", "e")
    counts = bag_of_words(
        ["Great movie, great actors", "<p>bad</p> unknown words"],
        COURSE,
        vocab,
        width=6,
        max_words=100,
        max_elements=100,
    )
    assert counts.dtype == np.float32
    assert counts.tolist() == [[2, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0]]


def test_a_vocabulary_wider_than_the_model_is_refused() -> None:
    vocab = parse_vocabulary(b'{"a": 9}', "s3://b/v.json", "e")
    assert vocab.size == 10
    with pytest.raises(InvalidVocabulary, match="indices up to 9"):
        bag_of_words(["a"], COURSE, vocab, width=5, max_words=10, max_elements=100)


def test_the_cost_of_texts_is_capped() -> None:
    vocab = parse_vocabulary(b'{"z": 0}', "s3://b/v.json", "e")
    with pytest.raises(InputTooLarge, match="words"):
        bag_of_words(["z " * 60, "z " * 60], COURSE, vocab, 1, max_words=100, max_elements=100)
    with pytest.raises(InputTooLarge, match="features"):
        bag_of_words(["z"] * 11, COURSE, vocab, 10, max_words=100, max_elements=100)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "object of word"),
        (b"{}", "object of word"),
        (b'{"a": -1}', "indices must be integers"),
        (b'{"a": 1.5}', "indices must be integers"),
        (b'{"a": true}', "indices must be integers"),
        (b'{"a": 100000}', "indices must be integers"),
    ],
)
def test_a_vocabulary_that_is_not_word_to_index_json_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidVocabulary, match=message):
        parse_vocabulary(body, "s3://b/v.json", "e")


def test_too_many_words_in_a_vocabulary_are_refused() -> None:
    body = orjson.dumps({f"w{i}": i % 1000 for i in range(100_001)})
    with pytest.raises(InvalidVocabulary, match="more than 100000 words"):
        parse_vocabulary(body, "s3://b/v.json", "e")


def test_texts_split_by_line_when_the_project_says_so() -> None:
    lines = TextSpec(vocabulary="s3://b/v.json", split="line")
    assert split_texts(["one\n\n two \r\nthree"], lines, 10) == ["one", " two ", "three"]
    assert split_texts(["one\ntwo"], COURSE, 10) == ["one\ntwo"]
    with pytest.raises(EmptyInput):
        split_texts(["\n \n"], lines, 10)
    with pytest.raises(InputTooLarge):
        split_texts(["a\nb\nc"], lines, 2)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_becomes_alphanumeric_words(text: str) -> None:
    for spec in (COURSE, TextSpec(vocabulary="s3://b/v.json", lowercase=False)):
        for word in words(text, spec):
            assert re.fullmatch("[a-zA-Z0-9]+", word)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["good", "bad", "film", "the", "<br />", "x", "9"]), max_size=40))
def test_counts_add_up_to_the_words_in_the_vocabulary(tokens: list[str]) -> None:
    spec = TextSpec(vocabulary="s3://b/v.json")
    vocab = parse_vocabulary(vocabulary("good", "bad", "film", "9"), "s3://b/v.json", "e")
    text = " ".join(tokens)
    counts = bag_of_words([text], spec, vocab, 4, max_words=1000, max_elements=1000)
    expected = sum(word in vocab.indices for word in words(text, spec))
    assert counts.sum() == expected


def test_the_stemmers_are_porters_algorithm_and_nltks_default_mode() -> None:
    review = "One day we were always dying to play"
    porter = TextSpec(vocabulary="s3://b/v.json", stemmer="porter")
    nltk = TextSpec(vocabulary="s3://b/v.json", stemmer="nltk_porter")
    assert words(review, porter) == ["on", "dai", "we", "were", "alwai", "dy", "to", "plai"]
    assert words(review, nltk) == ["one", "day", "we", "were", "alway", "die", "to", "play"]
