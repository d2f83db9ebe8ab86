"""Sentence-level evidence: which sentences of the retrieved chunks answer the question, and
whether any of them can.

A chunk is about a topic; a sentence states a fact. The retrieved chunks are split
into sentences, each scored against the question by meaning (MiniLM cosine), by the
question's rare words it shares (IDF-weighted, the knowledge base's own document
frequencies) and by whether it holds the kind of thing asked for (an amount for "how
much", a date for "when"). The same signals decide answerability: a question whose key
terms (numbers, names, product words) the evidence never mentions, or whose answer type
no evidence sentence holds, is one the documents do not answer.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from rag.grounding import NUMBER, numbers_in
from rag.retrieval import Hit
from rag.text import STOPWORDS, content_stems, split_sentences, words

NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"sixty|hundred|thousand|million|billion|dozen|several|single|half"
)
TIME_UNITS = r"(?:second|minute|hour|day|week|month|year|decade|night|business day)s?"
MONTHS = (
    r"January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
WEEKDAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
NUMBER_TOKEN = rf"(?:\d[\d,.]*|{NUMBER_WORDS}|an?)"

# What each kind of answer looks like in a sentence.
ANSWER_SHAPES: dict[str, re.Pattern[str]] = {
    # "No restocking fee", "at no cost": an amount of none answers "how much" too.
    "money": re.compile(
        r"[$€£¥]\s?\d|\d\s?(?:USD|EUR|GBP|dollars?|euros?|pounds|cents?)\b|\bfree\b|"
        r"\bno (?:\w+ )?(?:fees?|charges?)\b|\b(?:not|n't) charge (?:\w+ )?(?:\w+ )?fees?\b|"
        r"\bat no (?:\w+ )?cost\b",
        re.I,
    ),
    "percent": re.compile(r"\d\s?%|\bper ?cent\b", re.I),
    "weight": re.compile(r"\d\s?(?:g|kg|grams?|kilograms?|oz|ounces?|lbs?|pounds?|tons?|tonnes?)\b", re.I),
    "size": re.compile(
        r"\d\s?(?:mm|cm|m|km|metres?|meters?|inch(?:es)?|in|ft|feet|miles?|[KMGT]i?B|bytes?|characters?)\b"
    ),
    "duration": re.compile(
        rf"\b{NUMBER_TOKEN}[\s-]+(?:\w+[\s-]+)?{TIME_UNITS}\b|\bevery\b|\b(?:daily|weekly|monthly|yearly|"
        r"annually|hourly)\b",
        re.I,
    ),
    "date": re.compile(
        rf"\b(?:1\d{{3}}|20\d{{2}})s?\b|\b(?:{MONTHS}|{WEEKDAYS})\b|\bcentur(?:y|ies)\b|\b\d{{1,2}}(?:st|nd|rd|th)\b|"
        r"\b\d{1,2}:\d{2}\b|\b(?:BC|AD|BCE|CE)\b"
    ),
    "number": re.compile(rf"\d|\b(?:{NUMBER_WORDS})\b", re.I),
    # Not a capital that starts a sentence, nor one after a colon ("Data Protection Officer: Contact ...").
    "name": re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][\w'\u2019&-]*"),
    # An identifier: a token with a digit or underscore ("E31", "whsec_", "8883") or capitalised words
    # joined by a hyphen ("Aerolume-Signature").
    "code": re.compile(r"\b\w*[\d_]\w*|\b[A-Z]\w*-[A-Z][\w-]*"),
}
# "How far back", "how far in advance", "how far off can the timestamp be": a time, not a distance.
IN_TIME = r"(?:back|ahead|in advance|off)"
ONE_WORD = r" (?:[\w-]+ )?"  # "which error code", "what CO2 level": a word may qualify the noun
# How questions ask for each kind, tried in this order (the first match wins). A wording can
# ask for more than one kind: "how long can the note be" wants characters, "how big was the round"
# an amount, "when does it go critical" a level; any of them in the evidence will do.
QUESTION_SHAPES: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("weight",), re.compile(r"\bhow heavy\b|\bweigh", re.I)),
    (("percent",), re.compile(r"\bwhat (?:percentage|percent|share|proportion)\b|\bhow much of\b", re.I)),
    (("size", "money", "number"), re.compile(r"\bhow (?:big|large)\b", re.I)),
    (
        ("size",),
        re.compile(rf"\bhow (?:tall|wide|far(?! {IN_TIME})|high|deep)\b|\bwhat size\b|\bdimensions\b", re.I),
    ),
    (
        ("duration",),
        re.compile(
            rf"\bhow (?:soon|quickly|fast|often|far {IN_TIME})\b|\bfor how long\b|"
            r"\bhow many (?:days|hours|weeks|months|years|minutes|seconds)\b|\bwithin what time\b",
            re.I,
        ),
    ),
    (("duration", "size"), re.compile(r"\bhow long\b", re.I)),
    # A fee or a deduction may be a share ("a 15% restocking fee").
    (("money", "percent"), re.compile(r"\b(?:fees?|deduct(?:s|ed|ion|ions)?)\b", re.I)),
    (
        ("money",),
        re.compile(
            r"\bhow much\b.*\b(?:pay|spend|money|raise|worth|credit|earn|owe|refund)|"
            r"\b(?:cost|costs|price|prices|priced|(?<!in )charge|salary|budget)\b",
            re.I,
        ),
    ),
    (
        ("date",),
        re.compile(
            r"\b(?:what|which|in what) (?:year|date|day|month|century|decade|time|hours)\b|\bsince when\b",
            re.I,
        ),
    ),
    (
        ("date", "duration", "number"),
        re.compile(r"^when\b|\bwhen (?:did|was|were|is|does|do|will)\b", re.I),
    ),
    (
        ("code",),
        re.compile(
            rf"\b(?:what|which){ONE_WORD}(?:code|prefix|suffix|header|port|id|parameter)s?\b|"
            r"\b(?:part|model|serial|order|tracking) numbers?\b",
            re.I,
        ),
    ),
    (
        ("number",),
        re.compile(
            rf"\b(?:at|above|below|under|over|beyond|past) what\b|"
            rf"\b(?:what|which){ONE_WORD}(?:level|threshold|concentration|temperature|speed|strength|rate|"
            r"score|version|release)s?\b(?! of\b)|"
            r"\bhow (?:many|much)\b|\bwhat number\b|\b(?:maximum|minimum|max|min|limit|largest|smallest|"
            r"highest|lowest)\b|\bup to what\b",
            re.I,
        ),
    ),
    (
        ("name",),
        re.compile(
            rf"\b(?:who|whom|whose)\b|\bwhere\b|\b(?:what|which){ONE_WORD}(?:city|country|company|firm|"
            r"person|exec|executive|manager|director|officer|vendor|supplier|partner|warehouse)\b",
            re.I,
        ),
    ),
]
# A unit or currency the question asks the answer in ("in decibels", "in yen for Japan", "how many
# watts"): the evidence must state a figure in it.
ASKED_UNIT = re.compile(
    r"\bin (?:japanese |us |american |british )?([A-Za-z]+|[$€£¥])(?![A-Za-z])|\bhow many ([A-Za-z]+)|"
    # A currency named before the amount it qualifies: "is there a euro price", "the US price of the hub".
    r"\b(euro|eur|us|usd|dollar|yen|gbp|sterling)[\s-]+(?:price|prices|pricing|cost|costs|amount)\b",
    re.I,
)
UNIT_SPELLINGS = {
    "dollars": ("$", "usd", "dollar"),
    "usd": ("$", "usd", "dollar"),
    "euros": ("€", "eur", "euro"),
    "eur": ("€", "eur", "euro"),
    "pounds": ("£", "gbp", "pound"),
    "yen": ("¥", "jpy", "yen"),
    "decibels": ("db", "decibel"),
    "db": ("db", "decibel"),
    "dbm": ("dbm",),
    "mah": ("mah",),
    "grams": ("g", "gram", "kg"),
    "kilograms": ("kg", "kilogram"),
    "watts": ("w", "watt"),
    "inches": ("inch", '"'),
    "centimetres": ("cm",),
    "millimetres": ("mm",),
    "metres": ("m", "metre", "meter"),
    "meters": ("m", "metre", "meter"),
    "feet": ("ft", "feet", "foot"),
    "percent": ("%", "percent"),
    "ppm": ("ppm",),
    "ppb": ("ppb",),
    "kb": ("kb", "kilobyte"),
    "mb": ("mb", "megabyte"),
    "gb": ("gb", "gigabyte"),
    # A duration may be stated in the next unit up or down ("24 months" for "how many years"), not
    # further ("every 60 seconds" says nothing of how many years a sensor lasts).
    "years": ("year", "month"),
    "months": ("month", "year", "week"),
    "weeks": ("week", "day", "month"),
    "days": ("day", "week", "hour"),
    "hours": ("hour", "minute", "day"),
    "minutes": ("minute", "second", "hour"),
    "seconds": ("second", "minute"),
}


# "US" alone is a place ("available in the US"); only before "price" does it name the dollar.
CURRENCY_ADJECTIVES = {
    "us": "dollars",
    "dollar": "dollars",
    "euro": "euros",
    "gbp": "pounds",
    "sterling": "pounds",
}


def asked_unit(question: str) -> tuple[str, ...]:
    """How the unit the question asks the answer in may be written, or () when it asks for none."""
    named = (_named_unit(m) for m in ASKED_UNIT.finditer(question))
    asked = (UNIT_SPELLINGS.get(unit) or UNIT_SPELLINGS.get(f"{unit}s") for unit in named)
    return next((spellings for spellings in asked if spellings), ())


def _named_unit(match: re.Match[str]) -> str:
    """The unit an `ASKED_UNIT` match names, in lower case; a currency before a price by its unit's name."""
    if currency := match.group(3):
        return CURRENCY_ADJECTIVES.get(currency.lower(), currency.lower())
    return (match.group(1) or match.group(2)).lower()


