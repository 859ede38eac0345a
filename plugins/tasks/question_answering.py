"""Question answering (`task=question_answering`): bAbI stories (answer selection) and SQuAD-style extractive spans.

task.format=babi: story + question -> one answer out of the answer vocabulary (spec.labels). Metrics: loss,
    accuracy, error_qa<N> per bAbI task, mean_error, tasks_passed (error <= 5%). Validation is a held-out
    `val_ratio` of each task's training stories; test is the qa*_test.txt files.
task.format=squad: question + context window -> start/end logits; windows with stride over long contexts, the
    best span (at most `max_answer_length` tokens) over all windows of a question, mapped back to characters.
    Metrics: loss, exact_match, f1 (SQuAD v1.1 normalisation, as fractions). Only the dev file exists here, so
    train/val split it by article: the first `squad_train_fraction` of the articles train, the rest validate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import (
    QUESTION_ANSWERING,
    TASKS,
    Batch,
    ComponentConfig,
    DataError,
    PlaitError,
    Task,
    TaskSpec,
    TokenizerFactory,
    model_device,
    special_token_ids,
)
from plugins.tasks import babi, squad
from plugins.tasks.batching import bucketed_batches, pad

FORMATS = ("babi", "squad")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_LINE_ID = re.compile(r"^\s*\d+\s+")


@dataclass
class QuestionAnsweringConfig(ComponentConfig):
    """Where the QA data is and how stories / windows are cut."""

    format: str = "babi"  # babi (story + question -> answer word) | squad (extractive spans, SQuAD v1.1 JSON)
    babi_root: Optional[str] = None  # folder holding en/ (1k) and en-10k/ (10k), e.g. ${data_root}/babi
    babi_size: str = "1k"  # 1k | 10k | a path to a folder of qa<N>_*_{train,test}.txt files
    babi_tasks: list[int] = field(default_factory=lambda: [1])  # bAbI tasks 1..20 trained and scored jointly
    memory_size: int = 50  # babi: the most recent statements of the story kept per question
    max_sentence_length: int = 20  # babi: tokens kept per story sentence
    max_question_length: int = 32  # tokens kept per question (both formats)
    squad_path: Optional[str] = None  # squad: a SQuAD v1.1 JSON file, e.g. ${data_root}/squad/dev-v1.1.json
    squad_train_fraction: float = 0.8  # squad: the first share of articles trains, the rest is val
    squad_test_path: Optional[str] = None  # squad: optional separate file evaluated as split=test
    max_length: int = 256  # squad: input tokens per window ([cls] question [sep] context [sep])
    doc_stride: int = 128  # squad: context tokens between the starts of consecutive windows
    max_answer_length: int = 30  # squad: longest predicted answer, in tokens
    val_ratio: float = 0.1  # babi: share of each task's training stories held out for validation
    seed: int = 1234  # seed of the babi train/val split


def _never() -> Iterable[str]:
    raise PlaitError("the saved tokenizer of this run is missing; inference cannot retrain it")


def story_sentences(context: str) -> list[str]:
    """Statements of a story typed by a person: one per line or per sentence end; leading bAbI ids dropped."""
    parts = [_LINE_ID.sub("", p).strip() for p in _SENTENCE_END.split(context)]
    return [p for p in parts if p]


@dataclass
class _BabiData:
    """Token ids of one bAbI split: per story its sentences, per question its ids, answer, task and context."""

    stories: list[list[np.ndarray]]
    question_ids: list[np.ndarray]
    story: np.ndarray
    n_context: np.ndarray
    answers: np.ndarray  # answer class id, -1 when the answer is not in the answer vocabulary
    tasks: np.ndarray


@dataclass
class _SquadData:
    """Windows of one SQuAD split and its examples (indices into the task's global example list)."""

    windows: list[squad.Window]
    examples: list[int]


class QuestionAnsweringTask(Task):
    """bAbI answer selection or SQuAD span extraction (task.format); see the module docstring."""

    throughput_unit = "samples"

    def __init__(self, cfg: QuestionAnsweringConfig) -> None:
        if cfg.format not in FORMATS:
            raise PlaitError(f"task.format={cfg.format} is not known; choose one of {', '.join(FORMATS)}")
        self.cfg = cfg
        self.answers: list[str] = []
        self._raw: dict[str, Any] = {}  # split -> babi.BabiSplit | list[SquadExample], read but not featurised
        self._babi: dict[str, _BabiData] = {}
        self._squad: dict[str, _SquadData] = {}
        self._examples: list[squad.SquadExample] = []  # every featurised SQuAD example, all splits
        self._offsets: list[squad.Offsets] = []  # context token offsets per example in _examples
        self._details: dict[str, Any] = {}

    # -- setup and restore ---------------------------------------------------------------------------

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Read the training data, train (or reload) the tokenizer, fix the answer vocabulary (babi)."""
        if self.cfg.format == "babi":
            data = babi.read_babi(self._babi_dir(), self.cfg.babi_tasks, "train")
            train, val = babi.split_by_story(data, self.cfg.val_ratio, self.cfg.seed)
            self._raw = {"train": train, "val": val}
            self.answers = sorted({q.answer for q in data.questions})
            texts = lambda: [s for st in data.stories for s in st.sentences] + [q.text for q in data.questions]  # noqa: E731
        else:
            train, val = squad.split_articles(self._squad_articles(self.cfg.squad_path), self.cfg.squad_train_fraction)
            self._raw = {"train": train, "val": val}
            self.answers = []
            texts = lambda: sorted({ex.context for ex in train}) + [ex.question for ex in train]  # noqa: E731
        self._set_tokenizer(tokenizer_factory("text", texts))
        return self._spec()

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """Rebuild for inference from the saved spec and tokenizer; reads no training data."""
        fmt = spec.extra.get("format", self.cfg.format)
        if fmt != self.cfg.format:
            raise PlaitError(f"the run was trained with task.format={fmt}; do not override it")
        self.answers = list(spec.labels)
        self._set_tokenizer(tokenizer_factory("text", _never))

    def _set_tokenizer(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_id
        if self.cfg.format == "squad":
            if not callable(getattr(tokenizer, "encode_with_offsets", None)):
                raise PlaitError(
                    f"task.format=squad needs character offsets from the tokenizer; {type(tokenizer).__name__} "
                    "has no encode_with_offsets(): use a built-in tokenizer (word, bpe, wordpiece, ...)"
                )
            self.cls_id, self.sep_id = tokenizer.special_id("cls"), tokenizer.special_id("sep")

    def _spec(self) -> TaskSpec:
        c = self.cfg
        extra: dict[str, Any] = {"format": c.format}
        if c.format == "babi":
            extra.update(
                memory_size=c.memory_size,
                max_sentence_length=c.max_sentence_length,
                max_question_length=c.max_question_length,
                **special_token_ids(self.tokenizer, ("cls", "sep")),  # flat encoders: [cls] story [sep] question [sep]
            )
        else:
            extra.update(cls_id=self.cls_id, sep_id=self.sep_id)
        return TaskSpec(
            kind=QUESTION_ANSWERING,
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.pad_id,
            n_classes=len(self.answers) if c.format == "babi" else None,
            max_length=c.max_length if c.format == "squad" else c.max_sentence_length * c.memory_size,
            vocab=self.tokenizer.vocabulary(),
            labels=list(self.answers),
            extra=extra,
        )

    def _babi_dir(self) -> Path:
        return babi.babi_dir(self.cfg.babi_root, self.cfg.babi_size)

    def _squad_articles(self, path: str | None) -> list[list[squad.SquadExample]]:
        if path is None:
            raise DataError("task.format=squad needs task.squad_path=<SQuAD v1.1 JSON>, e.g. ${data_root}/squad/...")
        return squad.read_squad(path)

    def splits(self) -> list[str]:
        """train, val and test (babi: the test files; squad: when squad_test_path is set)."""
        if self.cfg.format == "babi" or self.cfg.squad_test_path:
            return ["train", "val", "test"]
        return ["train", "val"]

    # -- featurising (lazy, per split) ---------------------------------------------------------------

    def _encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token ids of each distinct text (bAbI is templated: few distinct sentences)."""
        unique = sorted(set(texts))
        return {
            t: np.asarray(ids, dtype=np.int32)
            for t, ids in zip(unique, self.tokenizer.encode_batch(unique), strict=True)
        }

    def _babi_split(self, split: str) -> _BabiData:
        if split not in self._babi:
            if split not in self._raw and split == "test":
                self._raw["test"] = babi.read_babi(self._babi_dir(), self.cfg.babi_tasks, "test")
            if split not in self._raw:
                raise PlaitError(f"split '{split}' has no data; splits: {', '.join(self.splits())}")
            data: babi.BabiSplit = self._raw.pop(split)
            ids = self._encode([s for st in data.stories for s in st.sentences] + [q.text for q in data.questions])
            index = {a: i for i, a in enumerate(self.answers)}
            qs = data.questions
            self._babi[split] = _BabiData(
                stories=[[ids[s] for s in st.sentences] for st in data.stories],
                question_ids=[ids[q.text] for q in qs],
                story=np.array([q.story for q in qs], dtype=np.int64),
                n_context=np.array([q.n_context for q in qs], dtype=np.int64),
                answers=np.array([index.get(q.answer, -1) for q in qs], dtype=np.int64),
                tasks=np.array([q.task for q in qs], dtype=np.int64),
            )
        return self._babi[split]

    def _squad_split(self, split: str) -> _SquadData:
        if split not in self._squad:
            if split == "test" and self.cfg.squad_test_path and "test" not in self._raw:
                self._raw["test"] = [ex for art in self._squad_articles(self.cfg.squad_test_path) for ex in art]
            if split not in self._raw:
                raise PlaitError(f"split '{split}' has no data; splits: {', '.join(self.splits())}")
            self._squad[split] = self._featurise(self._raw.pop(split))
        return self._squad[split]

    def _featurise(self, examples: list[squad.SquadExample]) -> _SquadData:
        """Windows of every example, labelled with its first gold answer (so val loss is comparable)."""
        contexts = sorted({ex.context for ex in examples})
        encoded = dict(zip(contexts, self.tokenizer.encode_with_offsets(contexts), strict=True))
        questions = self.tokenizer.encode_batch([ex.question for ex in examples])
        windows, indices = [], []
        for ex, q_ids in zip(examples, questions, strict=True):
            ids, offsets = encoded[ex.context]
            start = ex.answer_starts[0]
            answer = squad.answer_tokens(offsets, start, start + len(ex.answers[0]))
            index = len(self._examples)
            self._examples.append(ex)
            self._offsets.append(offsets)
            indices.append(index)
            windows.extend(self._windows(index, q_ids, ids, answer))
        return _SquadData(windows, indices)

    def _windows(self, index: int, q_ids: list[int], ids: list[int], answer: tuple[int, int] | None) -> list:
        c = self.cfg
        return squad.make_windows(
            index,
            q_ids,
            ids,
            answer,
            cls_id=self.cls_id,
            sep_id=self.sep_id,
            max_length=c.max_length,
            stride=c.doc_stride,
            max_question_length=c.max_question_length,
        )

    # -- batches -------------------------------------------------------------------------------------

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Shuffled by `epoch_seed` for train; a fixed order otherwise."""
        seed = epoch_seed if split == "train" else None
        if self.cfg.format == "babi":
            data = self._babi_split(split)
            lengths = np.minimum(data.n_context, self.cfg.memory_size)
            for idx in bucketed_batches(lengths, batch_size, seed=seed, pool_batches=1)[start:]:
                yield self._babi_batch(data, idx)
        else:
            sq = self._squad_split(split)
            lengths = np.array([len(w.input_ids) for w in sq.windows])
            for idx in bucketed_batches(lengths, batch_size, seed=seed, pool_batches=1)[start:]:
                yield self._span_batch([sq.windows[i] for i in idx])

    def _story_tensor(self, stories: list[list[np.ndarray]]) -> Tensor:
        """(B, N, L) ids: each story's sentences, oldest first, padded with all-pad sentences at the end."""
        c = self.cfg
        n = max(1, max(len(s) for s in stories))
        width = max(1, max((min(len(x), c.max_sentence_length) for s in stories for x in s), default=1))
        out = np.full((len(stories), n, width), self.pad_id, dtype=np.int64)
        for b, sentences in enumerate(stories):
            for i, ids in enumerate(sentences):
                ids = ids[: c.max_sentence_length]
                out[b, i, : len(ids)] = ids
        return torch.from_numpy(out)

    def _question_tensor(self, questions: list[np.ndarray]) -> Tensor:
        unk = self.tokenizer.special_id("unk")
        ids, _ = pad(questions, self.pad_id, max_length=self.cfg.max_question_length, empty_id=unk)
        return ids

    def _babi_batch(self, data: _BabiData, idx: np.ndarray) -> Batch:
        m = self.cfg.memory_size
        stories = []
        for i in idx:
            n = int(data.n_context[i])
            stories.append(data.stories[data.story[i]][max(0, n - m) : n])
        story = self._story_tensor(stories)
        question = self._question_tensor([data.question_ids[i] for i in idx])
        tensors = {
            "story": story,
            "question": question,
            "answer": torch.from_numpy(data.answers[idx]),
            "task": torch.from_numpy(data.tasks[idx]),
        }
        n_tokens = int((story != self.pad_id).sum() + (question != self.pad_id).sum())
        return Batch(tensors, n_samples=len(idx), n_tokens=n_tokens)

    def _span_batch(self, windows: list[squad.Window]) -> Batch:
        ids, mask = pad([w.input_ids for w in windows], self.pad_id)
        context = torch.zeros_like(mask)
        for b, w in enumerate(windows):
            context[b, w.context_offset : w.context_offset + w.token_end - w.token_start] = True
        tensors = {
            "input_ids": ids,
            "attention_mask": mask,
            "context_mask": context,
            "start": torch.tensor([w.start for w in windows]),
            "end": torch.tensor([w.end for w in windows]),
            "example": torch.tensor([w.example for w in windows]),
            "token_start": torch.tensor([w.token_start for w in windows]),
            "context_offset": torch.tensor([w.context_offset for w in windows]),
        }
        return Batch(tensors, n_samples=len(windows), n_tokens=int(mask.sum()))

    # -- loss and evaluation -------------------------------------------------------------------------

    def _span_logits(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        start, end = model(batch["input_ids"], batch["attention_mask"])
        keep = batch["attention_mask"]
        return start.float().masked_fill(~keep, -1e4), end.float().masked_fill(~keep, -1e4)

    def _losses(self, model: nn.Module, batch: Batch, reduction: str) -> tuple[Tensor, Any]:
        """(loss, model outputs) with `reduction` ("mean" or "sum")."""
        if self.cfg.format == "babi":
            logits = model(batch["story"], batch["question"]).float()
            known = batch["answer"] >= 0
            loss = F.cross_entropy(logits[known], batch["answer"][known], reduction="sum")
            if reduction == "mean":
                loss = loss / known.sum().clamp_min(1)
            return loss, logits
        start, end = self._span_logits(model, batch)
        loss = (F.cross_entropy(start, batch["start"], reduction=reduction)) + F.cross_entropy(
            end, batch["end"], reduction=reduction
        )
        return loss / 2, (start, end)

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Cross-entropy of the answer (babi) or the mean of start and end cross-entropies (squad)."""
        return self._losses(model, batch, "mean")[0]

    def eval_step(self, model: nn.Module, batch: Batch) -> dict[str, Any]:
        """Loss sum and predictions of one batch (babi: answer ids; squad: best span text per window)."""
        loss, out = self._losses(model, batch, "sum")
        if self.cfg.format == "babi":
            return {
                "loss": float(loss),
                "n": int((batch["answer"] >= 0).sum()),
                "pred": out.argmax(-1).cpu().tolist(),
                "gold": batch["answer"].cpu().tolist(),
                "task": batch["task"].cpu().tolist(),
            }
        start, end = out
        score, first, last = squad.best_spans(start, end, batch["context_mask"], self.cfg.max_answer_length)
        shift = (batch["token_start"] - batch["context_offset"]).cpu()
        first, last = (first.cpu() + shift).tolist(), (last.cpu() + shift).tolist()
        texts = []
        for ex, i, j in zip(batch["example"].cpu().tolist(), first, last, strict=True):
            offsets = self._offsets[ex]
            texts.append(self._examples[ex].context[offsets[i][0] : offsets[j][1]])
        return {
            "loss": float(loss),
            "n": len(texts),
            "example": batch["example"].cpu().tolist(),
            "score": score.cpu().tolist(),
            "text": texts,
        }

    def reduce(self, partials: list[dict[str, Any]]) -> dict[str, float]:
        """babi: loss, accuracy, error per task, mean_error, tasks_passed; squad: loss, exact_match, f1."""
        n = sum(p["n"] for p in partials)
        loss = sum(p["loss"] for p in partials) / max(n, 1)
        if self.cfg.format == "babi":
            pred = np.array([x for p in partials for x in p["pred"]])
            gold = np.array([x for p in partials for x in p["gold"]])
            tasks = np.array([x for p in partials for x in p["task"]])
            metrics = {"loss": loss, **babi.task_scores(pred == gold, tasks)}
            self._details = {
                "per_task_error": {k[6:]: v for k, v in metrics.items() if k.startswith("error_")},
                "unknown_answers": int((gold < 0).sum()),
                "summary": babi.format_task_table(metrics),
            }
            return metrics
        best: dict[int, tuple[float, str]] = {}
        for p in partials:
            for ex, score, text in zip(p["example"], p["score"], p["text"], strict=True):
                if ex not in best or score > best[ex][0]:
                    best[ex] = (score, text)
        scores = [squad.squad_scores(text, self._examples[ex].answers) for ex, (_, text) in best.items()]
        em = float(np.mean([s[0] for s in scores])) if scores else 0.0
        f1 = float(np.mean([s[1] for s in scores])) if scores else 0.0
        samples = [
            {"question": self._examples[ex].question, "prediction": text, "gold": self._examples[ex].answers}
            for ex, (_, text) in list(best.items())[:5]
        ]
        self._details = {
            "questions": len(best),
            "samples": samples,
            "summary": f"{len(best)} questions  EM {100 * em:.2f}  F1 {100 * f1:.2f}",
        }
        return {"loss": loss, "exact_match": em, "f1": f1}

    def details(self) -> dict[str, Any]:
        """Per-task errors and a table (babi) or sample predictions (squad) of the last reduce."""
        return dict(self._details)

    # -- inference -----------------------------------------------------------------------------------

    def answer(self, model: nn.Module, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """For each {"context", "question"}: {"answer", "confidence"} (babi) or {"answer", "start", "score"}
        (squad: the answer's character start in the context)."""
        for i, item in enumerate(items):
            if not str(item.get("context", "")).strip() or not str(item.get("question", "")).strip():
                raise PlaitError(f"input {i + 1}: needs a non-empty 'context' and 'question'")
        device = model_device(model)
        if self.cfg.format == "babi":
            return self._answer_babi(model, items, device)
        return self._answer_span(model, items, device)

    def _answer_babi(self, model: nn.Module, items: list[dict[str, Any]], device: torch.device) -> list[dict]:
        m = self.cfg.memory_size
        stories = [story_sentences(str(it["context"]))[-m:] for it in items]
        ids = self._encode([s for st in stories for s in st] + [str(it["question"]) for it in items])
        story = self._story_tensor([[ids[s] for s in st] for st in stories])
        question = self._question_tensor([ids[str(it["question"])] for it in items])
        probs = model(story.to(device), question.to(device)).float().softmax(-1).cpu()
        conf, best = probs.max(-1)
        return [
            {"answer": self.answers[b], "confidence": float(p)}
            for b, p in zip(best.tolist(), conf.tolist(), strict=True)
        ]

    def _answer_span(self, model: nn.Module, items: list[dict[str, Any]], device: torch.device) -> list[dict]:
        results = []
        for it in items:
            context = str(it["context"])
            ids, offsets = self.tokenizer.encode_with_offsets([context])[0]
            windows = self._windows(0, self.tokenizer.encode(str(it["question"])), ids, None)
            batch = self._span_batch(windows).to(device)
            start, end = self._span_logits(model, batch)
            score, first, last = squad.best_spans(start, end, batch["context_mask"], self.cfg.max_answer_length)
            w = int(score.argmax())
            i = int(first[w]) - windows[w].context_offset + windows[w].token_start
            j = int(last[w]) - windows[w].context_offset + windows[w].token_start
            span = (offsets[i][0], offsets[j][1])
            results.append({"answer": context[span[0] : span[1]], "start": span[0], "score": float(score[w])})
        return results


@TASKS.register("question_answering", config=QuestionAnsweringConfig)
def build_question_answering(cfg: QuestionAnsweringConfig) -> QuestionAnsweringTask:
    """bAbI story QA (answer selection, per-task error) or SQuAD v1.1 extractive spans (EM/F1), by task.format."""
    return QuestionAnsweringTask(cfg)
