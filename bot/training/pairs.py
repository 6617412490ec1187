"""Training pairs from the bank and farmers' feedback, the held-out split, and their export.

Every row is an (anchor, positive[, negative]) example for MultipleNegativesRankingLoss:

- each QA pair: question → answer, every alternate phrasing → answer and → question;
- Q→Q between phrasings: each alternate → the next alternate of its pair, so a pair's
  wordings gather round each other, not only round the main question;
- Singlish: a romanized spelling of the question and of each alternate (one habit each,
  in turn) → the question, so a message typed in Latin letters lands near its pair;
- farmer variants (`bot/training/augment.py`): each phrasing with a keyboard slip, inside
  a long greeting, cut to a few words, or with English terms → the question;
- farmers' wordings that admins linked or answered, and "did you mean" choices, are
  phrasings of their pair (the review queue stores them), so they become rows the same way;
- 👍 feedback and chosen suggestions add the farmer's own wording, if the pair lacks it;
- 👎 feedback, suggestions offered but not chosen, and "none of these" become hard
  negatives of rows whose anchor is that farmer's wording.

The held-out split is made by QA pair (a stable hash of pair id and seed), so no
question or answer of a held-out pair is ever trained on, however the bank grows.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.retrieval.decision import SUGGESTION_COUNT
from bot.storage import bank
from bot.storage.models import Feedback, FeedbackKind, QAPair, QuestionLog
from bot.text.normalize import normalize, normalize_key
from bot.text.romanize import STYLES, romanize
from bot.training.augment import farmer_variants

TO_ANSWER = "answer"  # the positive is an answer: encoded with the passage prompt
TO_QUESTION = "question"  # the positive is a bank question: query prompt, as the bot matches
EXPORT_COLUMNS = (
    "sentence_0",
    "sentence_1",
    "sentence_2",
    "label",
    "kind",
    "source",
    "pair_id",
    "negative_pair_id",
    "split",
)


@dataclass(frozen=True)
class TrainingPair:
    """One example: `anchor` should land nearer `positive` than any other text in its batch."""

    anchor: str
    positive: str
    kind: str  # TO_ANSWER or TO_QUESTION
    source: str  # question, bank, admin, linked, suggestion, helpful, chose_suggestion
    pair_id: int
    negative: str | None = None
    negative_pair_id: int | None = None


@dataclass(frozen=True)
class RowKinds:
    """Which extra kinds of rows to build beside question/alternate → answer/question.

    Both measured on the eval's dev split (README, ablation table).
    """

    question_to_question: bool = True
    romanized: bool = True
    farmer_variants: bool = True  # made-up typos, long and short messages, English terms


@dataclass(frozen=True)
class TrainingSplit:
    """Rows to train on, rows held out (whole QA pairs), and every pair's question."""

    train: list[TrainingPair]
    heldout: list[TrainingPair]
    questions: dict[int, str]  # pair id -> normalized question: the IR corpus
    heldout_pair_ids: list[int]
    seed: int
    holdout: float
    unused_negatives: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    answers: dict[int, str] = field(default_factory=dict)  # pair id -> normalized answer


def build_pairs(
    session: Session, kinds: RowKinds = RowKinds()
) -> tuple[list[TrainingPair], dict[int, str], int]:
    """Every training row from the bank and feedback, the pairs' questions, unused negatives."""
    pairs = bank.list_pairs(session)
    by_id = {pair.id: pair for pair in pairs}
    rows: list[TrainingPair] = []
    texts: dict[int, set[str]] = {}
    for pair in pairs:
        rows.extend(_bank_rows(pair, kinds))
        texts[pair.id] = {normalize_key(text) for text in pair.texts}
    rows = _without_shared_made_up_anchors(rows)
    positives, negatives = _feedback(session, by_id)
    for (key, pair_id), (text, source) in positives.items():
        if key in texts[pair_id]:
            continue  # already a phrasing (e.g. an admin linked it): its rows exist
        texts[pair_id].add(key)
        rows.extend(_rows_for(by_id[pair_id], text, source))
    rows, unused = _attach_negatives(rows, negatives, by_id)
    questions = {pair.id: normalize(pair.question) for pair in pairs}
    return rows, questions, unused