# "How many floors": the answer is a figure of floors, and "up to 100 rooms" is one of something else.
# What is counted runs from "how many" to the first word that ends a noun phrase ("how many text alerts
# can"); in a sentence, it is the words after a figure ("50 SMS per month"), a table cell's column
# name before it ("Requests per minute: 120"), or what "the number of" names ("the number of built-in
# automations is 5").
HOW_MANY = re.compile(r"\bhow many\s+([\w'-]+(?:\s+[\w'-]+){0,3})", re.I)
FIGURE_THEN_WORDS = re.compile(
    rf"(?<![\w.,])(?:\d[\d,.]*|{NUMBER_WORDS})[\s-]+([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)", re.I
)
COLUMN_THEN_FIGURE = re.compile(rf"([A-Za-z][\w-]*(?:\s+[\w-]+){{0,3}}):\s*(?:\d|(?:{NUMBER_WORDS})\b)", re.I)
NUMBER_OF = re.compile(r"\bnumber of ([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)", re.I)
PHRASE_END = STOPWORDS | {"per", "max", "maximum", "total", "exactly", "roughly", "left", "altogether"}


def _noun_phrase(text: str) -> str:
    return " ".join(itertools.takewhile(lambda w: w.lower() not in PHRASE_END, text.split()))


def counted_thing(question: str, frequencies: DocumentFrequency) -> str:
    """What a "how many" question counts ("text alerts"); "" when it counts nothing, a unit
    (`asked_unit` checks those: "how many days" may be answered in weeks), or a word no document
    has (a typo, "how many yeras", cannot be told from another thing)."""
    asked = HOW_MANY.search(question)
    if not asked or asked_unit(question):
        return ""
    phrase = _noun_phrase(asked.group(1))
    stems = content_stems(phrase)
    df, _ = frequencies(stems)
    if any(re.fullmatch(TIME_UNITS, w, re.I) for w in phrase.split()) or not all(df.get(st) for st in stems):
        return ""
    return phrase


