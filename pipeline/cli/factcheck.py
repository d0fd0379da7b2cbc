"""CLI commands of the fact-check matching area; registered by pipeline.cli.

``claimsift match``, ``claimsift evaluate matching``, ``claimsift train matcher`` and the
``claimsift factcheck`` group (ingest, index, ratings, convert-checkthat). Heavy libraries are
imported inside the commands.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from pipeline.core.errors import InputError, UserError, refuse_output_over_input
from pipeline.core.io import atomic_write_text, jsonl_lines
from pipeline.core.metrics import ranking_metrics, top1_precision_by_similarity
from pipeline.core.paths import DEFAULT_STORE, SHARED_DATASETS_DIR

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

DEFAULT_DATASETS = SHARED_DATASETS_DIR


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict | None, str]]:
    """(line, record or None, problem) for every non-blank line; nothing is skipped silently."""
    out: list[tuple[int, dict | None, str]] = []
    for number, record, problem in jsonl_lines(path):
        if record is None:
            out.append((number, None, problem or "not a JSON object"))
            continue
        missing = [k for k in required if k not in record]
        if missing:
            out.append((number, record, f"missing field(s) {', '.join(missing)}"))
            continue
        out.append((number, record, ""))
    return out


def match_command(
    data: Path = typer.Option(..., "--data", help="JSONL with `id` and `query` per line."),
    out: Path = typer.Option(..., "--out", help="Predictions JSONL: per query its id, its line in --data and ranked matches."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Store directory holding the fact-checks."),
    k: int = typer.Option(10, "--k", min=1, help="Matches per query (best first)."),
    model: str = typer.Option("matcher", "--model", help="Matcher model: name, name@version or a path."),
    backend: str = typer.Option("onnx", "--backend", help="Encoder backend: onnx or torch."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
) -> None:
    """Match posts to already fact-checked claims: writes ranked record ids with scores."""
    from rich.console import Console

    from pipeline.factchecks.matcher import FactCheckMatcher

    refuse_output_over_input(out, data)
    if data.is_file() and data.stat().st_size == 0:  # else an empty output and exit 0, as if all went well
        raise InputError(data, "the file is empty: no queries to match")
    console = Console(stderr=True)
    rows = _read_jsonl(data, ("id", "query"))
    matcher = FactCheckMatcher(store, spec=model, backend=backend)
    matcher.warm_up()
    if not len(matcher):
        raise UserError(f"{store}: no fact-check records in this store; ingest some with "
                        f"`claimsift ingest FILE --store {store}`")
    lines: list[str] = []
    problems = 0
    good = [(n, r) for n, r, p in rows if not p and r is not None and isinstance(r.get("query"), str)]
    results: dict[int, list] = {}
    for lo in range(0, len(good), batch_size):
        chunk = good[lo:lo + batch_size]
        for (number, _), matches in zip(chunk, matcher.match_many([r["query"] for _, r in chunk], k)):
            results[number] = matches
    for number, record, problem in rows:
        if record is not None and not problem and not isinstance(record.get("query"), str):
            problem = "`query` is not a string"
        if problem or record is None:
            problems += 1
            where = f"{data}, line {number}: {problem}"
            console.print(where, style="yellow", markup=False, highlight=False)  # a problem may hold [brackets]
            lines.append(json.dumps({"id": (record or {}).get("id"), "line": number, "matches": [],
                                     "error": where}, ensure_ascii=False))
            continue
        found = [{"id": m.id, "score": round(m.similarity, 6), "rating": m.rating, "verdict": m.verdict}
                 for m in results[number]]
        lines.append(json.dumps({"id": record["id"], "line": number, "matches": found}, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(lines) + ("\n" if lines else ""))
    console.print(f"[green]{len(rows) - problems} queries matched against {len(matcher)} fact-checks "
                  f"({matcher.model_label}) -> {out}[/green]" + (f"; [red]{problems} rows with errors[/red]"
                                                                if problems else ""))
    if problems:  # as check --data: a batch with rejected rows is not a clean run
        raise typer.Exit(1)


def evaluate_matching(
    data: Path = typer.Option(..., "--data", help="JSONL with `query` and `relevant` (record ids)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store"),
    model: str = typer.Option("matcher", "--model"),
    backend: str = typer.Option("onnx", "--backend"),
    as_json: bool = typer.Option(False, "--json", help="Print plain JSON."),
) -> None:
    """MAP@1, MAP@5, MRR and recall@k of the matcher on labelled queries (primary: MAP@5)."""

    from pipeline.factchecks.matcher import FactCheckMatcher

    rows = _read_jsonl(data, ("query", "relevant"))
    queries: list[str] = []
    relevant: list[list[str]] = []
    for number, record, problem in rows:
        if problem or record is None:
            raise InputError(data, problem, number)
        if not isinstance(record["relevant"], list) or not isinstance(record["query"], str):
            raise InputError(data, "`query` must be a string and `relevant` a list of record ids", number)
        queries.append(record["query"])
        relevant.append([str(x) for x in record["relevant"]])
    matcher = FactCheckMatcher(store, spec=model, backend=backend)
    matcher.warm_up()
    if not len(matcher):
        raise UserError(f"{store}: no fact-check records in this store")
    known = {r.id for r in matcher.index.records}
    missing = sum(1 for rel in relevant for x in rel if x not in known)
    started = time.perf_counter()
    matched = matcher.match_many(queries, 50)
    seconds = time.perf_counter() - started
    rankings = [[m.id for m in ms] for ms in matched]
    metrics = ranking_metrics(rankings, relevant)
    metrics["top1_by_similarity"] = top1_precision_by_similarity(
        [(ms[0].id, ms[0].similarity) if ms else None for ms in matched], relevant)
    metrics.update(primary="map@5", model=matcher.model_label, records=len(matcher),
                   relevant_not_in_store=missing, seconds_per_query=round(seconds / max(len(rows), 1), 4))
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"matching on {data.name} ({len(rows)} queries, {len(matcher)} fact-checks)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if key == "top1_by_similarity":
            value = ", ".join(f">={cut}: {v['precision']} of {v['coverage']:.0%}" for cut, v in value.items())
        table.add_row(key, str(value))
    Console().print(table)
    if missing:
        Console(stderr=True).print(f"[yellow]{missing} relevant ids are not in the store[/yellow]")


def train_matcher_command(
    data: Path = typer.Option(DEFAULT_DATASETS, "--data", help="The shared datasets folder."),
    backend: str = typer.Option("onnx", "--backend"),
    version: str = typer.Option(None, "--version", help="Version name (default: next vN)."),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="Make it the CURRENT matcher."),
    cache: Path = typer.Option(None, "--cache", help="Folder to keep the verified-claim vectors between runs."),
) -> None:
    """Train the post-to-fact-check re-ranker on CheckThat! 2020 task 2 (C tuned on dev)."""
    from rich.console import Console

    from pipeline.factchecks.training import train_matcher

    console = Console(stderr=True)
    ref, metrics = train_matcher(data, backend=backend, version=version, promote=promote, index_cache=cache,
                                 progress=lambda m: console.print(f"[dim]{m}[/dim]"))
    console.print(f"[green]{ref.label}[/green] dev MAP@5 {metrics['map@5']:.4f}, MAP@1 {metrics['map@1']:.4f}, "
                  f"MRR {metrics['mrr']:.4f}, recall@10 {metrics['recall@10']:.4f}")


def factcheck_ingest(
    paths: list[Path] = typer.Argument(..., help="Fact-check tables (claim, rating, …) or ClaimReview JSON-LD."),
    store: Path = typer.Option(DEFAULT_STORE, "--store"),
    backend: str = typer.Option("onnx", "--backend"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ingest fact-check records only (``claimsift ingest`` dispatches them here too)."""
    from rich.console import Console

    from pipeline.corpus.factchecks import ingest_fact_checks_report

    reports = []
    for path in paths:
        if not path.is_file():
            raise InputError(path, "no such file")
        reports.append(ingest_fact_checks_report(path, store))
    if any(r.added or r.updated for r in reports):
        from pipeline.factchecks.index import build_store_index

        build_store_index(store, backend=backend)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        console = Console(stderr=True)
        for r in reports:
            console.print(f"{r.path}: [green]{len(r.added)} added[/green], {len(r.updated)} updated, "
                          f"{len(r.unchanged)} unchanged, {len(r.unknown_rating)} with unknown rating "
                          f"(kept, NOT_ENOUGH_INFO), [red]{len(r.rejected)} rejected[/red]")
            for rejection in r.rejected:
                console.print(f"  [red]{rejection}[/red]")
    if any(r.rejected for r in reports):
        raise typer.Exit(1)


