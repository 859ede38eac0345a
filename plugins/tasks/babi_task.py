"""task.format=babi: story + question -> one answer out of the answer vocabulary (spec.labels).

Metrics: loss, accuracy, error_qa<N> per bAbI task, mean_error, tasks_passed (error <= 5%). Validation is a
held-out `val_ratio` of each task's training stories; test is the qa*_test.txt files. Reading and scoring are
in plugins.tasks.babi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import Batch, special_token_ids
from plugins.tasks import babi
from plugins.tasks.batching import PaddedRows
from plugins.tasks.configs import QAFormat
from plugins.tasks.qa_base import QuestionAnsweringTask, Texts
from plugins.tasks.samples import fixed_choice
from plugins.tasks.text_data import check_path

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_LINE_ID = re.compile(r"^\s*\d+\s+")


def story_sentences(context: str) -> list[str]:
    """Statements of a story typed by a person: one per line or per sentence end; leading bAbI ids dropped."""
    parts = [_LINE_ID.sub("", p).strip() for p in _SENTENCE_END.split(context)]
    return [p for p in parts if p]


@dataclass
class BabiData:
    """Token ids of one bAbI split: every story sentence (story by story) and question padded once, so a batch
    is two gathers; per question its story's first sentence row, context length, answer and task."""

    sentences: PaddedRows
    questions: PaddedRows
    story_start: np.ndarray  # per question: the row of its story's first sentence in `sentences`
    n_context: np.ndarray
    answers: np.ndarray  # answer class id, -1 when the answer is not in the answer vocabulary
    tasks: np.ndarray
    text: babi.BabiSplit | None = None  # the split as read (for samples)


