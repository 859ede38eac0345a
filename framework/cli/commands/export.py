"""`plait export <run dir or checkpoint> <out dir>`: a trained Hugging Face model as a directory `transformers` loads.

The model is written with `save_pretrained`; the run's tokenizer is wrapped in a `PreTrainedTokenizerFast`
and saved next to it. With several tokenizer roles (seq2seq), `text`, `shared` or `source` goes to the directory
itself and every other role to `<out dir>/tokenizer_<role>/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from framework.cli.commands._common import parse_args
from framework.errors import PlaitError

HELP = "write a trained transformers-backed model and its tokenizer as a Hugging Face directory (from_pretrained)"

USAGE = "plait export <run dir or checkpoint> <out dir> [checkpoint=best|last|<dir>] [weights=model|ema]"
PRIMARY_ROLES = ("text", "shared", "source")


@dataclass
class ExportOptions:
    """Options of `plait export` (after the run and the output directory)."""

    checkpoint: Optional[str] = (
        None  # best | last | a dir or a name in <run>/checkpoints; null: best when kept, else last
    )
    weights: str = "model"  # model: the trained weights | ema: the average a callback=[ema] run kept


def export(path: Path | str, out_dir: Path | str, *, checkpoint: str | None = None, weights: str = "model") -> Path:
    """Export the model (`weights`: which set) and tokenizer(s) of a run or checkpoint to `out_dir`."""
    from framework.capabilities import EXPORTS_TO_TRANSFORMERS, with_capability
    from framework.engine.inference import load_run
    from framework.engine.tokenizer_factory import TOKENIZER_DIR, saved_tokenizers
    from framework.kinds import MODELS
    from framework.schema import NAME_FIELD

    built = load_run(path, device="cpu", checkpoint=checkpoint, weights=weights)
    opened = built.checkpoint
    assert opened is not None
    save_model = getattr(built.model, "save_pretrained", None)
    if not callable(save_model):
        exportable = ", ".join(with_capability(MODELS, EXPORTS_TO_TRANSFORMERS))
        raise PlaitError(
            f"export needs a model that exports to transformers ({exportable}) but {opened} was trained with "
            f"model={built.cfg.model[NAME_FIELD]}; train with one of those models to export to transformers"
        )
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    save_model(out)

    saved = opened / TOKENIZER_DIR
    roles = sorted(p.name for p in saved.iterdir() if p.is_dir()) if saved.is_dir() else []
    primary = next((r for r in PRIMARY_ROLES if r in roles), roles[0] if roles else None)
    load_tokenizer = saved_tokenizers(built.cfg.tokenizer, opened)
    for role in roles:
        tokenizer = load_tokenizer(role, list)
        to_transformers = getattr(tokenizer, "to_transformers", None)
        if not callable(to_transformers):
            raise PlaitError(
                f"tokenizer={built.cfg.tokenizer[NAME_FIELD]} cannot be converted for transformers; "
                "use a tokenizer built on Hugging Face tokenizers (see `plait list tokenizer`)"
            )
        to_transformers().save_pretrained(str(out if role == primary else out / f"tokenizer_{role}"))
    return out


def main(argv: list[str]) -> None:
    """Parse `<path> <out dir> [key=value ...]` and export."""
    if len(argv) < 2 or argv[0].startswith("-") or "=" in argv[1]:
        raise PlaitError(f"usage: {USAGE}")
    run, opts, overrides = parse_args([argv[0], *argv[2:]], ExportOptions, USAGE)
    if overrides:
        raise PlaitError(f"plait export takes no config edits ({', '.join(overrides)}). usage: {USAGE}")
    out = export(run, argv[1], checkpoint=opts.checkpoint, weights=opts.weights)
    print(f"exported to {out} (load it with transformers' from_pretrained)")