def split_pairs(
    rows: Sequence[TrainingPair],
    questions: dict[int, str],
    *,
    holdout: float = 0.1,
    seed: int = 42,
    unused_negatives: int = 0,
    answers: dict[int, str] | None = None,
) -> TrainingSplit:
    """Hold out about `holdout` of the QA pairs, chosen by a hash of pair id and `seed`.

    The choice of a pair never depends on the others, so adding pairs later keeps the
    earlier held-out pairs held out. Negatives taken from held-out pairs are dropped
    from training rows, so no held-out text is seen in training even as a negative.
    """
    held = {pair_id for pair_id in questions if is_heldout(pair_id, seed, holdout)}
    train = [
        row
        if row.negative_pair_id not in held
        else replace(row, negative=None, negative_pair_id=None)
        for row in rows
        if row.pair_id not in held
    ]
    heldout = [row for row in rows if row.pair_id in held]
    counts = dict(Counter(f"{row.source}->{row.kind}" for row in train))
    counts.update(
        train_rows=len(train),
        heldout_rows=len(heldout),
        hard_negatives=sum(row.negative is not None for row in train),
        pairs=len(questions),
        heldout_pairs=len(held),
    )
    return TrainingSplit(
        train,
        heldout,
        dict(questions),
        sorted(held),
        seed,
        holdout,
        unused_negatives,
        counts,
        dict(answers or {}),
    )


