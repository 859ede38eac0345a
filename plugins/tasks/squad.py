"""SQuAD v1.1 extractive QA: reading the JSON, a deterministic split by article, windows with stride over
long contexts, span decoding back to character offsets, and the v1.1 exact-match and F1 metrics.

The metric follows the definition of the SQuAD v1.1 evaluation (written here from that definition):
an answer is normalised by lower-casing, removing punctuation, removing the articles a / an / the, and
collapsing whitespace; EM is 1 when the normalised prediction equals a normalised gold answer; F1 is the
harmonic mean of precision and recall of the bag of normalised tokens; both take the best over the gold
answers of a question and are averaged over questions (reported as fractions, not percent).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from framework import DataError
from plugins.tasks.text_data import check_path

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)

Offsets = list[tuple[int, int]]  # (char start, char end) of each token in its text


@dataclass
class SquadExample:
    """One question about one paragraph, with its gold answers (text and character start)."""

    qid: str
    article: int  # index of its article in the file
    context: str
    question: str
    answers: list[str]
    answer_starts: list[int]


@dataclass
class Window:
    """One model input: a question and a slice of its context's tokens, with labels and the way back to text.

    input layout: [cls] question [sep] context tokens[token_start:token_end] [sep]
    """

    example: int  # index of the example in its split
    input_ids: list[int]
    context_offset: int  # input position of the first context token of the window
    token_start: int  # first context token in the window
    token_end: int  # one past the last context token in the window
    start: int  # input position of the answer's first token; 0 ([cls]) when the answer is not inside
    end: int  # input position of the answer's last token; 0 when the answer is not inside


# -- reading -----------------------------------------------------------------------------------------


def read_squad(path: Path | str) -> list[list[SquadExample]]:
    """Examples of a SQuAD v1.1 JSON file, grouped by article in file order; errors name the problem."""
    check_path(str(path), "task.squad_path")
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"SQuAD file not found: {path}; set task.squad_path (or data_root)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{path}: not a SQuAD v1.1 JSON file ({err}); expected {{'data': [articles]}}") from None
    articles: list[list[SquadExample]] = []
    for a, article in enumerate(data):
        examples = []
        for p, para in enumerate(article.get("paragraphs", [])):
            context = para["context"]
            for qa in para.get("qas", []):
                answers = [x["text"] for x in qa.get("answers", [])]
                starts = [int(x["answer_start"]) for x in qa.get("answers", [])]
                if not answers:
                    raise DataError(f"{path}: question {qa.get('id')} (article {a}, paragraph {p}) has no answers")
                examples.append(SquadExample(str(qa["id"]), a, context, qa["question"], answers, starts))
        articles.append(examples)
    return articles


def split_articles(
    articles: list[list[SquadExample]], train_fraction: float
) -> tuple[list[SquadExample], list[SquadExample]]:
    """(train, held-out): the first `train_fraction` of the articles (in file order) and the rest."""
    if not 0.0 < train_fraction < 1.0:
        raise DataError(f"task.squad_train_fraction={train_fraction}: must be between 0 and 1 (exclusive)")
    cut = max(1, min(len(articles) - 1, int(round(len(articles) * train_fraction))))
    train = [ex for art in articles[:cut] for ex in art]
    held = [ex for art in articles[cut:] for ex in art]
    return train, held


# -- windows -----------------------------------------------------------------------------------------


def answer_tokens(offsets: Offsets, char_start: int, char_end: int) -> tuple[int, int] | None:
    """(first, last) token index covering characters [char_start, char_end), or None if no token does."""
    first = next((i for i, (s, e) in enumerate(offsets) if e > char_start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < char_end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def make_windows(
    example: int,
    question_ids: list[int],
    context_ids: list[int],
    answer: tuple[int, int] | None,
    *,
    cls_id: int,
    sep_id: int,
    max_length: int,
    stride: int,
    max_question_length: int,
) -> list[Window]:
    """Windows of at most `max_length` inputs over the context, starting every `stride` context tokens, until
    one reaches the end; `answer` is (first, last) context token of the gold answer, labelled where inside."""
    question = list(question_ids[:max_question_length])
    room = max_length - len(question) - 3
    if room < 1:
        raise DataError(f"task.max_length={max_length} leaves no room for context after the question; raise it")
    if stride < 1 or stride > room:
        raise DataError(f"task.doc_stride={stride}: must be between 1 and the context room per window ({room})")
    windows = []
    begin = 0
    while True:
        end = min(begin + room, len(context_ids))
        offset = len(question) + 2
        start = stop = 0
        if answer is not None and begin <= answer[0] and answer[1] < end:
            start, stop = answer[0] - begin + offset, answer[1] - begin + offset
        ids = [cls_id, *question, sep_id, *context_ids[begin:end], sep_id]
        windows.append(Window(example, ids, offset, begin, end, start, stop))
        if end >= len(context_ids):
            return windows
        begin += stride


def best_spans(start_logits: Tensor, end_logits: Tensor, context: Tensor, max_answer_length: int) -> tuple[Tensor, ...]:
    """(score, first, last) input positions (B,) each of the best span per row: both ends on context positions
    (`context` (B, T) bool), first <= last, at most `max_answer_length` tokens; score = start + end logit.
    Exact (all pairs in the band are scored). A row without context gets score -inf."""
    t = start_logits.shape[1]
    pos = torch.arange(t, device=start_logits.device)
    band = (pos[None, :] >= pos[:, None]) & (pos[None, :] - pos[:, None] < max_answer_length)  # (T, T): j >= i
    ok = band[None] & context[:, :, None] & context[:, None, :]  # (B, T, T)
    scores = start_logits.float()[:, :, None] + end_logits.float()[:, None, :]
    scores = scores.masked_fill(~ok, float("-inf")).flatten(1)
    best, flat = scores.max(dim=1)
    return best, flat // t, flat % t


# -- metrics -----------------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower-case, drop punctuation, drop articles a/an/the, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-bag F1 of the normalised strings (0.0 when they share no token)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(prediction: str, golds: list[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction: the best over the gold answers."""
    return max(exact_match(prediction, g) for g in golds), max(f1_score(prediction, g) for g in golds)
