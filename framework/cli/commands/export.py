"""`plait export <run dir or checkpoint> <out dir>`: a trained Hugging Face model as a directory `transformers` loads.

The model is written with `save_pretrained`; the run's tokenizer is wrapped in a `PreTrainedTokenizerFast`
and saved next to it. With several tokenizer roles (seq2seq), `text`, `shared` or `source` goes to the directory
itself and every other role to `<out dir>/tokenizer_<role>/`.
"""

from __future__ import annotations

from pathlib import Path

from framework.errors import PlaitError

HELP = "write a trained transformers-backed model and its tokenizer as a Hugging Face directory (from_pretrained)"

USAGE = "usage: plait export <run dir or checkpoint> <out dir>"
PRIMARY_ROLES = ("text", "shared", "source")


def export(path: Path | str, out_dir: Path | str) -> Path:
    """Export the model and tokenizer(s) of a run or checkpoint to `out_dir`; returns `out_dir`."""
    from framework.capabilities import EXPORTS_TO_TRANSFORMERS, with_capability
    from framework.engine.inference import load_run
    from framework.engine.tokenizer_factory import TOKENIZER_DIR, saved_tokenizers
    from framework.kinds import MODELS
    from framework.schema import NAME_FIELD

    built = load_run(path, device="cpu")
    checkpoint = built.checkpoint
    assert checkpoint is not None
    save_model = getattr(built.model, "save_pretrained", None)
    if not callable(save_model):
        exportable = ", ".join(with_capability(MODELS, EXPORTS_TO_TRANSFORMERS))
        raise PlaitError(
            f"export needs a model that exports to transformers ({exportable}) but {checkpoint} was trained with "
            f"model={built.cfg.model[NAME_FIELD]}; train with one of those models to export to transformers"
        )
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    save_model(out)

    saved = checkpoint / TOKENIZER_DIR
    roles = sorted(p.name for p in saved.iterdir() if p.is_dir()) if saved.is_dir() else []
    primary = next((r for r in PRIMARY_ROLES if r in roles), roles[0] if roles else None)
    load_tokenizer = saved_tokenizers(built.cfg.tokenizer, checkpoint)
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
    """Parse `<path> <out dir>` and export."""
    if len(argv) != 2 or argv[0].startswith("-"):
        raise PlaitError(USAGE)
    out = export(argv[0], argv[1])
    print(f"exported to {out} (load it with transformers' from_pretrained)")
