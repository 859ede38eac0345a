"""`plait answer <run> context="..." question="..." | file=<JSON lines>`: answers of a trained QA run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from framework.cli.commands._common import CommonOptions, open_run, parse_args
from framework.data.text_files import read_lines
from framework.errors import PlaitError

HELP = "answer questions with a trained QA run: plait answer <run> context=... question=... | file=<JSON lines>"
USAGE = (
    'plait answer <run dir or checkpoint> context="story or passage" question="..." '
    '| file=<JSON lines with "context" and "question"> [device=cpu] [checkpoint=best|last|<dir>] [weights=ema]'
)


@dataclass
class AnswerOptions(CommonOptions):
    """Options of `plait answer`."""

    context: Optional[str] = None  # the story (bAbI: sentences, one per line or ending in '.') or passage
    question: Optional[str] = None  # the question about it
    file: Optional[str] = None  # a UTF-8 file of JSON objects, one per line, with "context" and "question"


def read_items(opts: AnswerOptions) -> list[dict[str, Any]]:
    """The questions to answer: context= and question=, or every JSON line of file=."""
    if opts.file is None:
        if opts.context is None or opts.question is None:
            raise PlaitError(f"give context=... and question=..., or file=<JSON lines>. usage: {USAGE}")
        return [{"context": opts.context, "question": opts.question}]
    if opts.context is not None or opts.question is not None:
        raise PlaitError("give either file=... or context=/question=, not both")
    path = Path(opts.file).expanduser()
    if not path.is_file():
        raise PlaitError(f"input file not found: {path}")
    items = []
    for lineno, line in enumerate(read_lines(path), 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise PlaitError(f"{path}:{lineno}: not JSON ({err.msg}); one object per line") from None
        if not isinstance(item, dict) or "context" not in item or "question" not in item:
            raise PlaitError(f'{path}:{lineno}: expected an object with "context" and "question"')
        items.append(item)
    return items


def main(argv: list[str]) -> None:
    """Print `answer<TAB>confidence or score<TAB>question` for every input."""
    from framework.engine.inference import infer, task_as
    from framework.task import Answerer

    run, opts, overrides = parse_args(argv, AnswerOptions, USAGE)
    items = read_items(opts)
    built = open_run(run, opts, overrides)
    task: Answerer = task_as(built, Answerer, "answer", "question answering")
    results = infer(built, task.answer, items)
    for item, result in zip(items, results, strict=True):
        value = result.get("confidence", result.get("score", 0.0))
        print(f"{result['answer']}\t{value:.4f}\t{item['question']}")