def figure_nouns(sentence: str) -> list[str]:
    """What the sentence's figures count ("up to 15 devices": "devices"; "Requests per minute: 120":
    "Requests")."""
    if not ANSWER_SHAPES["number"].search(sentence):
        return []
    found = [
        *FIGURE_THEN_WORDS.finditer(sentence),
        *COLUMN_THEN_FIGURE.finditer(sentence),
        *NUMBER_OF.finditer(sentence),
    ]
    return [noun for match in found if (noun := _noun_phrase(match.group(1)))]


def answer_type(question: str) -> tuple[str, ...]:
    """The kinds of thing the question asks for (("money",), ("duration", "size"), ...), or () when
    any will do."""
    for kinds, shape in QUESTION_SHAPES:
        if shape.search(question):
            return kinds
    return ()


# A capital that only starts a sentence ("Just heard I'm promoted. What's the ...") makes no name.
QUESTION_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
QUESTION_WORD = re.compile(r"\b(?:what|which|who|whom|whose|where|when|why|how)\b", re.I)
# A number that is part of a word ("CO2", "PM2.5") names a thing, not a figure to look for.
STANDALONE_NUMBER = re.compile(rf"(?<![A-Za-z\d.,]){NUMBER.pattern}")
FIRST_PERSON = re.compile(r"\b(?:i|me|my|we|our)\b", re.I)  # "i'm", "we're" too
AUXILIARY_START = re.compile(
    r"^\W*(?:is|are|was|were|can|could|do|does|did|will|would|should|has|have|may)\b", re.I
)


def asking_sentences(question: str) -> list[str]:
    """The sentences of a message that ask something, or all of them when none reads as a question.
    The others set the scene ("I review gadgets on YouTube.", "we're a school with 30 classrooms."):
    a name or number there is the customer's own, not one the answer must mention."""
    sentences = [s for s in QUESTION_SENTENCE_END.split(question) if words(s)]
    asking = [s for s in sentences if "?" in s or QUESTION_WORD.search(s) or AUXILIARY_START.match(s)]
    return asking or sentences


