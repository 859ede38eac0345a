"""The built-in tasks' config schemas, in a module that imports no torch or numpy: `plait list`, `describe` and
`--help` read them without importing the tasks (declared in `plugins/tasks/__init__.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from framework import Choice, ComponentConfig, DataFormat, above, at_least, between, check_val_set_names, require
from plugins.tasks import synthetic_sentiment


@dataclass
class DataLimitConfig(ComponentConfig):
    """`task.train_limit` / `task.eval_limit` (debug=limit), a base of every task's config: batches come from the
    first n examples of a split (plugins/tasks/limits.py)."""

    train_limit: Optional[int] = None  # train on the first n examples (language modelling: tokens); null: all
    eval_limit: Optional[int] = None  # evaluate on the first n examples of val/test (LM: tokens); null: all

    def validate(self) -> None:
        """Range checks."""
        at_least(self, 1, "train_limit", "eval_limit")

    def limit(self, split: str) -> int | None:
        """The limit that applies to `split`: train_limit for train, eval_limit for every other split."""
        return self.train_limit if split == "train" else self.eval_limit


@dataclass
class TextDataConfig(DataLimitConfig):
    """Where a text task's data is and how to split and cache it (fields shared by the text tasks)."""

    train_path: Optional[str] = None  # a file, a glob ('data/*.txt') or a directory; null: the generated demo corpus
    val_path: Optional[str] = None  # null: a deterministic val_ratio share of the training data
    test_path: Optional[str] = None  # optional held-out data (`plait eval <run> split=test`)
    # more validation sets, {name: path}: each evaluated beside val, logged as val/<name>/<metric>
    extra_val_paths: dict[str, str] = field(default_factory=dict)
    format: DataFormat = DataFormat.auto  # auto: from the suffix (saved HF dataset: hf_disk; {lang}: parallel)
    val_ratio: float = 0.1  # share of the training data held out for validation when val_path is null
    seed: int = 1234  # seed of the generated corpus and of the train/val split
    cache: bool = True  # tokenize once and reuse the token ids from disk on the next run
    cache_dir: Optional[str] = None  # null: $PLAIT_CACHE_DIR, else ~/.cache/plait

    def validate(self) -> None:
        """Range checks shared by the text tasks (and every int field they add that counts something)."""
        super().validate()
        between(self, "val_ratio", 0, 1, low_open=True, high_open=True)
        check_val_set_names(self.extra_val_paths)
        counts: tuple[str, ...] = ("max_length", "block_size", "bucket_pool_batches", "demo_size", "eval_max_blocks")
        counts += ("beam_size", "eval_beam_size", "max_decode_length", "eval_decode_limit")
        at_least(self, 1, *(n for n in counts if n in vars(self)))


@dataclass
class LanguageModelDataConfig(TextDataConfig):
    """Where a language model's text is and how to read it (the task's schema adds the blocks)."""

    format: DataFormat = DataFormat.text  # text: one document per file; tsv/csv/jsonl/hf_disk: one per row
    text_column: str = "text"  # column / key holding the text in tsv/csv/jsonl/hf_disk files
    demo_size: int = 3000  # sentences in the generated corpus (when train_path is null)


@dataclass
class LanguageModelingConfig(LanguageModelDataConfig):
    """Text to model; without val_path the last val_ratio of its tokens is the validation text."""

    block_size: int = 128  # tokens per training sequence: the model's context
    eval_max_blocks: Optional[int] = None  # evaluate on at most this many blocks; null: the whole split

    def validate(self) -> None:
        """Range checks, and only the formats a single text can come from."""
        super().validate()
        allowed = ("auto", "text", "tsv", "csv", "jsonl", "hf_disk")
        require(self.format in allowed, "format", str(self.format), f"one of {', '.join(allowed)}")


