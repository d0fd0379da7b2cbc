"""CLI: ``evaluate corpus``: end-to-end figures of the default Checker on a labelled corpus."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from pipeline.core.errors import UserError, refuse_output_over_input
from pipeline.core.io import atomic_write_text
from pipeline.core.paths import DEFAULT_CORPORA_DIR
from pipeline.retrieval.query_adapter import QUERY_ADAPTER_HELP
from pipeline.stance.rerank import RERANK_BY_DEFAULT, RERANK_HELP, reranker_if
from pipeline.verdict.packs import RULE_PACK_HELP

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.


def evaluate_corpus_command(
    documents: Optional[List[Path]] = typer.Option(
        None, "--documents", help="Documents to check against: a table in the ingest schema (text, optional "
                                  "id/title/url/source/published) or any file/folder `ingest` reads; repeatable."),
    claims: Optional[Path] = typer.Option(
        None, "--claims", help="Labelled claims (JSONL: id, claim, label, optional date, gold_evidence, "
                               "gold_documents, exclude_documents)."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="Build documents and claims from the shared datasets: averitec, fever, covidfact, "
                                "liar, healthver, seeds (instead of --documents/--claims)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="The shared datasets folder "
                                                                    "(default ../shared/datasets)."),
    corpora_dir: Path = typer.Option(DEFAULT_CORPORA_DIR, "--corpora-dir",
                                     help="Where --dataset corpora (and their stores) are built (default: "
                                          "out/corpora in the project folder).", show_default=False),
    store: Optional[Path] = typer.Option(None, "--store", help="Store to build or reuse (default: beside the "
                                                              "claims file, CLAIMS-NAME.eval-store/); a store "
                                                              "not built by evaluate is never changed."),
    split: str = typer.Option("all", "--split", help="train, tune, report or all."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Check at most N claims of the split "
                                                                    "(a fixed pseudo-random subset)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the figures (JSON) to this file."),
    claims_out: Optional[Path] = typer.Option(None, "--claims-out", help="Write one JSON line per claim "
                                                                        "(verdict, evidence, probabilities)."),
    rule_packs: Optional[List[str]] = typer.Option(None, "--rule-pack", help=RULE_PACK_HELP),
    rerank: bool = typer.Option(RERANK_BY_DEFAULT, "--rerank/--no-rerank", help=RERANK_HELP),
    query_adapter: Optional[str] = typer.Option(None, "--query-adapter", help=QUERY_ADAPTER_HELP),
) -> None:
    """Verdict accuracy, macro-F1, per-class F1, confusion, evidence recall@5, claims/s and the
    majority-class baseline of the default Checker on a corpus; the store is built once and
    reused while the documents are unchanged."""
    from pipeline.datasets.corpora import DEFAULT_DATA_DIR, build_dataset
    from pipeline.evaluation.corpus import evaluate_corpus

    given = [*(documents or []), *([claims] if claims is not None else [])]
    for target in (out, claims_out):
        if target is not None:  # before the store is built and every claim checked, not at the last write
            refuse_output_over_input(target, *given)
    if dataset is not None:
        if documents or claims:
            raise UserError("give either --dataset or --documents and --claims, not both")
        built = build_dataset(dataset, data_dir or DEFAULT_DATA_DIR, corpora_dir)
        documents, claims = list(built.documents), built.claims
        store_dir = store or built.folder / "store"
    else:
        if claims is None or not (documents or store):
            raise UserError("give --documents (or an existing --store) and --claims, or --dataset NAME")
        # Not "store/": beside a claims file that is often the user's own store.
        store_dir = store or claims.parent / f"{claims.stem}.eval-store"

    def progress(done: int, total: int) -> None:
        if not as_json:
            typer.echo(f"\r{done}/{total} claims checked", nl=done == total, err=True)

    from pipeline.verdict.checker import Checker

    evaluation = evaluate_corpus(documents, claims, store_dir, corpus=dataset, split=split, limit=limit,
                                 progress=progress, checker=Checker(store_dir, rule_packs=rule_packs or (),
                                                                 reranker=reranker_if(rerank),
                                                                 query_adapter=query_adapter))
    summary = evaluation.summary
    if out is not None:
        atomic_write_text(out, json.dumps(summary, indent=1) + "\n")
    if claims_out is not None:
        rows = evaluation.frame.to_dict(orient="records")
        atomic_write_text(claims_out, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                                              for r in rows))
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    _print_summary(summary)


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    evaluate_app.command("corpus")(evaluate_corpus_command)


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    base = summary["majority_baseline"]
    recall = summary.get("evidence_recall@5")
    console.print(f"[bold]{summary['corpus']}[/bold] split {summary['split']}: {summary['n']} claims, "
                  f"{summary['claims_per_s']} claims/s; store {summary['store']['documents']} documents "
                  f"({'reused' if summary['store']['reused'] else 'built'} in {summary['store']['seconds']} s)")
    console.print(f"accuracy {summary['accuracy']:.3f}  macro-F1 {summary['macro_f1']:.3f}  evidence recall@5 "
                  f"{'n/a' if recall is None else f'{recall:.3f}'} ({summary['n_with_gold_evidence']} with gold)  "
                  f"majority ({base['label']}) accuracy {base['accuracy']:.3f} macro-F1 {base['macro_f1']:.3f}")
    table = Table(title="confusion (rows gold, columns predicted)")
    table.add_column("gold")
    for label in summary["labels"]:
        table.add_column(label[:12], justify="right")
    table.add_column("F1", justify="right")
    for label, row in zip(summary["labels"], summary["confusion"]):
        if label in summary["f1"]:
            table.add_row(label, *map(str, row), f"{summary['f1'][label]:.3f}")
    console.print(table)