def key_terms(question: str) -> list[str]:
    """What the answer's evidence must mention: the numbers and names (runs of capitalised words not
    at the start of a sentence, such as "Apple Watch") of the sentences that ask. A number in a
    sentence where the customer speaks of themselves ("after working here 4 years", "for a $12
    coffee do I need a receipt") describes their case; the documents state the rule it falls under."""
    terms = []
    for sentence in asking_sentences(question):
        if not FIRST_PERSON.search(sentence):
            terms += STANDALONE_NUMBER.findall(sentence)
        tokens = [t for t in words(sentence) if not any(c.isdigit() for c in t)]
        run: list[str] = []
        for i, token in enumerate([*tokens, ""]):
            if i > 0 and _is_name_word(token):
                run.append(token)
                continue
            if run:
                terms.append(" ".join(run))
            run = []
    return list(dict.fromkeys(terms))


def _is_name_word(token: str) -> bool:
    return any(c.isupper() for c in token) and token.lower() not in STOPWORDS and not token.isdigit()


def holds_answer_type(sentence: str, kinds: tuple[str, ...], question: str) -> bool:
    """Whether `sentence` holds a thing of one of `kinds` that the question does not already state."""
    if not kinds:
        return True
    asked = {w.lower() for w in words(question)}
    for kind in kinds:
        for match in ANSWER_SHAPES[kind].finditer(sentence):
            found = {w.lower() for w in words(match.group())}
            if not found or not found <= asked:
                return True
    return False


@dataclass(frozen=True)
class Evidence:
    sentence: str
    hit: Hit
    hit_rank: int  # the chunk's place in the retrieved list
    position: int  # the sentence's place in its chunk
    score: float
    cosine: float
    overlap: float  # IDF-weighted share of the question's words the sentence has
    focus_overlap: float  # the same for the last message alone (a follow-up's new words: "Hub")
    typed: bool  # holds the kind of thing asked for


@dataclass(frozen=True)
class EvidenceSettings:
    # Fitted on the fit halves of the shipped questions and SQuAD (bench/answer_tuning.py).
    lexical_weight: float = 0.5
    type_weight: float = 0.3
    rank_weight: float = 0.05  # the retriever's order still counts for something
    # How near in meaning a figure's noun must be to what "how many" counts ("devices" for "monitors").
    count_similarity: float = 0.35


DocumentFrequency = Callable[[list[str]], tuple[dict[str, int], int]]  # stems -> (df per stem, documents)
Encoder = Callable[[list[str]], np.ndarray]  # texts -> normalised vectors


class EvidenceSelector:
    def __init__(
        self, encode: Encoder, settings: EvidenceSettings | None = None, cached_chunks: int = 4096
    ) -> None:
        self.encode = encode
        self.settings = settings or EvidenceSettings()
        # Sentence vectors per chunk: the same chunks answer many questions, and encoding their
        # sentences is most of an extractive answer's time.
        self._vectors: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._cached_chunks = cached_chunks
        self._lock = threading.Lock()

    def candidates(
        self,
        question: str,
        hits: list[Hit],
        frequencies: DocumentFrequency,
        question_vector: np.ndarray,
        focus: str | None = None,
    ) -> list[Evidence]:
        """Every sentence of the hits with what it shares with the question (`rank` scores them).

        `focus`: the follow-up message within a question gathered from the conversation.
        """
        found = [
            (hit_rank, position, sentence)
            for hit_rank, hit in enumerate(hits)
            for position, sentence in enumerate(chunk_sentences(hit))
        ]
        if not found:
            return []
        kinds, units = answer_type(question), asked_unit(question)
        counting = self._counting(
            counted_thing(question, frequencies), [sentence for _, _, sentence in found]
        )
        weights = idf_weights(question, frequencies)
        focus_weights = idf_weights(focus, frequencies) if focus else weights
        cosines = np.concatenate([self._sentence_vectors(hit) for hit in hits]) @ question_vector
        evidence = []
        for (hit_rank, position, sentence), cosine, counts in zip(found, cosines, counting, strict=True):
            shared = set(content_stems(sentence))
            overlap, focus_overlap = weighted_share(weights, shared), weighted_share(focus_weights, shared)
            # "How much is the Sense Pro in euros": the kind of thing asked for is an amount in euros.
            in_unit = not units or figure_in_unit(sentence, units)
            typed = in_unit and counts and holds_answer_type(sentence, kinds, question)
            evidence.append(
                Evidence(
                    sentence,
                    hits[hit_rank],
                    hit_rank,
                    position,
                    0.0,
                    float(cosine),
                    overlap,
                    focus_overlap,
                    typed,
                )
            )
        return evidence

    def _counting(self, counted: str, sentences: list[str]) -> list[bool]:
        """Per sentence, whether one of its figures counts what the question counts: the same word, or
        one near it in meaning ("monitors": "up to 15 devices"; "floors": not "100 rooms")."""
        if not counted:
            return [True] * len(sentences)
        nouns = [figure_nouns(s) for s in sentences]
        unique = list(dict.fromkeys(n for found in nouns for n in found))
        if not unique:
            return [False] * len(sentences)
        # A figure's words one by one too: "25 Aerolume users" counts people, whatever "Aerolume" means.
        phrases = list(dict.fromkeys([*unique, *(w for n in unique for w in n.split())]))
        vectors = self.encode([counted, *phrases])
        similarity = dict(zip(phrases, vectors[1:] @ vectors[0], strict=True))
        stems = set(content_stems(counted))
        near = {
            n
            for n in unique
            if max(similarity[p] for p in [n, *n.split()]) >= self.settings.count_similarity
            or not stems.isdisjoint(content_stems(n))
        }
        return [not near.isdisjoint(found) for found in nouns]

    def _sentence_vectors(self, hit: Hit) -> np.ndarray:
        key = (hit.record.chunk_id, hit.record.text)
        with self._lock:
            vectors = self._vectors.get(key)
            if vectors is not None:
                self._vectors.move_to_end(key)
                return vectors
        vectors = self.encode(chunk_sentences(hit))
        with self._lock:
            self._vectors[key] = vectors
            while len(self._vectors) > self._cached_chunks:
                self._vectors.popitem(last=False)
        return vectors