@dataclass
class TextClassificationConfig(TextDataConfig):
    """Labelled sentences and how to read their labels."""

    text_column: str = "text"  # column / key holding the sentence (label_first files: text)
    label_column: str = "label"  # column / key holding the label: a class name or a 0-based id (label_first: label)
    labels: Optional[list[str]] = None  # class names in id order; null: ids 0..n_classes-1, or the data's labels
    n_classes: Optional[int] = None  # with labels=null: ids 0..n_classes-1; both null: inferred from the data
    label_map: Optional[dict[Any, str]] = None  # raw label -> class name, e.g. {0: negative, 1: negative, 2: neutral}
    max_length: int = 128  # tokens kept per sentence
    bucket_pool_batches: int = 50  # sort pools of this many batches by length (less padding); 1: plain shuffle
    demo_size: int = 6000  # sentences in the generated training corpus (when train_path is null)

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        at_least(self, 2, "n_classes")
        repeated = duplicate(self.labels or [])
        require(repeated is None, "labels", self.labels, f"distinct class names ('{repeated}' is named twice)")


def duplicate(names: list[str]) -> str | None:
    """The first name repeated in `names` (compared case-insensitively, as labels are matched), or None."""
    seen: set[str] = set()
    for name in names:
        if str(name).lower() in seen:
            return str(name)
        seen.add(str(name).lower())
    return None


@dataclass
class SentimentConfig(TextClassificationConfig):
    """Sentiment: text classification whose default classes are negative / neutral / positive."""

    labels: Optional[list[str]] = field(default_factory=lambda: list(synthetic_sentiment.LABELS))  # class names
    bucket_pool_batches: int = 1  # plain shuffle: in the demo corpus length gives the kind of sentence away


class QAFormat(Choice):
    """Which question-answering problem `task.format` selects (and which task class serves it)."""

    babi = "babi"  # story + question -> one answer out of the answer vocabulary
    squad = "squad"  # question + context -> extractive span (SQuAD v1.1 JSON)


FORMATS = QAFormat.values()


@dataclass
class QuestionAnsweringConfig(DataLimitConfig):
    """Where the QA data is and how stories / windows are cut."""

    format: QAFormat = QAFormat.babi  # babi: story + question -> answer word | squad: extractive spans, SQuAD v1.1 JSON
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
    # more validation sets, {name: path}, evaluated beside val and logged as val/<name>/<metric>: squad a SQuAD
    # v1.1 JSON file, babi a folder of qa<N>_*_test.txt files (their test stories of task.babi_tasks)
    extra_val_paths: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """The data limits; the extra validation sets' names make metric names."""
        super().validate()
        check_val_set_names(self.extra_val_paths)


@dataclass
class TranslationConfig(TextDataConfig):
    """Sentence pairs and how to decode."""

    source_lang: str = "en"  # source language: fills {lang} in paths and is the default source column
    target_lang: str = "pseudo"  # target language (the demo corpus's is a made-up one)
    source_column: Optional[str] = None  # source column / key in tsv/csv/jsonl/hf_disk files; null: source_lang
    target_column: Optional[str] = None  # target column / key; null: target_lang
    shared_vocab: bool = False  # one tokenizer (role "shared") for both sides instead of "source" + "target"
    max_length: int = 128  # tokens kept per sentence on each side (the target's BOS/EOS included)
    bucket_pool_batches: int = 50  # sort pools of this many batches by length (less padding); 1: plain shuffle
    label_smoothing: float = 0.1  # training loss label smoothing
    beam_size: int = 5  # beams for `plait translate` (1: greedy)
    eval_beam_size: int = 1  # beams when evaluating BLEU/chrF (1: greedy, the fastest)
    length_penalty: float = 0.6  # GNMT length penalty exponent (0: rank by log-probability)
    max_decode_length: int = 100  # most target tokens generated per sentence
    decode_length_ratio: Optional[float] = 2.0  # also at most ratio x the batch's longest source + 10; null: off
    eval_decode_limit: Optional[int] = None  # sentences decoded for BLEU/chrF per evaluation; null: all
    demo_size: int = 4000  # sentence pairs in the generated corpus (when train_path is null)

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        between(self, "label_smoothing", 0, 1, high_open=True)
        at_least(self, 0, "length_penalty")
        above(self, 0, "decode_length_ratio")