def is_heldout(pair_id: int, seed: int, holdout: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < holdout


def collect_split(
    session: Session, *, holdout: float = 0.1, seed: int = 42, kinds: RowKinds = RowKinds()
) -> TrainingSplit:
    """Build every row from the database and split it by QA pair."""
    rows, questions, unused = build_pairs(session, kinds)
    answers = {pair.id: normalize(pair.answer) for pair in bank.list_pairs(session)}
    return split_pairs(
        rows, questions, holdout=holdout, seed=seed, unused_negatives=unused, answers=answers
    )


def write_training_file(split: TrainingSplit, path: Path) -> int:
    """Write train and held-out rows as .csv or .jsonl (`sentence_0`, `sentence_1`, `label`...).

    `sentence_2` is the hard negative (empty when none); `kind` says which prompt the
    positive takes (answer: "passage: ", question: "query: "); `split` keeps the held-out
    pairs apart for whoever trains elsewhere. Returns the number of rows written.
    """
    records = [_record(row, "train") for row in split.train]
    records += [_record(row, "heldout") for row in split.heldout]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".jsonl":
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(
                {k: "" if v is None else v for k, v in record.items()} for record in records
            )
    else:
        raise ValueError(f"{path}: export to .csv or .jsonl")
    return len(records)


def read_training_file(path: Path) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """Read a file written by `write_training_file` back as (train, held-out) rows."""
    if path.suffix.lower() == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    else:
        with path.open(encoding="utf-8", newline="") as source:
            records = list(csv.DictReader(source))
    train: list[TrainingPair] = []
    heldout: list[TrainingPair] = []
    for record in records:
        row = TrainingPair(
            anchor=record["sentence_0"],
            positive=record["sentence_1"],
            kind=record["kind"],
            source=record["source"],
            pair_id=int(record["pair_id"]),
            negative=record.get("sentence_2") or None,
            negative_pair_id=_optional_int(record.get("negative_pair_id")),
        )
        (heldout if record["split"] == "heldout" else train).append(row)
    return train, heldout


# Building rows ------------------------------------------------------------------------


def _bank_rows(pair: QAPair, kinds: RowKinds = RowKinds()) -> list[TrainingPair]:
    question, answer = normalize(pair.question), normalize(pair.answer)
    rows = [TrainingPair(question, answer, TO_ANSWER, "question", pair.id)]
    seen = {normalize_key(pair.question)}
    alternates = []
    for phrasing in pair.phrasings:
        key = normalize_key(phrasing.text)
        if key in seen or not normalize(phrasing.text):
            continue
        seen.add(key)
        alternates.append(normalize(phrasing.text))
        rows.extend(_rows_for(pair, phrasing.text, phrasing.origin))
    if kinds.question_to_question and len(alternates) > 1:
        for number, text in enumerate(alternates):
            following = alternates[(number + 1) % len(alternates)]
            rows.append(TrainingPair(text, following, TO_QUESTION, "alternate", pair.id))
    if kinds.romanized:
        for number, text in enumerate([question, *alternates]):
            latin = romanize(text, STYLES[(pair.id + number) % len(STYLES)])
            if latin != text:
                rows.append(TrainingPair(latin, question, TO_QUESTION, "romanized", pair.id))
    if kinds.farmer_variants:
        for text in farmer_variants([question, *alternates], seed=pair.id):
            anchor = normalize(text)
            if anchor and normalize_key(anchor) not in seen | {normalize_key(question)}:
                rows.append(TrainingPair(anchor, question, TO_QUESTION, "variant", pair.id))
    return rows


MADE_UP = ("romanized", "variant")  # anchors made from bank text, not written by people


def _without_shared_made_up_anchors(rows: list[TrainingPair]) -> list[TrainingPair]:
    """Drop made-up anchors that two pairs share ("3½ මාසේ වී" cut from two questions):
    one text cannot be the positive of both."""
    owners: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        owners[normalize_key(row.anchor)].add(row.pair_id)
    return [
        row
        for row in rows
        if row.source not in MADE_UP or len(owners[normalize_key(row.anchor)]) == 1
    ]


def _rows_for(pair: QAPair, text: str, source: str) -> list[TrainingPair]:
    anchor = normalize(text)
    return [
        TrainingPair(anchor, normalize(pair.answer), TO_ANSWER, source, pair.id),
        TrainingPair(anchor, normalize(pair.question), TO_QUESTION, source, pair.id),
    ]


def _feedback(
    session: Session, pairs: dict[int, QAPair]
) -> tuple[dict[tuple[str, int], tuple[str, str]], dict[str, list[int]]]:
    """Farmers' wordings confirmed for a pair, and the pairs each wording was wrongly given."""
    positives: dict[tuple[str, int], tuple[str, str]] = {}
    negatives: dict[str, list[int]] = defaultdict(list)
    query = (
        select(Feedback, QuestionLog)
        .join(QuestionLog, Feedback.question_id == QuestionLog.id)
        .order_by(Feedback.id)
    )
    for feedback, log in session.execute(query):
        text = log.normalized_text or normalize(log.raw_text)
        key = normalize_key(text)
        if not key:
            continue
        offered = [c["pair_id"] for c in (log.candidates or [])[:SUGGESTION_COUNT]]
        kind = feedback.kind
        if kind in (FeedbackKind.HELPFUL, FeedbackKind.CHOSE_SUGGESTION):
            # a chosen suggestion teaches only once an officer approved the wording
            chosen = pairs.get(feedback.pair_id) if feedback.pair_id is not None else None
            approved = kind == FeedbackKind.HELPFUL or key in _approved_keys(chosen)
            if feedback.pair_id in pairs and approved:
                positives.setdefault((key, feedback.pair_id), (text, str(kind)))
            if kind == FeedbackKind.CHOSE_SUGGESTION:
                negatives[key].extend(p for p in offered if p != feedback.pair_id)
        elif kind == FeedbackKind.NOT_HELPFUL:
            wrong = feedback.pair_id if feedback.pair_id is not None else log.top_pair_id
            if wrong is not None:
                negatives[key].append(wrong)
        elif kind == FeedbackKind.REJECTED_SUGGESTIONS:
            negatives[key].extend(offered)
            if feedback.pair_id is not None:
                negatives[key].append(feedback.pair_id)
    return positives, negatives


def _approved_keys(pair: QAPair | None) -> set[str]:
    """The keys of a pair's question and approved phrasings."""
    if pair is None:
        return set()
    return {normalize_key(pair.question), *(normalize_key(p.text) for p in pair.phrasings)}


def _attach_negatives(
    rows: list[TrainingPair], negatives: dict[str, list[int]], pairs: dict[int, QAPair]
) -> tuple[list[TrainingPair], int]:
    """Give rows whose anchor was wrongly answered a negative; count negatives left unused.

    A negative needs a positive for the same wording (MNRL learns from triplets), so a 👎
    helps once an admin links that question or the farmer picks the right suggestion.
    """
    wrong = {key: [p for p in dict.fromkeys(ids) if p in pairs] for key, ids in negatives.items()}
    turn: Counter[str] = Counter()
    used: set[tuple[str, int]] = set()
    out = []
    for row in rows:
        key = normalize_key(row.anchor)
        choices = [p for p in wrong.get(key, []) if p != row.pair_id]
        if not choices:
            out.append(row)
            continue
        negative_id = choices[turn[key] % len(choices)]
        turn[key] += 1
        used.add((key, negative_id))
        negative = pairs[negative_id]
        text = negative.answer if row.kind == TO_ANSWER else negative.question
        out.append(replace(row, negative=normalize(text), negative_pair_id=negative_id))
    total = {(key, p) for key, ids in wrong.items() for p in ids}
    return out, len(total - used)


def _record(row: TrainingPair, split: str) -> dict[str, object]:
    record = asdict(row)
    return {
        "sentence_0": record["anchor"],
        "sentence_1": record["positive"],
        "sentence_2": record["negative"],
        "label": 1.0,
        "kind": row.kind,
        "source": row.source,
        "pair_id": row.pair_id,
        "negative_pair_id": row.negative_pair_id,
        "split": split,
    }


def _optional_int(value: str | int | None) -> int | None:
    return None if value in (None, "") else int(value)


def texts_of(rows: Iterable[TrainingPair]) -> set[str]:
    """Every text the rows contain (anchors, positives and negatives)."""
    return {text for row in rows for text in (row.anchor, row.positive, row.negative) if text}