def weighted_share(weights: dict[str, float], stems: set[str]) -> float:
    """The share of the weights (per question stem) whose stems are among `stems`."""
    return sum(w for stem, w in weights.items() if stem in stems) / (sum(weights.values()) or 1.0)


def section_name(hit: Hit) -> str:
    """The name of the section the chunk is in, or "" when its document has no sections."""
    sections = hit.record.heading_path.split(" > ")
    return sections[-1] if len(sections) > 1 else ""


def chunk_sentences(hit: Hit) -> list[str]:
    """The chunk's sentences, each led by its section's name when the document has sections: "45 days
    from delivery" or "Version 7.1.0: Home screen widgets" mean little, or lose the answer, without it."""
    heading = section_name(hit)
    return [
        f"{heading}: {s}" if heading and heading.lower() not in s.lower() else s
        for s in split_sentences(hit.record.text)
        if words(s)
    ]


def rank(evidence: list[Evidence], settings: EvidenceSettings) -> list[Evidence]:
    """Scored and sorted, best first: meaning, shared rare words, the asked-for kind, chunk order."""
    s = settings
    scored = [
        replace(
            e,
            score=e.cosine
            + s.lexical_weight * (e.overlap + e.focus_overlap) / 2
            + s.type_weight * e.typed
            - s.rank_weight * e.hit_rank,
        )
        for e in evidence
    ]
    return sorted(scored, key=lambda e: e.score, reverse=True)


def idf_weights(text: str, frequencies: DocumentFrequency, known_only: bool = False) -> dict[str, float]:
    """The IDF weight of each distinct content stem of `text`, by the knowledge base's frequencies.
    `known_only`: without the words no document has (a typo, "pasword"; the customer's own, "mum"),
    which no evidence can share."""
    stems = list(dict.fromkeys(content_stems(text)))
    df, documents = frequencies(stems)
    if known_only:
        stems = [stem for stem in stems if df.get(stem, 0)] or stems
    return {stem: math.log(1 + (documents + 1) / (df.get(stem, 0) + 0.5)) for stem in stems}


@dataclass(frozen=True)
class Verdict:
    answerable: bool
    reason: str  # why not, for logs and the evaluation's per-question file
    missing_terms: list[str]


