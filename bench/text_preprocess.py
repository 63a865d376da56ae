"""IMDB-style reviews to text/csv bag-of-words bodies: sagewire against the course's Lambda.

The peer is the course sentiment project's per-request code: BeautifulSoup strips the HTML, a
regex keeps letters and digits, NLTK's English stop-word list (a list, so `in` scans it) and a
new NLTK `PorterStemmer` per word, a Python loop counts the words over the vocabulary, and a
Python join makes the CSV body. There is no IMDB here and no network for nltk_data: reviews are
drawn from wordfreq's 30,000 most frequent English words at their real frequencies (seeded), and
NLTK's stop-word list is given as a Python list (for the literal variant, written in nltk_data's
layout to a temporary folder, so that `stopwords.words("english")` runs NLTK's own reader).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from bench import (
    Check,
    Goal,
    Outcome,
    Row,
    Timing,
    compare,
    describe,
    format_ns,
    format_speedup,
)
from chalicelib.inference_spec import TextSpec
from chalicelib.processing.codecs import Chunk, serialize_chunks
from chalicelib.processing.decode import DEFAULT_LIMITS
from chalicelib.processing.text import (
    Vocabulary,
    _nltk_porter,
    bag_of_words,
    parse_vocabulary,
)

NAME = "text_preprocess"
SECONDS = 3.0
MIN_SPEEDUP = 10.0
REVIEWS = 2_000
VOCABULARY_SIZE = 5_000
BATCH = 100
DRAWN_FROM = 30_000
SEED = 12
MAX_BYTES = 6 * 1024 * 1024
SPEC = TextSpec(vocabulary="s3://b/v.json", stop_words=True, stemmer="porter")
NLTK_SPEC = replace(SPEC, stemmer="nltk_porter")
PASSES = 3
# NLTK's English stop-word list (nltk_data corpora/stopwords/english, 179 words) in its file's
# order: sagewire's STOP_WORDS plus 26 contractions, which never match after the regex.
_NLTK_ENGLISH = """i me my myself we our ours ourselves you you're you've you'll you'd
your yours yourself yourselves he him his himself she she's her hers herself it it's its itself
they them their theirs themselves what which who whom this that that'll these those am is are
was were be been being have has had having do does did doing a an the and but if or because as
until while of at by for with about against between into through during before after above
below to from up down in out on off over under again further then once here there when where
why how all any both each few more most other some such no nor not only own same so than too
very s t can will just don don't should should've now d ll m o re ve y ain aren aren't couldn
couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn
mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't
won won't wouldn wouldn't"""
NLTK_ENGLISH_STOP_WORDS = _NLTK_ENGLISH.split()
_STOP_SET = frozenset(NLTK_ENGLISH_STOP_WORDS)
# Snowball's `porter` (PyStemmer's) undoubles only bb dd ff gg mm nn pp rr tt in step 1b
# ("ignoring double c, h, j, k, q, v, w, and x"); the published algorithm undoubles every double
# consonant but l, s and z, as NLTK's ORIGINAL_ALGORITHM does: trekking -> trekk, not trek.
SNOWBALL_KEPT_DOUBLES = re.compile(r"(cc|hh|jj|kk|qq|vv|ww|xx)$")

Words = Callable[[str], list[str]]


@cache
def _frequent_words() -> tuple[list[str], npt.NDArray[np.float64]]:
    """wordfreq's most frequent English words (letters and apostrophes), with their shares."""
    from wordfreq import get_frequency_dict, top_n_list

    frequencies = get_frequency_dict("en")
    words = [w for w in top_n_list("en", DRAWN_FROM) if re.fullmatch(r"[a-z][a-z']*", w)]
    weights = np.array([frequencies[w] for w in words], dtype=np.float64)
    return words, weights / weights.sum()


