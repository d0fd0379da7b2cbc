"""CLI commands of the retrieval stage's learned part, the query adapter; registered by pipeline.cli.

Heavy libraries (torch, sentence-transformers) are imported inside the commands.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

DEFAULT_DATA = Path("../shared/datasets")


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def mine_triplets_cmd(
    out: Path = typer.Option(Path("out/query_adapter/triplets.jsonl"), "--out",
                             help="JSONL of (claim, positive, negative) triplets (+ OUT.stats.json)"),
    corpora: str = typer.Option("averitec,fever,covidfact,liar,healthver", "--corpora",
                                help="public corpora (`claimsift evaluate corpus --dataset`) to mine"),
    per_claim: int = typer.Option(2, "--per-claim", help="triplets per claim (one per gold sentence drawn)"),
    screen: str = typer.Option("stance@v5", "--screen", help="stance model that vetoes confident negatives"),
    limit: Optional[int] = typer.Option(None, "--limit", help="train-split claims per corpus (random)"),
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="the shared datasets folder"),
) -> None:
    """Mine retrieval triplets from the train split: each claim, a gold evidence sentence as the
    index reads it, and a hard negative among the shipped retriever's best ten."""
    from pipeline.training.retriever_fit import mine_all

    console = _console()
    summary = mine_all(out, _names(corpora), screen_spec=screen, per_claim=per_claim, limit=limit, data_dir=data,
                       log=console.print)
    console.print(f"[green]{summary['rows']}[/green] triplets written to {out}")


def train_query_adapter_cmd(
    triplets: Path = typer.Option(Path("out/query_adapter/triplets.jsonl"), "--triplets",
                                  help="triplets from `claimsift train mine-triplets`"),
    out: Path = typer.Option(Path("models"), "--out", help="models directory (registry root)"),
    exclude: str = typer.Option("liar", "--exclude",
                                help="corpora whose triplets are left out (LIAR's train split fits the verdict model)"),
    penalty: float = typer.Option(3.0, "--penalty", help="weight of ||W - I||^2 / d"),
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate",
                                  help="measure recall@5 leave-one-corpus-out and on the tune split (~5 min)"),
    promote: bool = typer.Option(False, "--promote/--no-promote", help="point CURRENT at the new version"),
) -> None:
    """Fit the query adapter (a linear map on claim vectors before dense search) and register it."""
    from pipeline.core.errors import UserError
    from pipeline.training.retriever_fit import train_query_adapter

    if not triplets.is_file():
        raise UserError(f"{triplets}: no triplets file; mine one with `claimsift train mine-triplets`")
    console = _console()
    result = train_query_adapter(out, triplets, exclude=tuple(_names(exclude)), penalty=penalty,
                                 evaluate=evaluate, promote=promote, log=console.print)
    console.print(f"[green]{result['model']}[/green] registered under {out}")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    train_app.command("mine-triplets")(mine_triplets_cmd)
    train_app.command("query-adapter")(train_query_adapter_cmd)