@dataclass(frozen=True)
class AnswerabilitySettings:
    """Defaults fitted on the fit halves (bench/answer_tuning.py: most unanswerable and off-topic
    questions abstained while at least 93% of answerable ones keep an answer in each set)."""

    min_overlap: float = 0.1  # IDF-weighted share of the question's words the best evidence must have
    type_depth: int = 2  # how many of the best sentences may hold the asked-for kind of thing
    # "evidence": a key term the retrieved chunks never mention means no answer; "knowledge_base": only
    # when no document mentions it either (or a name of several words is nowhere together). Key terms
    # come from the sentences that ask, so a customer's own "30 classrooms" is not one.
    key_terms: str = "evidence"
    number_terms: bool = True  # numbers of the question are key terms ("a population of 17,786,914")
    adjacent_names: bool = False  # a name of several words must appear as written, not only in one sentence
    negation: bool = True  # a question with "not" needs evidence with a negation among the best sentences
    max_unmatched: float = 1.0  # IDF-weighted share of the question's words no retrieved chunk has
    opposites: bool = False  # "last" asked, only "first" in the best sentences: they answer another question
    # The best sentence's chunk must be about the knowledge base's names the question asks about ("the
    # hub"), or name nothing else in its title and headings: the Sense guide's range is not the Hub's.
    subject: bool = True


COMMON_SHARE = 0.2  # a name word in more than this share of chunks ("Aerolume") is no key term
# Words whose opposite in the evidence, with the word itself absent, means the evidence says something else.
OPPOSITES = dict(
    pair
    for a, b in [
        ("first", "last"),
        ("earliest", "latest"),
        ("largest", "smallest"),
        ("biggest", "smallest"),
        ("highest", "lowest"),
        ("most", "least"),
        ("more", "less"),
        ("before", "after"),
        ("increase", "decrease"),
        ("increased", "decreased"),
        ("north", "south"),
        ("east", "west"),
        ("northern", "southern"),
        ("eastern", "western"),
        ("major", "minor"),
        ("maximum", "minimum"),
        ("older", "newer"),
        ("oldest", "newest"),
        ("earlier", "later"),
        ("upper", "lower"),
        ("inner", "outer"),
        ("positive", "negative"),
        ("won", "lost"),
        ("longest", "shortest"),
        ("best", "worst"),
        ("above", "below"),
        ("inside", "outside"),
        ("private", "public"),
    ]
    for pair in ((a, b), (b, a))
)
NEGATION = re.compile(r"\b(?:not|never|no|none|neither|nor|without)\b|n't\b", re.I)
# A question asking for the thing that does *not* do something ("What is not used ...", "How are the
# measures not defined?", "a task that is not solvable"): the negation is in the clause its question
# word opens, relative clauses included. A negation elsewhere tells what happened, not what is asked
# ("it does not connect, what should I do", "which header stops a retry so it does not create the rule
# twice"). "No" is a determiner in questions ("no alert came, how long ..."), and a bracket is an aside
# ("the sense (not pro)"), and "do-not-disturb" is a name: none of them negates. Nor does the
# customer's own negation ("how many days to send back a monitor i don't like"): it tells their case.
NEGATED_QUESTION = re.compile(r"(?<![(-])\b(?:not|never)\b(?!-)|n[\u2019']t\b", re.I)
FIRST_PERSON_NEGATION = re.compile(
    r"\b(?:i|we)(?:[\u2019'](?:m|re))?\s+(?:\w+n[\u2019']t\b|(?:\w+\s+)?(?:not|never)\b)", re.I
)
SUBORDINATOR = r"if|when|whenever|so|because|since|while|after|before|although|unless|even"
CLAUSE_BREAK = re.compile(rf"[,;:.!?]|\b(?:{SUBORDINATOR}|and|but)\b", re.I)
# "so when my script retries": a question word after a subordinator opens no question.
SUBORDINATED = re.compile(rf"\b(?:{SUBORDINATOR})\s+$", re.I)


def negated_question(question: str) -> bool:
    """Whether the question asks about what is *not* so (a negation in a question word's clause)."""
    for asked in QUESTION_WORD.finditer(question):
        if SUBORDINATED.search(question[: asked.start()]):
            continue
        rest = question[asked.end() :]
        clause = rest[: m.start()] if (m := CLAUSE_BREAK.search(rest)) else rest
        if NEGATED_QUESTION.search(FIRST_PERSON_NEGATION.sub("", clause)):
            return True
    return False


@dataclass(frozen=True)
class TermCheck:
    term: str
    number: bool
    several_words: bool
    in_one_sentence: bool  # a number found, or every word of a name in one sentence of the hits
    as_written: bool  # found verbatim (case-insensitive) in the hits
    in_knowledge_base: bool  # every word is in some chunk of the knowledge base


@dataclass(frozen=True)
class Signals:
    """What the evidence shows about a question, before any threshold is applied."""

    terms: list[TermCheck]
    first_typed: int  # rank of the first evidence sentence holding the asked-for kind (len: none)
    first_in_unit: int  # rank of the first sentence using the unit asked for (0: none asked)
    first_negated: int  # rank of the first sentence with a negation, when the question has one (0: none)
    best_overlap: float
    unmatched: float
    first_agreeing: int  # rank of the first sentence not stating the opposite of a question's word
    best_off_subject: bool  # the best sentence's chunk is about something else the documents name