def reviews(count: int, seed: int = SEED) -> list[str]:
    """IMDB-like reviews of 150 to 310 words (230 on average): sentences with commas, "!", "?",
    "...", paragraphs split by <br /><br />, now and then an <i> title, a quote, an &amp; or a
    rating such as 7/10."""
    words, shares = _frequent_words()
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        size = int(rng.integers(150, 311))
        drawn = [words[i] for i in rng.choice(len(words), size=size, p=shares)]
        parts: list[str] = []
        start = 0
        while start < len(drawn):
            sentence = drawn[start : start + int(rng.integers(6, 25))]
            start += len(sentence)
            sentence[0] = sentence[0].capitalize()
            for i in range(1, len(sentence) - 1):
                roll = rng.random()
                if roll < 0.08:
                    sentence[i] += ","
                elif roll < 0.1:
                    sentence[i] = f"<i>{sentence[i].title()}</i>"
                elif roll < 0.11:
                    sentence[i] = f'"{sentence[i]}"'
                elif roll < 0.115:
                    sentence[i] += " &amp;"
            endings = [".", ".", ".", "!", "?", "...", f" {rng.integers(1, 11)}/10."]
            parts += [" ".join(sentence) + endings[int(rng.integers(len(endings)))], " "]
            if rng.random() < 0.2:
                parts[-1] = "<br /><br />"
        texts.append("".join(parts[:-1]))
    return texts


@contextlib.contextmanager
def nltk_stopwords() -> Iterator[Any]:
    """NLTK's `stopwords` corpus reader, over its English list written in nltk_data's layout."""
    import nltk
    from nltk.corpus import stopwords

    with tempfile.TemporaryDirectory() as root:
        folder = Path(root, "corpora", "stopwords")
        folder.mkdir(parents=True)
        (folder / "english").write_text("\n".join(NLTK_ENGLISH_STOP_WORDS) + "\n")
        nltk.data.path.insert(0, root)
        try:
            yield stopwords
        finally:
            nltk.data.path.remove(root)


def bow_encoding(words: list[str], vocabulary: dict[str, int]) -> list[int]:
    """The course's encoding, as written."""
    bow = [0] * len(vocabulary)
    for word in words:
        if word in vocabulary:
            bow[vocabulary[word]] += 1
    return bow


def course_literal(stopwords: Any) -> Words:
    """The course's review_to_words to the letter: `stopwords.words("english")` is called, so the
    corpus file read and split, for every word; a new PorterStemmer (NLTK's default mode) per
    word."""
    from bs4 import BeautifulSoup
    from nltk.stem.porter import PorterStemmer

    def review_to_words(review: str) -> list[str]:
        text = BeautifulSoup(review, "html.parser").get_text()
        text = re.sub(r"[^a-zA-Z0-9]", " ", text.lower())
        words = text.split()
        words = [w for w in words if w not in stopwords.words("english")]
        words = [PorterStemmer().stem(w) for w in words]
        return words  # noqa: RET504 (the course's code as written)

    return review_to_words


def course(mode: str = "NLTK_EXTENSIONS") -> Words:
    """The course's review_to_words with the stop-word list as one Python list (still scanned by
    `in`) and a new PorterStemmer per word."""
    from bs4 import BeautifulSoup
    from nltk.stem.porter import PorterStemmer

    stop_words = list(NLTK_ENGLISH_STOP_WORDS)

    def review_to_words(review: str) -> list[str]:
        text = BeautifulSoup(review, "html.parser").get_text()
        text = re.sub(r"[^a-zA-Z0-9]", " ", text.lower())
        words = text.split()
        words = [w for w in words if w not in stop_words]
        words = [PorterStemmer(mode).stem(w) for w in words]
        return words  # noqa: RET504 (the course's code as written)

    return review_to_words


def fair_peer(mode: str = "NLTK_EXTENSIONS") -> Words:
    """The course's review_to_words with a set of stop words and one PorterStemmer."""
    from bs4 import BeautifulSoup
    from nltk.stem.porter import PorterStemmer

    stop_words = set(NLTK_ENGLISH_STOP_WORDS)
    stem = PorterStemmer(mode).stem

    def review_to_words(review: str) -> list[str]:
        text = BeautifulSoup(review, "html.parser").get_text()
        text = re.sub(r"[^a-zA-Z0-9]", " ", text.lower())
        words = text.split()
        words = [w for w in words if w not in stop_words]
        words = [stem(w) for w in words]
        return words  # noqa: RET504 (the course's code as written)

    return review_to_words


def lambda_body(review_to_words: Words, vocabulary: dict[str, int]) -> Callable[[str], str]:
    """The course Lambda's request body for one review."""

    def body(review: str) -> str:
        bow = bow_encoding(review_to_words(review), vocabulary)
        return ",".join(str(v) for v in bow)

    return body


