"""Texts to model input: HTML stripped, cleaned words, stop words, Porter stems, word counts."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from chalicelib.errors import EmptyInput, InputTooLarge, InvalidVocabulary
from chalicelib.inference_spec import TextSpec
from chalicelib.models import FloatArray

# What BeautifulSoup's html.parser takes for markup: a comment, or "<" then a letter, "/", "!"
# or "?" up to the next ">"; a lone "<" (as in "a < b") stays text.
_TAG = re.compile(r"<!--.*?-->|<[a-zA-Z/!?][^>]*>", re.DOTALL)
# The words left once every other character is a space (the course's re.sub + split, in one
# pass: 22 against 38 us for a 230-word review, bench text_preprocess).
_ALPHANUMERIC = re.compile(r"[a-zA-Z0-9]+")
# NLTK's English stop-word list (nltk_data corpora/stopwords/english) without the contractions:
# texts are split at every non-alphanumeric character first, so "don't" never reaches the list.
# (As a string: a list literal would be formatted one word per line.)
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against
    between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more
    most other some such no nor not only own same so than too very s t can will just don
    should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn
    needn shan shouldn wasn weren won wouldn""".split()  # noqa: SIM905
)
MAX_VOCABULARY = 100_000


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """A word -> feature index map read from S3; `size` is the length of its vectors."""

    uri: str
    etag: str
    indices: dict[str, int]
    size: int


def parse_vocabulary(body: bytes, uri: str, etag: str) -> Vocabulary:
    """A JSON object of word -> index (0 <= index < 100,000), as the course's word_dict.json."""
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidVocabulary(f"the vocabulary {uri} is not JSON: {error.msg}") from None
    if not isinstance(document, dict) or not document:
        raise InvalidVocabulary(f"the vocabulary {uri} must be a non-empty object of word -> index")
    if len(document) > MAX_VOCABULARY:
        raise InvalidVocabulary(f"the vocabulary {uri} has more than {MAX_VOCABULARY} words")
    for word, index in document.items():
        if type(index) is not int or not 0 <= index < MAX_VOCABULARY:
            raise InvalidVocabulary(
                f"the vocabulary {uri} maps {word[:40]!r} to {str(index)[:40]}; indices must "
                f"be integers from 0 to {MAX_VOCABULARY - 1}"
            )
    return Vocabulary(uri, etag, document, max(document.values()) + 1)


@functools.cache
def _porter() -> Any:
    # PyStemmer (libstemmer's C Porter stemmer) over a hand-written one; it keeps its own cache
    # of recent words (100,000 here: its default 10,000 is fewer than a review corpus holds), so
    # a word is stemmed once. Imported on first use: only text projects that stem need it.
    import Stemmer

    return Stemmer.Stemmer("porter", 100_000)


@functools.cache
def _nltk_porter() -> Callable[[str], str]:
    # NLTK's PorterStemmer() in its default mode (NLTK_EXTENSIONS), which differs from Porter's
    # published algorithm on 2 % of English words (one, way, day, always, ...): what the course's
    # notebook built its vocabulary with. nltk takes 0.13 s to import from the deployment package,
    # so only projects that ask for it pay, once per function; each word is stemmed once per
    # function too.
    from nltk.stem.porter import PorterStemmer

    return functools.lru_cache(maxsize=100_000)(PorterStemmer().stem)


def words(text: str, spec: TextSpec) -> list[str]:
    """The words of one text, cleaned as the course's `review_to_words` cleans them."""
    if spec.strip_html:
        import html  # on first use: html.entities costs a cold start 1 ms, for text projects

        text = html.unescape(_TAG.sub("", text))
    if spec.lowercase:
        text = text.lower()
    tokens = _ALPHANUMERIC.findall(text)
    if spec.stop_words:
        tokens = [token for token in tokens if token not in STOP_WORDS]
    if spec.stemmer == "porter":
        tokens = _porter().stemWords(tokens)
    elif spec.stemmer == "nltk_porter":
        stem = _nltk_porter()
        tokens = [stem(token) for token in tokens]
    return tokens


def split_texts(texts: Sequence[str], spec: TextSpec, max_rows: int) -> list[str]:
    """The texts to predict on: each one whole, or each non-blank line of each."""
    if spec.split == "line":
        texts = [line for text in texts for line in text.splitlines() if line.strip()]
        if not texts:
            raise EmptyInput("the text has no lines")
    if len(texts) > max_rows:
        raise InputTooLarge(f"{len(texts)} texts; the limit is {max_rows}")
    return list(texts)


def bag_of_words(
    texts: Sequence[str],
    spec: TextSpec,
    vocabulary: Vocabulary,
    width: int,
    max_words: int,
    max_elements: int,
) -> FloatArray:
    """One row of word counts per text over the vocabulary; words outside it are not counted."""
    if vocabulary.size > width:
        raise InvalidVocabulary(
            f"the vocabulary {vocabulary.uri} has indices up to {vocabulary.size - 1}; the "
            f"model's input holds {width} values"
        )
    if len(texts) * width > max_elements:
        raise InputTooLarge(f"{len(texts)} texts of {width} features; the limit is {max_elements}")
    counts = np.zeros((len(texts), width), dtype=np.float32)
    seen = 0
    indices = vocabulary.indices
    for row, text in enumerate(texts):
        tokens = words(text, spec)
        seen += len(tokens)
        if seen > max_words:
            raise InputTooLarge(f"the texts hold more than {max_words} words")
        found = [index for index in map(indices.get, tokens) if index is not None]
        if found:
            counts[row] = np.bincount(found, minlength=width)
    return counts