def signals(
    question: str,
    evidence: list[Evidence],
    hits: list[Hit],
    frequencies: DocumentFrequency,
    names: frozenset[str] = frozenset(),
) -> Signals:
    """`names`: what the knowledge base has sections about (`KnowledgeIndex.subject_names`)."""
    units = asked_unit(question)
    subject = asked_names(question, names, frequencies)
    return Signals(
        terms=check_terms(distinctive_terms(key_terms(question), frequencies), hits, frequencies),
        first_typed=_first(evidence, lambda e: e.typed),
        first_in_unit=_first(evidence, lambda e: figure_in_unit(e.sentence, units)) if units else 0,
        first_negated=_first(evidence, lambda e: bool(NEGATION.search(e.sentence)))
        if negated_question(question)
        else 0,
        best_overlap=_best_overlap(question, evidence, frequencies),
        unmatched=unmatched_share(question, hits, frequencies),
        first_agreeing=_first(evidence, lambda e: not _opposed(question, e.sentence)),
        # Only the best sentence is judged (see `decide`): its chunk is stemmed once, not every chunk's.
        best_off_subject=bool(subject and evidence) and not about(evidence[0].hit, subject, question, names),
    )


def asked_names(question: str, names: frozenset[str], frequencies: DocumentFrequency) -> list[str]:
    """The knowledge base's names that the sentences asking mention, however they are written ("the
    hub"), except in a clause where the customer speaks of themselves ("i'm in germany, how much...")
    and except names too common to tell chunks apart ("Aerolume")."""
    clauses = [c for s in asking_sentences(question) for c in CLAUSE_BREAK.split(s) if c]
    asked = [
        w.lower()
        for c in clauses
        if not FIRST_PERSON.search(c)
        for w in words(c)
        if len(w) > 2 and w.lower() in names
    ]
    return distinctive_terms(list(dict.fromkeys(asked)), frequencies)


def about(hit: Hit, asked: list[str], question: str, names: frozenset[str]) -> bool:
    """Whether a chunk can speak of the names asked: it mentions one of them, or its title and headings
    name nothing the question does not (a returns policy speaks of every device; the Sense guide's
    operating range is not the Hub's)."""
    record = hit.record
    # A name matches the stems it begins: "hub" the "Hubs", "german" "Germany", "county" "counties".
    stems = set(content_stems(f"{record.title} {record.heading_path} {record.text}"))
    if any(stem.startswith(name) for name in content_stems(" ".join(asked)) for stem in stems):
        return True
    headings = {w.lower() for w in words(f"{record.title} {record.heading_path}")} & names
    return not headings - {w.lower() for w in words(question)}


def _best_overlap(question: str, evidence: list[Evidence], frequencies: DocumentFrequency) -> float:
    """The best sentence's share of the question's weighted words, of the words the knowledge base
    has: a chatty question's typos and own words would dilute it."""
    if not evidence:
        return 0.0
    weights = idf_weights(question, frequencies, known_only=True)
    return weighted_share(weights, set(content_stems(evidence[0].sentence)))


def sentence_body(e: Evidence) -> str:
    """The sentence without the section name `chunk_sentences` put before it."""
    return without_section(e.sentence, e.hit)


def without_section(text: str, hit: Hit) -> str:
    """Text of the hit without the section name `chunk_sentences` leads its sentences with."""
    heading = section_name(hit)
    return text.removeprefix(f"{heading}: ") if heading else text


def _opposed(question: str, sentence: str) -> bool:
    """The sentence has the opposite of a word of the question, and not the word itself."""
    asked = {w.lower() for w in words(question)}
    stated = {w.lower() for w in words(sentence)}
    return any(w in OPPOSITES and w not in stated and OPPOSITES[w] in stated for w in asked)


def _first(evidence: list[Evidence], test: Callable[[Evidence], bool]) -> int:
    return next((i for i, e in enumerate(evidence) if test(e)), len(evidence))


