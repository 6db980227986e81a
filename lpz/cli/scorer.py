"""`lpz scorer ...`: the classifiers that score MNIST-like runs (FID on their logits, class TVD)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from lpz.errors import UserError

scorer_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Scorers: train the classifier that FID and TVD on MNIST-like data are measured with.")
console = Console(soft_wrap=True)


@scorer_app.command()
def train(dataset: str = typer.Argument(..., help="mnist or fashion-mnist (its files in LPZ_DATA_DIR)."),
          out: Optional[Path] = typer.Option(None, "--out", help="Folder for the weights and their JSON "
                                             "(default: the data directory, where scoring looks first)."),
          epochs: Optional[int] = typer.Option(None, min=1, max=1000, help="Passes over the training set."),
          seed: int = typer.Option(0, min=0, help="Seed of the initialisation, batch order and dropout."),
          threads: int = typer.Option(1, min=1, max=256, help="Intra-op threads: the same count gives the same "
                                                              "bytes.")):
    """Train the classifier on DATASET's training split; report test accuracy, FID floor and TVD."""
    from lpz.data.base import data_dir
    from lpz.scoring import classifier

    if dataset not in classifier.DATASETS:
        raise UserError(f"no classifier scorer for {dataset!r}: choose one of {', '.join(classifier.DATASETS)}")
    folder = (out or data_dir()).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder}: not a folder")
    path = folder / f"{dataset}_classifier.pt"
    console.print(f"training the {dataset} classifier on {threads} thread{'s' if threads > 1 else ''} "
                  f"(a few minutes)...")
    try:
        report = classifier.train_classifier(dataset, path, epochs=epochs or classifier.EPOCHS, seed=seed,
                                             threads=threads)
    except PermissionError as e:
        raise UserError(f"cannot write into {folder} ({e.strerror}); choose another folder with --out") from None
    console.print(f"test accuracy {100 * report['accuracy']:.2f}%, "
                  f"FID test vs train {report['fid_test_vs_train']:.4f} (the floor), "
                  f"TVD test vs train {report['tvd_test_vs_train']:.4f}", highlight=False)
    console.print(f"wrote {path} and {path.with_suffix('.json')}", highlight=False)
    if out is not None and folder.resolve() != data_dir().resolve():
        console.print(f"scoring reads {data_dir()} first, then lpz's shipped weights: copy both files there "
                      f"to score with these", highlight=False)