def sagewire(
    vocabulary: Vocabulary, spec: TextSpec = SPEC
) -> Callable[[Sequence[str]], list[Chunk]]:
    """sagewire's request bodies for a batch of reviews (one review: a batch of one)."""
    limits = DEFAULT_LIMITS

    def chunks(texts: Sequence[str]) -> list[Chunk]:
        features = bag_of_words(
            texts, spec, vocabulary, vocabulary.size, limits.max_words, limits.max_elements
        )
        return serialize_chunks(features, "text/csv", "list", MAX_BYTES)

    return chunks


def build_vocabulary(tokens: Sequence[list[str]]) -> dict[str, int]:
    """The 5,000 most frequent stems (ties by stem), indexed alphabetically as scikit-learn's
    CountVectorizer(max_features=5000).vocabulary_ is in the course."""
    counts = Counter(itertools.chain.from_iterable(tokens))
    top = sorted(counts, key=lambda stem: (-counts[stem], stem))[:VOCABULARY_SIZE]
    return {stem: index for index, stem in enumerate(sorted(top))}


def _rows(body: bytes | str) -> npt.NDArray[np.float64]:
    text = body.decode() if isinstance(body, bytes) else body
    return np.array([line.split(",") for line in text.split("\n")], dtype=np.float64)


def _ours_rows(chunks: list[Chunk]) -> npt.NDArray[np.float64]:
    return np.vstack([_rows(chunk.body) for chunk in chunks])


def _cycling(encode: Callable[[Any], object], items: Sequence[Any]) -> Callable[[], object]:
    cycle = itertools.cycle(items)
    return lambda: encode(next(cycle))


def _per_review(timing: Timing, reviews_per_call: int) -> Timing:
    return Timing(timing.p50_ns / reviews_per_call, timing.mean_ns / reviews_per_call, timing.reps)


def _pass(encode: Callable[[str], object], texts: Sequence[str]) -> list[int]:
    """The wall time of each review, one pass over the corpus, one review per call."""
    clock = time.perf_counter_ns
    spent = []
    for text in texts:
        start = clock()
        encode(text)
        spent.append(clock() - start)
    return spent


Differences = dict[str, list[tuple[str, str, str]]]


def _stemmer_modes(words: list[str]) -> tuple[Differences, Differences, int]:
    """For each NLTK mode, the (word, PyStemmer's stem, NLTK's stem) that differ, over `words`
    and over wordfreq's large English list (its words of letters and digits); that list's size."""
    import Stemmer
    from nltk.stem.porter import PorterStemmer
    from wordfreq import top_n_list

    large = [w for w in top_n_list("en", 10**7, wordlist="large") if re.fullmatch("[a-z0-9]+", w)]
    porter = Stemmer.Stemmer("porter")
    found: tuple[Differences, Differences] = ({}, {})
    for listed, differing in zip((words, large), found, strict=True):
        ours = porter.stemWords(listed)
        for mode in ("ORIGINAL_ALGORITHM", "MARTIN_EXTENSIONS", "NLTK_EXTENSIONS"):
            stem = PorterStemmer(mode).stem
            differing[mode] = [
                (w, a, b) for w, a in zip(listed, ours, strict=True) if a != (b := stem(w))
            ]
    return *found, len(large)


def _unstemmed(text: str) -> list[str]:
    """The words that the peers stem: no HTML, lower case, letters and digits, no stop words."""
    from bs4 import BeautifulSoup

    text = re.sub(r"[^a-z0-9]", " ", BeautifulSoup(text, "html.parser").get_text().lower())
    return [w for w in text.split() if w not in _STOP_SET]


def _sample(differences: list[tuple[str, str, str]], count: int = 6) -> str:
    return ", ".join(f"{w}: {a} vs {b}" for w, a, b in differences[:count])


