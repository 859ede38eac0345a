"""Reading the bAbI question-answering tasks (Weston et al. 2015, release v1.2) and scoring them per task.

File format: one sentence per line, `ID text`; a question line is `ID question<TAB>answer<TAB>fact IDs`.
IDs restart at 1 where a new story begins. The context of a question is every statement line of its story
before it (earlier questions are not part of the context, as in the memory-network papers).

Multi-word answers (task 8 "lists/sets": `football,apple`; task 19 "path finding": `n,w`) are kept as ONE
answer class over a closed answer vocabulary, as the published memory networks do: task 19 has 12 ordered
direction pairs and task 8 a handful of object sets, so one softmax covers them exactly. Task 8's answers are
sets (the file lists objects in pick-up order), so they are canonicalised to sorted order: `football,apple`
and `apple,football` are one class and a test set never seen in that order is still known. Task 19's answers
are paths, so their order is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framework import DataError
from plugins.tasks.text_data import check_path

PASS_ERROR = 0.05  # the bAbI convention: a task is passed when its test error is at most 5%
N_TASKS = 20
SIZES = {"1k": "en", "10k": "en-10k"}
SET_ANSWER_TASKS = (8,)  # tasks whose comma-separated answers are unordered sets


@dataclass
class Story:
    """A story's statements in order, for the questions that refer to it."""

    sentences: list[str]


@dataclass
class Question:
    """One bAbI question: its story, how many statements precede it, the question and its answer."""

    task: int  # 1..20
    story: int  # index into the list of stories of its split
    n_context: int  # statements of the story before this question
    text: str
    answer: str  # canonical answer (sets sorted)
    where: str  # file:line


@dataclass
class BabiSplit:
    """Stories and questions read from one or more bAbI files."""

    stories: list[Story]
    questions: list[Question]


def canonical_answer(answer: str, task: int, set_tasks: tuple[int, ...] = SET_ANSWER_TASKS) -> str:
    """The answer as one class name: lower-case, no spaces, set answers in sorted order."""
    parts = [p.strip().lower() for p in answer.split(",") if p.strip()]
    if task in set_tasks:
        parts = sorted(parts)
    return ",".join(parts)


def parse_babi(text: str, task: int, name: str = "<babi>", stories: list[Story] | None = None) -> BabiSplit:
    """Stories and questions of one bAbI file's text; appended to `stories` when given (for joint splits)."""
    stories = stories if stories is not None else []
    questions: list[Question] = []
    current: Story | None = None
    expected = 1
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        head, _, rest = line.partition(" ")
        if not head.isdigit() or not rest:
            raise DataError(f"{where}: expected '<id> <text>', got {line[:60]!r}; is this a bAbI file?")
        line_id = int(head)
        if line_id == 1 or current is None:
            current = Story([])
            stories.append(current)
            expected = 1
        if line_id != expected:
            raise DataError(f"{where}: sentence id {line_id} but {expected} expected (ids count up inside a story)")
        expected += 1
        if "\t" in rest:
            fields = rest.split("\t")
            if len(fields) < 2 or not fields[1].strip():
                raise DataError(f"{where}: a question line needs 'question<TAB>answer<TAB>facts'")
            answer = canonical_answer(fields[1], task)
            questions.append(Question(task, len(stories) - 1, len(current.sentences), fields[0].strip(), answer, where))
        else:
            current.sentences.append(rest.strip())
    return BabiSplit(stories, questions)


def task_files(directory: Path, task: int) -> dict[str, Path]:
    """`{"train": path, "test": path}` of task `task` in a bAbI folder (missing files are left out)."""
    found: dict[str, Path] = {}
    for split in ("train", "test"):
        matches = sorted(directory.glob(f"qa{task}_*_{split}.txt"))
        if matches:
            found[split] = matches[0]
    return found


def babi_dir(root: str | None, size: str) -> Path:
    """The folder of one bAbI size: `<root>/en` for 1k, `<root>/en-10k` for 10k, or `size` itself as a path."""
    if size in SIZES:
        if root is None:
            raise DataError("task.babi_root is not set; set data_root=<path to shared/data> or task.babi_root=<dir>")
        check_path(root, "task.babi_root")
        path = Path(root).expanduser() / SIZES[size]
    else:
        path = Path(size).expanduser()
    if not path.is_dir():
        raise DataError(f"bAbI folder not found: {path}; set task.babi_root (holds en/, en-10k/) or task.babi_size")
    return path


def read_babi(directory: Path, tasks: list[int], split: str) -> BabiSplit:
    """All questions of `tasks` in one split ("train" or "test") of a bAbI folder, stories shared per split."""
    out = BabiSplit([], [])
    for task in tasks:
        if not 1 <= task <= N_TASKS:
            raise DataError(f"task.babi_tasks: {task} is not a bAbI task (1..{N_TASKS})")
        files = task_files(directory, task)
        if split not in files:
            hint = " (en-10k has no task 3 train file here: see SOURCE.md; drop 3 from task.babi_tasks)"
            raise DataError(
                f"{directory}: no qa{task}_*_{split}.txt" + (hint if task == 3 and split == "train" else "")
            )
        part = parse_babi(files[split].read_text(encoding="utf-8"), task, str(files[split]), out.stories)
        out.questions.extend(part.questions)
    return out


def split_by_story(data: BabiSplit, ratio: float, seed: int) -> tuple[BabiSplit, BabiSplit]:
    """(train, held-out) with `ratio` of each task's stories held out, chosen by `seed` (whole stories, so a
    held-out question never shares its context with a training one)."""
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    by_task: dict[int, list[int]] = {}
    for q in data.questions:
        ids = by_task.setdefault(q.task, [])
        if not ids or ids[-1] != q.story:
            ids.append(q.story)
    for task in sorted(by_task):
        ids = by_task[task]
        n = int(round(len(ids) * ratio))
        held.update(ids[i] for i in rng.permutation(len(ids))[:n])
    keep = [q for q in data.questions if q.story not in held]
    out = [q for q in data.questions if q.story in held]
    return BabiSplit(data.stories, keep), BabiSplit(data.stories, out)


def task_scores(correct: np.ndarray, tasks: np.ndarray) -> dict[str, float]:
    """accuracy, error_qa<N> per task present, mean_error over those tasks and tasks_passed (error <= 5%)."""
    metrics: dict[str, float] = {"accuracy": float(correct.mean()) if len(correct) else 0.0}
    errors = []
    for task in sorted(set(tasks.tolist())):
        err = 1.0 - float(correct[tasks == task].mean())
        metrics[f"error_qa{task}"] = err
        errors.append(err)
    metrics["mean_error"] = float(np.mean(errors)) if errors else 0.0
    metrics["tasks_passed"] = float(sum(e <= PASS_ERROR + 1e-12 for e in errors))
    return metrics


def format_task_table(metrics: dict[str, float]) -> str:
    """A per-task error table (percent) with mean error and tasks passed, for `plait eval`."""
    lines = ["task  error %  passed"]
    for key in sorted((k for k in metrics if k.startswith("error_qa")), key=lambda k: int(k[8:])):
        err = metrics[key]
        lines.append(f"qa{key[8:]:<3} {100 * err:7.1f}  {'yes' if err <= PASS_ERROR + 1e-12 else 'no'}")
    n = sum(k.startswith("error_qa") for k in metrics)
    lines.append(f"mean  {100 * metrics['mean_error']:7.1f}  {int(metrics['tasks_passed'])}/{n} passed")
    return "\n".join(lines)