def decide(found: Signals, settings: AnswerabilitySettings) -> Verdict:
    """Answerable unless a key term, the asked-for kind, unit or negation, or the question's words are
    missing from the evidence."""
    missing = [t.term for t in found.terms if _missing(t, settings)]
    if missing:
        return Verdict(False, "key terms absent from the evidence", missing)
    if found.first_typed >= settings.type_depth:
        return Verdict(False, "no evidence holds the kind of thing asked for", [])
    # The best sentence leads the answer: "$85" does not answer "in euros" even beside a "€13" elsewhere.
    if found.first_in_unit > 0:
        return Verdict(False, "the best evidence gives no figure in the unit asked for", [])
    if settings.negation and found.first_negated >= settings.type_depth:
        return Verdict(False, "the question is negated and the evidence is not", [])
    if settings.opposites and found.first_agreeing >= settings.type_depth:
        return Verdict(False, "the evidence states the opposite of what is asked", [])
    # Like the unit: the best sentence leads the answer, so it must be about what is asked.
    if settings.subject and found.best_off_subject:
        return Verdict(False, "the best evidence is about something else the documents name", [])
    if found.best_overlap < settings.min_overlap:
        return Verdict(False, "the best evidence shares too few of the question's words", [])
    if found.unmatched > settings.max_unmatched:
        return Verdict(False, "the retrieved passages lack too many of the question's words", [])
    return Verdict(True, "", [])


def _missing(term: TermCheck, settings: AnswerabilitySettings) -> bool:
    if term.number and not settings.number_terms:
        return False
    present = term.as_written or (
        term.in_one_sentence and not (term.several_words and settings.adjacent_names)
    )
    if present:
        return False
    # A single word some document has may just be missing from what was retrieved.
    return settings.key_terms == "evidence" or term.several_words or not term.in_knowledge_base


def judge(
    question: str,
    evidence: list[Evidence],
    hits: list[Hit],
    settings: AnswerabilitySettings,
    frequencies: DocumentFrequency,
    names: frozenset[str] = frozenset(),
) -> Verdict:
    """Whether the evidence can answer the question."""
    if not evidence:
        return Verdict(False, "no evidence", [])
    return decide(signals(question, evidence, hits, frequencies, names), settings)


# A figure, and a word that may qualify the unit after it ("3 business days", "20 working days").
FIGURE_BEFORE_UNIT = rf"(?:\d|\b(?:{NUMBER_WORDS}))[\s-]?(?:(?!per\b)[a-z]+[\s-])?"


def figure_in_unit(sentence: str, spellings: tuple[str, ...]) -> bool:
    """Whether the sentence states a figure in the unit ("€95", "95 EUR", "-75 dBm", "a 5-year
    coverage"); a unit named without a figure ("billed in euros") answers no "how much in euros"."""
    for spelling in spellings:
        unit = re.escape(spelling) if not spelling.isalpha() else rf"{re.escape(spelling)}s?\b"
        if re.search(rf"{FIGURE_BEFORE_UNIT}{unit}|(?<![a-z]){unit}\s?\d", sentence, re.I):
            return True
    return False


def distinctive_terms(terms: list[str], frequencies: DocumentFrequency) -> list[str]:
    """The terms, without name words so common in the knowledge base that they tell nothing apart."""
    stems = {term: content_stems(term) for term in terms}
    df, documents = frequencies([stem for found in stems.values() for stem in found])
    limit = COMMON_SHARE * max(documents, 1)
    kept = []
    for term in terms:
        if any(c.isdigit() for c in term):
            kept.append(term)
            continue
        rare = [w for w in term.split() if all(df.get(st, 0) <= limit for st in content_stems(w))]
        if rare:
            kept.append(" ".join(rare))
    return kept


def check_terms(terms: list[str], hits: list[Hit], frequencies: DocumentFrequency) -> list[TermCheck]:
    """Where each key term is found: numbers compared as numbers; a name of several words in one
    sentence ("Apple" and "Watch" apart is not the Apple Watch) or as written."""
    texts = [f"{h.record.title}. {h.record.heading_path}. {h.record.text}" for h in hits]
    numbers = set().union(*(numbers_in(t) for t in texts))
    sentences = [set(content_stems(s)) for t in texts for s in [*split_sentences(t), t.split(".")[0]]]
    lowered = " ".join(texts).lower()
    checks = []
    for term in terms:
        stems = content_stems(term)
        df, _ = frequencies(stems)
        number = any(c.isdigit() for c in term)
        if number:
            together = bool(numbers_in(term) & numbers)
        else:
            together = bool(stems) and any(set(stems) <= sentence for sentence in sentences)
        checks.append(
            TermCheck(
                term=term,
                number=number,
                several_words=" " in term,
                in_one_sentence=together,
                as_written=term.lower() in lowered,
                in_knowledge_base=bool(stems) and all(df.get(stem, 0) > 0 for stem in stems),
            )
        )
    return checks


def unmatched_share(question: str, hits: list[Hit], frequencies: DocumentFrequency) -> float:
    """IDF-weighted share of the question's words that none of the hits contains."""
    weights = idf_weights(question, frequencies)
    present = set(content_stems(" ".join(f"{h.record.heading_path} {h.record.text}" for h in hits)))
    return 1 - weighted_share(weights, present)
