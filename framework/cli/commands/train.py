"""`plait train [overrides...]`: compose conf/train.yaml with Hydra and train."""

from __future__ import annotations

HELP = "train a model; every Hydra feature works: overrides, -m sweeps, --cfg job, --help"


def main(argv: list[str]) -> None:
    """Run the Hydra application with `argv` as its command line."""
    from framework.cli.hydra_app import run_hydra_train
    from framework.engine.provenance import set_command
    from framework.plugins import conf_dir

    set_command(["plait", "train", *argv])  # each run's provenance.json records it (Hydra rewrites sys.argv)
    run_hydra_train(argv, conf_dir())