def factcheck_index(
    store: Path = typer.Option(DEFAULT_STORE, "--store"),
    backend: str = typer.Option("onnx", "--backend"),
) -> None:
    """Rebuild the matching index of the store's fact-checks (atomic)."""
    from pipeline.factchecks.index import build_store_index, index_dir

    index = build_store_index(store, backend=backend)
    typer.echo(f"{index_dir(store)}: {len(index)} fact-checks ({len(index.canonical)} distinct claims)")


def factcheck_ratings(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the rating -> verdict map (unknown ratings: NOT_ENOUGH_INFO, rating kept)."""
    from pipeline.corpus.factchecks import RATING_TO_VERDICT

    if as_json:
        typer.echo(json.dumps(RATING_TO_VERDICT, indent=2))
        return
    for rating, verdict in RATING_TO_VERDICT.items():
        typer.echo(f"{rating:24s} {verdict}")


def convert_checkthat(
    out: Path = typer.Option(..., "--out", help="Folder for the generated files (not the repository)."),
    data: Path = typer.Option(DEFAULT_DATASETS, "--data", help="The shared datasets folder."),
) -> None:
    """CheckThat! 2020 task 2 as claimsift inputs: fact-check records + match/evaluate queries.

    Writes ``verified_claims.factchecks.jsonl`` (ingest it), and per split
    ``<split>.matching.jsonl`` with ``id``, ``query``, ``relevant``.
    """
    from pipeline.factchecks.training import checkthat_queries, checkthat_records

    out.mkdir(parents=True, exist_ok=True)
    records = checkthat_records(data)
    with open(out / "verified_claims.factchecks.jsonl", "w", encoding="utf-8") as handle:
        for r in records:
            handle.write(json.dumps({"id": r.id, "claim": r.claim, "title": r.title, "rating": r.rating,
                                     "publisher": r.publisher, "url": r.url, "date": r.date},
                                    ensure_ascii=False) + "\n")
    counts = {}
    for split in ("train", "dev"):
        queries = checkthat_queries(data, split)
        with open(out / f"{split}.matching.jsonl", "w", encoding="utf-8") as handle:
            for q in queries:
                handle.write(json.dumps(q, ensure_ascii=False) + "\n")
        counts[split] = len(queries)
    typer.echo(f"{out}: {len(records)} fact-check records, {counts['train']} train and {counts['dev']} dev "
               "queries")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    factcheck_app = typer.Typer(help="Fact-check records: ingest, index, rating map, dataset conversion.",
                                no_args_is_help=True)
    app.add_typer(factcheck_app, name="factcheck")
    app.command("match")(match_command)
    evaluate_app.command("matching")(evaluate_matching)
    train_app.command("matcher")(train_matcher_command)
    factcheck_app.command("ingest")(factcheck_ingest)
    factcheck_app.command("index")(factcheck_index)
    factcheck_app.command("ratings")(factcheck_ratings)
    factcheck_app.command("convert-checkthat")(convert_checkthat)