class BabiTask(QuestionAnsweringTask[BabiData]):
    """bAbI answer selection: the recent story as sentences (B, N, L) and the question -> answer logits."""

    format = QAFormat.babi

    def splits(self) -> list[str]:
        """train, val (held-out stories), test (the test files) and the extra validation sets."""
        return ["train", "val", "test", *self._extra_splits()]

    # -- reading and featurising ---------------------------------------------------------------------

    def _read_training(self) -> Texts:
        data = babi.read_babi(self._babi_dir(), self.cfg.babi_tasks, "train")
        train, val = babi.split_by_story(data, self.cfg.val_ratio, self.cfg.seed)
        self._raw = {"train": train, "val": val}
        self.answers = sorted({q.answer for q in data.questions})
        return lambda: [s for st in data.stories for s in st.sentences] + [q.text for q in data.questions]

    def _source_files(self) -> dict[str, list[Path]]:
        files = [babi.task_files(self._babi_dir(), task) for task in self.cfg.babi_tasks]
        return {split: [f[split] for f in files if split in f] for split in ("train", "test")}

    def _read_test(self) -> babi.BabiSplit:
        return babi.read_babi(self._babi_dir(), self.cfg.babi_tasks, "test")

    def _read_extra(self, path: str, key: str) -> babi.BabiSplit:
        check_path(path, key)
        return babi.read_babi(Path(path).expanduser(), self.cfg.babi_tasks, "test")

    def _babi_dir(self) -> Path:
        return babi.babi_dir(self.cfg.babi_root, self.cfg.babi_size)

    def _spec_parts(self) -> tuple[int | None, int, dict[str, Any]]:
        c = self.cfg
        extra = {
            "memory_size": c.memory_size,
            "max_sentence_length": c.max_sentence_length,
            "max_question_length": c.max_question_length,
            **special_token_ids(self.tokenizer, ("cls", "sep")),  # flat encoders: [cls] story [sep] question [sep]
        }
        return len(self.answers), c.max_sentence_length * c.memory_size, extra

    def _encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token ids of each distinct text (bAbI is templated: few distinct sentences)."""
        unique = sorted(set(texts))
        return {
            t: np.asarray(ids, dtype=np.int32)
            for t, ids in zip(unique, self.tokenizer.encode_batch(unique), strict=True)
        }

    def _featurise(self, raw: babi.BabiSplit) -> BabiData:
        qs = raw.questions
        first = np.cumsum([0, *(len(st.sentences) for st in raw.stories)])
        sentences, questions = self._padded([s for st in raw.stories for s in st.sentences], [q.text for q in qs])
        index = {a: i for i, a in enumerate(self.answers)}
        return BabiData(
            sentences=sentences,
            questions=questions,
            story_start=first[np.array([q.story for q in qs], dtype=np.int64)],
            n_context=np.array([q.n_context for q in qs], dtype=np.int64),
            answers=np.array([index.get(q.answer, -1) for q in qs], dtype=np.int64),
            tasks=np.array([q.task for q in qs], dtype=np.int64),
            text=raw,
        )

    def _padded(self, sentences: list[str], questions: list[str]) -> tuple[PaddedRows, PaddedRows]:
        """The sentences (cut to task.max_sentence_length) and questions (cut to task.max_question_length; an
        empty one becomes [unk]) as padded id tables."""
        ids = self._encode(sentences + questions)
        c, unk = self.cfg, self.tokenizer.special_id("unk")
        return (
            PaddedRows.build([ids[t] for t in sentences], self.pad_id, c.max_sentence_length),
            PaddedRows.build([ids[t] for t in questions], self.pad_id, c.max_question_length, empty_id=unk),
        )

    def _sample_items(self, split: str, n: int) -> list[dict[str, str]]:
        """Fixed questions with the recent story before each (as `plait answer` takes it) and the gold answer."""
        raw = self._split(split).text
        if raw is None:
            return []
        items = []
        for i in fixed_choice(len(raw.questions), n, self.cfg.seed):
            q = raw.questions[i]
            story = raw.stories[q.story].sentences[: q.n_context][-self.cfg.memory_size :]
            items.append({"context": "\n".join(story), "question": q.text, "reference": q.answer})
        return items

    # -- batches -------------------------------------------------------------------------------------

    def _lengths(self, data: BabiData) -> np.ndarray:
        lengths: np.ndarray = np.minimum(data.n_context, self.cfg.memory_size)
        return lengths

    def _token_lengths(self, data: BabiData) -> np.ndarray:
        """Story tokens, as padded: the sentences kept times task.max_sentence_length (at most)."""
        return self._lengths(data) * self.cfg.max_sentence_length

    @staticmethod
    def _story_rows(first: np.ndarray, count: np.ndarray) -> np.ndarray:
        """(B, N) sentence rows: per item its `count` rows from `first` on, oldest first, then -1 (all-pad
        sentences) up to N, the largest count (at least 1)."""
        slot = np.arange(max(int(count.max(initial=0)), 1))
        rows: np.ndarray = np.where(slot < count[:, None], first[:, None] + slot, -1)
        return rows

    def _batch(self, data: BabiData, idx: np.ndarray) -> Batch:
        n = data.n_context[idx]
        kept = np.minimum(n, self.cfg.memory_size)  # the most recent memory_size sentences before the question
        story, story_tokens = data.sentences.gather(self._story_rows(data.story_start[idx] + n - kept, kept))
        question, question_tokens = data.questions.gather(idx)
        tensors = {
            "story": story,
            "question": question,
            "answer": torch.from_numpy(data.answers[idx]),
            "task": torch.from_numpy(data.tasks[idx]),
        }
        return Batch(tensors, n_samples=len(idx), n_tokens=story_tokens + question_tokens)

    # -- loss and evaluation -------------------------------------------------------------------------

    def _losses(self, model: nn.Module, batch: Batch, reduction: str) -> tuple[Tensor, Tensor]:
        """Cross-entropy of the answer over the questions whose answer is in the vocabulary; the logits."""
        logits = model(batch["story"], batch["question"]).float()
        known = batch["answer"] >= 0
        loss = F.cross_entropy(logits[known], batch["answer"][known], reduction="sum")
        if reduction == "mean":
            loss = loss / known.sum().clamp_min(1)
        return loss, logits

    def _predictions(self, batch: Batch, out: Tensor) -> dict[str, Any]:
        return {
            "n": int((batch["answer"] >= 0).sum()),
            "pred": out.argmax(-1).cpu().tolist(),
            "gold": batch["answer"].cpu().tolist(),
            "task": batch["task"].cpu().tolist(),
        }

    def _scores(self, partials: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
        """accuracy, error per task, mean_error, tasks_passed; details: per-task errors and their table."""
        pred = np.array([x for p in partials for x in p["pred"]])
        gold = np.array([x for p in partials for x in p["gold"]])
        tasks = np.array([x for p in partials for x in p["task"]])
        metrics = babi.task_scores(pred == gold, tasks)
        details = {
            "per_task_error": {k[6:]: v for k, v in metrics.items() if k.startswith("error_")},
            "unknown_answers": int((gold < 0).sum()),
            "summary": babi.format_task_table(metrics),
        }
        return metrics, details

    # -- inference -----------------------------------------------------------------------------------

    def _answer(self, model: nn.Module, items: list[dict[str, Any]], device: torch.device) -> list[dict[str, Any]]:
        """{"answer", "confidence"} per item: the best answer of the vocabulary and its probability."""
        m = self.cfg.memory_size
        stories = [story_sentences(str(it["context"]))[-m:] for it in items]
        sentences, questions = self._padded([s for st in stories for s in st], [str(it["question"]) for it in items])
        count = np.array([len(st) for st in stories], dtype=np.int64)
        story, _ = sentences.gather(self._story_rows(np.cumsum(count) - count, count))
        question, _ = questions.gather(np.arange(len(items)))
        probs = model(story.to(device), question.to(device)).float().softmax(-1).cpu()
        conf, best = probs.max(-1)
        return [
            {"answer": self.answers[b], "confidence": float(p)}
            for b, p in zip(best.tolist(), conf.tolist(), strict=True)
        ]