def run() -> list[Outcome]:
    import Stemmer

    texts = reviews(REVIEWS)
    words_per_review = np.mean([len(re.sub(r"<[^>]*>", " ", t).split()) for t in texts])
    original, default = fair_peer("ORIGINAL_ALGORITHM"), fair_peer()
    original_tokens = [original(text) for text in texts]
    default_tokens = [default(text) for text in texts]
    original_vocabulary = build_vocabulary(original_tokens)
    default_vocabulary = build_vocabulary(default_tokens)
    ours_vocabulary = parse_vocabulary(orjson.dumps(original_vocabulary), SPEC.vocabulary or "", "")
    ours_default = parse_vocabulary(orjson.dumps(default_vocabulary), SPEC.vocabulary or "", "")
    ours = sagewire(ours_vocabulary)
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    print(
        f"{NAME}: {len(texts)} IMDB-like reviews ({words_per_review:.0f} words on average; "
        f"drawn at wordfreq's frequencies from its {DRAWN_FROM:,} most frequent English words), "
        f"vocabulary: the {VOCABULARY_SIZE:,} most frequent stems"
    )
    outcomes: list[Outcome] = []

    # Same vectors: sagewire against the peer in the NLTK mode that PyStemmer matches.
    original_body = lambda_body(original, original_vocabulary)
    mismatched = [
        i
        for i, text in enumerate(texts)
        if not np.array_equal(_ours_rows(ours([text])), _rows(original_body(text)))
    ]
    batch_mismatched = [
        i
        for i, batch in enumerate(batches)
        if not np.array_equal(
            _ours_rows(ours(batch)), _rows("\n".join(original_body(t) for t in batch))
        )
    ]
    stems = sorted(original_vocabulary, key=original_vocabulary.__getitem__)
    for i in mismatched[:5]:
        delta = _ours_rows(ours([texts[i]]))[0] - _rows(original_body(texts[i]))[0]
        moved = {stems[j]: int(delta[j]) for j in np.flatnonzero(delta)}
        print(f"  MISMATCH on review {i}: sagewire's counts minus the peer's: {moved}")
    same = not mismatched and not batch_mismatched
    print(
        f"  same vectors as the peer with PorterStemmer(mode=ORIGINAL_ALGORITHM): "
        f"{len(texts) - len(mismatched)} of {len(texts)} reviews, "
        f"{len(batches) - len(batch_mismatched)} of {len(batches)} batches of {BATCH}"
        + ("" if same else "  <- MISMATCH: sagewire's vectors are not the peer's")
    )
    outcomes.append(
        Check(NAME, "same vectors as NLTK's ORIGINAL_ALGORITHM peer on every review", same)
    )
    # The course as written gives the fair peer's words: stop words and stems are per word.
    with nltk_stopwords() as stopwords:
        literal = course_literal(stopwords)
        literal_same = all(
            literal(t) == d for t, d in zip(texts[:50], default_tokens, strict=False)
        )
        literal_same &= all(
            course()(t) == d for t, d in zip(texts[:50], default_tokens, strict=False)
        )
        outcomes.append(
            Check(NAME, "the course's variants give the fair peer's words", literal_same)
        )

        # Stemmer modes, and what NLTK's default mode changes for a model trained with it.
        occurrences = Counter(itertools.chain.from_iterable(_unstemmed(t) for t in texts))
        distinct = sorted(occurrences)
        in_corpus, in_large, large_size = _stemmer_modes(distinct)
        print("  PyStemmer's porter against NLTK's PorterStemmer modes, words whose stems differ:")
        for mode in in_corpus:
            print(
                f"    {mode:<18} corpus {len(in_corpus[mode]):>5} of {len(distinct):,} words, "
                f"large list {len(in_large[mode]):>5} of {large_size:,}  "
                f"(e.g. {_sample(in_large[mode], 4)})"
            )
        snowball_only = all(
            SNOWBALL_KEPT_DOUBLES.search(a) and a[:-1] == b
            for _, a, b in in_large["ORIGINAL_ALGORITHM"]
        )
        every = _sample(in_large["ORIGINAL_ALGORITHM"], 30)
        print(f"    ORIGINAL_ALGORITHM on the large list: {every}")
        outcomes.append(
            Check(
                NAME,
                "NLTK's ORIGINAL_ALGORITHM differs from PyStemmer only at Snowball's kept "
                "double c/h/j/k/q/v/w/x, on no corpus word",
                snowball_only and not in_corpus["ORIGINAL_ALGORITHM"],
            )
        )
        default_stems = set(default_vocabulary) - set(original_vocabulary)
        # The features of a default-mode vocabulary that sagewire never fills on this corpus.
        never = set(default_vocabulary) - set(Stemmer.Stemmer("porter").stemWords(distinct))
        differing_words = {w for w, _, _ in in_corpus["NLTK_EXTENSIONS"]}
        default_body = lambda_body(default, default_vocabulary)
        ours_on_default = sagewire(ours_default)
        changed_reviews = 0
        changed_counts = 0
        counted = 0
        for text in texts:
            theirs_row = _rows(default_body(text))
            ours_row = _ours_rows(ours_on_default([text]))
            changed_reviews += not np.array_equal(theirs_row, ours_row)
            changed_counts += int(np.abs(theirs_row - ours_row).sum())
            counted += int(theirs_row.sum())
        differing_share = sum(occurrences[w] for w in differing_words) / occurrences.total()
        print(
            f"  NLTK's default mode (NLTK_EXTENSIONS, the course's): "
            f"{len(default_stems)} of its vocabulary's {VOCABULARY_SIZE:,} stems "
            f"({len(default_stems) / VOCABULARY_SIZE:.1%}) are not in the PyStemmer one; "
            f"{len(differing_words)} of {len(distinct):,} distinct words "
            f"({len(differing_words) / len(distinct):.1%}, {differing_share:.1%} of word "
            f"occurrences) stem differently"
        )
        frequent = sorted(in_corpus["NLTK_EXTENSIONS"], key=lambda d: -occurrences[d[0]])
        print(f"    the most frequent: {_sample(frequent, 10)} (PyStemmer vs NLTK)")
        print(
            f"    {len(never)} of the default-mode vocabulary's stems "
            f"({len(never) / VOCABULARY_SIZE:.1%}) are never PyStemmer's stem of a corpus word: "
            f"sagewire never counts those features (e.g. {', '.join(sorted(never)[:8])})"
        )
        print(
            f"  over a default-mode vocabulary, sagewire's vector differs from the course's on "
            f"{changed_reviews} of {len(texts)} reviews ({changed_reviews / len(texts):.1%}); "
            f"{changed_counts} of {counted} counts ({changed_counts / counted:.1%}) move or vanish"
        )

        # (e) sagewire's nltk_porter against the course itself (default-mode PorterStemmer()
        # per word), over the default-mode vocabulary the course would build. The stem cache
        # starts cold: the first pass stems each distinct word once (the first review with a
        # word pays NLTK's stem of it), later passes only look the words up.
        ours_nltk = sagewire(ours_default, NLTK_SPEC)
        course_body = lambda_body(course(), default_vocabulary)
        _nltk_porter.cache_clear()
        passes = [_pass(lambda text: ours_nltk([text]), texts) for _ in range(PASSES)]
        course_rows = [_rows(course_body(text)) for text in texts]
        nltk_mismatched = [
            i
            for i, (text, theirs_row) in enumerate(zip(texts, course_rows, strict=True))
            if not np.array_equal(_ours_rows(ours_nltk([text])), theirs_row)
        ]
        nltk_batch_mismatched = [
            i
            for i, batch in enumerate(batches)
            if not np.array_equal(
                _ours_rows(ours_nltk(batch)),
                np.vstack(course_rows[i * BATCH : i * BATCH + len(batch)]),
            )
        ]
        default_stems_by_index = sorted(default_vocabulary, key=default_vocabulary.__getitem__)
        for i in nltk_mismatched[:5]:
            delta = _ours_rows(ours_nltk([texts[i]]))[0] - course_rows[i][0]
            moved = {default_stems_by_index[j]: int(delta[j]) for j in np.flatnonzero(delta)}
            print(
                f"  MISMATCH on review {i}: sagewire nltk_porter's counts minus the "
                f"course's: {moved}"
            )
        nltk_same = not nltk_mismatched and not nltk_batch_mismatched
        print(
            f"  (e) nltk_porter: same vectors as the course (default-mode PorterStemmer() per "
            f"word) over the default-mode vocabulary: {len(texts) - len(nltk_mismatched)} of "
            f"{len(texts)} reviews, {len(batches) - len(nltk_batch_mismatched)} of "
            f"{len(batches)} batches of {BATCH}"
            + ("" if nltk_same else "  <- MISMATCH: sagewire's vectors are not the course's")
        )
        outcomes.append(
            Check(
                NAME,
                "nltk_porter: same vectors as the course's default-mode PorterStemmer() on "
                "every review",
                nltk_same,
            )
        )

        # Timings: per review, each peer against sagewire on one review per call.
        single = _cycling(lambda text: ours([text]), texts)
        cases: list[tuple[str, str, Callable[[], object], float | None]] = [
            (
                "course: list stop words, new stemmer per word",
                "BeautifulSoup, `in` a 179-word list, PorterStemmer() per word, bow loop, join",
                _cycling(lambda_body(course(), default_vocabulary), texts),
                MIN_SPEEDUP,
            ),
            (
                "course to the letter: stopwords.words() per word",
                "as above, NLTK's reader reading the stop-word file for every word",
                _cycling(lambda_body(literal, default_vocabulary), texts),
                None,
            ),
            (
                "fair peer: set stop words, one stemmer (same vectors)",
                "BeautifulSoup, a set, one PorterStemmer(ORIGINAL_ALGORITHM), bow loop, join",
                _cycling(original_body, texts),
                None,
            ),
        ]
        report: list[str] = []
        timed: dict[str, Timing] = {}
        for case, how, peer, goal in cases:
            mine, theirs_timing = compare(single, peer, SECONDS)
            row = Row(NAME, f"per review, {case}", mine, theirs_timing)
            if goal is not None:
                row = replace(row, goals=(Goal(f"≥ {goal:g}x", row.speedup >= goal),))
            timed[case] = theirs_timing
            outcomes.append(row)
            report += [
                f"{NAME}: {case}, one review per call",
                f"  {describe(mine, 'sagewire')}  (bag_of_words + serialize_chunks text/csv)",
                f"  {describe(theirs_timing, 'peer    ')}  ({how})",
                f"  {format_speedup(row.speedup)}"
                + (f" (goal ≥ {goal:g}x)" if goal is not None else ""),
            ]
    batch = _cycling(ours, batches)
    peer_batch = _cycling(lambda reviews: "\n".join(original_body(t) for t in reviews), batches)
    mine, theirs_timing = (_per_review(t, BATCH) for t in compare(batch, peer_batch, SECONDS))
    row = Row(NAME, f"per review in batches of {BATCH}, fair peer", mine, theirs_timing)
    outcomes.append(row)
    course_p50 = timed[cases[0][0]].p50_ns
    report += [
        f"{NAME}: batches of {BATCH} reviews per call, per review",
        f"  {describe(mine, 'sagewire')}  (one bag_of_words + serialize_chunks per batch)",
        f"  {describe(theirs_timing, 'peer    ')}  (the fair peer per review, lines joined)",
        f"  {format_speedup(row.speedup)}; against the course (list, new stemmer): "
        f"{format_speedup(course_p50 / mine.p50_ns)}",
    ]

    # (e) sagewire's nltk_porter against the course, warm (the stem cache filled above).
    nltk_single = _cycling(lambda text: ours_nltk([text]), texts)
    mine, theirs_timing = compare(nltk_single, _cycling(course_body, texts), SECONDS)
    row = Row(NAME, "per review, nltk_porter vs the course (same vectors)", mine, theirs_timing)
    outcomes.append(row)
    first = Timing.of(passes[0])
    report += [
        f"{NAME}: (e) sagewire nltk_porter against the course, one review per call "
        f"(same vectors over the default-mode vocabulary)",
        f"  {describe(mine, 'sagewire')}  (bag_of_words stemmer=nltk_porter + serialize_chunks, "
        f"stem cache warm)",
        f"  {describe(theirs_timing, 'peer    ')}  (the course: list stop words, PorterStemmer() "
        f"per word, bow loop, join)",
        f"  {format_speedup(row.speedup)} warm; the stem cache is per word, so the first review "
        f"with a word pays NLTK's stem of it ({len(distinct):,} distinct words here):",
    ]
    for number, spent in enumerate(passes, 1):
        timing = Timing.of(spent)
        report.append(
            f"    pass {number} over the {len(texts):,} reviews"
            + (" (cold cache)" if number == 1 else "")
            + f": p50 {format_ns(timing.p50_ns)}  mean {format_ns(timing.mean_ns)} per review, "
            f"{sum(spent) / 1e9:.2f} s in all"
        )
    report.append(
        f"    cold first pass against the course: p50 "
        f"{format_speedup(theirs_timing.p50_ns / first.p50_ns)}, mean "
        f"{format_speedup(theirs_timing.mean_ns / first.mean_ns)}"
    )
    print("\n".join(report))
    return outcomes
