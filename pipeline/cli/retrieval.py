"""CLI commands of the retrieval stage's learned part, the query adapter; registered by pipeline.cli.

Heavy libraries (torch, the encoder, the stance screen) are imported inside the commands.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from pipeline.core.paths import SHARED_DATASETS_DIR

# Light (numpy only): --help stays fast.
from pipeline.retrieval.query_adapter import ADAPTER_EXCLUDED, ADAPTER_PENALTY, TRIPLET_CORPORA

DEFAULT_DATA = SHARED_DATASETS_DIR


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def mine_triplets_cmd(
    out: Path = typer.Option(Path("out/query_adapter/triplets.jsonl"), "--out",
                             help="JSONL of (claim, positive, negative) triplets (+ OUT.stats.json)"),
    corpora: str = typer.Option(",".join(TRIPLET_CORPORA), "--corpora",
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
    documents: Optional[List[Path]] = typer.Option(
        None, "--documents", help="your corpus (files, folders or tables as `claimsift ingest` reads them); "
                                  "with --claims: fit a map for it"),
    claims: Optional[Path] = typer.Option(None, "--claims", help="your labelled claims with `gold_evidence` "
                                                                  "(the JSONL of `claimsift evaluate corpus`)"),
    store: Optional[Path] = typer.Option(None, "--store", help="with --claims: the store to build (with "
                                         "--documents) or reuse (default: out/query_adapter/<claims file name>/store)"),
    public_triplets: Optional[Path] = typer.Option(None, "--public-triplets",
                                                   help="with --claims: public triplets to fit on as well"),
    out: Path = typer.Option(Path("models"), "--out", help="models directory (registry root)"),
    exclude: str = typer.Option(",".join(ADAPTER_EXCLUDED), "--exclude",
                                help="corpora whose triplets are left out (LIAR's train split fits the verdict model)"),
    penalty: float = typer.Option(ADAPTER_PENALTY, "--penalty", help="weight of ||W - I||^2 / d"),
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate",
                                  help="measure recall@5 leave-one-corpus-out and on the tune split (~5 min)"),
    promote: bool = typer.Option(False, "--promote/--no-promote", help="point CURRENT at the new version"),
) -> None:
    """Fit the query adapter (a linear map on claim vectors before dense search) and register it:
    on the public triplets, or with --documents and --claims on your own corpus (compared on its
    tune split with no map and with the current one)."""
    from pipeline.core.errors import UserError
    from pipeline.registry.registry import Registry
    from pipeline.training.retriever_fit import adapt_to_corpus, train_query_adapter

    Registry(out)  # an --out that is a file is refused here, not after the fit
    console = _console()
    if claims is not None or documents:
        if claims is None:
            raise UserError("--documents needs --claims: your labelled claims with gold evidence")
        if not (documents or store):
            raise UserError("--claims needs --documents DOCS (a store is built) or --store DIR (an existing one)")
        if promote or not evaluate or exclude != ",".join(ADAPTER_EXCLUDED):
            raise UserError("--promote, --no-evaluate and --exclude apply to the public fit, not to --claims "
                            "(a map for your corpus is always compared and never made current)")
        if not claims.is_file():
            raise UserError(f"{claims}: no such claims file")
        if public_triplets is not None and not public_triplets.is_file():
            raise UserError(f"{public_triplets}: no triplets file; mine one with `claimsift train mine-triplets`")
        result = adapt_to_corpus(out, list(documents or []), claims,
                                 store or Path("out/query_adapter") / claims.stem / "store",
                                 public_triplets=public_triplets, penalty=penalty, log=console.print)
        console.print(f"[green]{result['model']}[/green] registered under {out}, not made current")
        return
    if not triplets.is_file():
        raise UserError(f"{triplets}: no triplets file; mine one with `claimsift train mine-triplets`")
    result = train_query_adapter(out, triplets, exclude=tuple(_names(exclude)), penalty=penalty,
                                 evaluate=evaluate, promote=promote, log=console.print)
    console.print(f"[green]{result['model']}[/green] registered under {out}")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    train_app.command("mine-triplets")(mine_triplets_cmd)
    train_app.command("query-adapter")(train_query_adapter_cmd)
