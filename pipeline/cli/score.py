"""``claimsift score``: batch-score a dump of social posts (see ``pipeline.scoring.scorer``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from pipeline.cli.check import STANCE_BACKEND_HELP, STANCE_MODEL_HELP
from pipeline.core.errors import UserError, refuse_output_over_input
from pipeline.core.paths import DEFAULT_STORE
from pipeline.verdict.packs import RULE_PACK_HELP

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

TABLE_ROWS = 40
# pipeline.registry.embedding.Encoder's backends: checked here, where the job starts, not once the models load.
ENCODER_BACKENDS = ("onnx", "torch")


def score(
    input_path: Path = typer.Argument(..., metavar="INPUT",
                                      help="Posts: .jsonl / .csv / .tsv / .parquet, optionally .gz; raw "
                                           "tweet-object JSONL works as is (full_text, id_str)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store to check claims against."),
    out: Path = typer.Option(..., "--out", help="Output .parquet or .jsonl; rejected rows go to "
                                                "OUT.rejected.jsonl, checkpoints to OUT.parts/."),
    engine: str = typer.Option("local", "--engine", help="local, or dask (dask.distributed)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address "
                                            "(tcp://host:8786); implies --engine dask. Default: a LocalCluster."),
    workers: int = typer.Option(2, "--workers", help="Worker processes of the LocalCluster (--engine dask)."),
    resume: bool = typer.Option(False, "--resume", help="Finish a killed or failed run from its checkpoint."),
    text_column: str = typer.Option("text", "--text-column", help="Column/field holding the post text."),
    id_column: str = typer.Option("id", "--id-column", help="Column/field holding the post id."),
    # None when not given: --resume then takes the checkpoint's, whose chunk boundaries are the job's.
    batch_size: Optional[int] = typer.Option(None, "--batch-size", show_default=False,
                                             help="Input rows per chunk: the unit of batching and of "
                                                  "checkpointing. Default: 256; with --resume, the checkpoint's."),
    max_chars: int = typer.Option(10_000, "--max-chars", help="Longer posts are rejected."),
    encoder_backend: str = typer.Option("onnx", "--encoder-backend", help="onnx (light, default) or torch."),
    domain: str = typer.Option("auto", "--domain", help="Check-worthiness domain: auto (default: each post "
                               "routed by its form, written to checkworthy_domain), post or speech (forced)."),
    top_k: int = typer.Option(5, "--top-k", min=1, max=50, help="Evidence passages per claim."),
    table: bool = typer.Option(False, "--table", help=f"Print the first {TABLE_ROWS} claims found as a table "
                               "(posts without a claim are counted, not listed)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress",
                                            help="Progress bar (default: on a terminal, not in CI)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when any row was rejected "
                                "(default 0: a dump of posts usually holds some rows that cannot be scored)."),
    rule_packs: Optional[List[str]] = typer.Option(None, "--rule-pack", help=RULE_PACK_HELP),
    stance_model: Optional[str] = typer.Option(None, "--stance-model", help=STANCE_MODEL_HELP),
    stance_backend: str = typer.Option("auto", "--stance-backend", help=STANCE_BACKEND_HELP),
) -> None:
    """Find the check-worthy claims in every post and check each against the corpus."""
    from pipeline.scoring.models import CHECKWORTHY_DOMAINS, ModelScorer
    from pipeline.scoring.output import rejected_path
    from pipeline.scoring.scorer import score_file
    from pipeline.stance.backends import CROSS_ENCODER_BACKENDS

    refuse_output_over_input(out, input_path)
    refuse_output_over_input(rejected_path(out), input_path)
    if scheduler:
        engine = "dask"
    if domain not in CHECKWORTHY_DOMAINS:
        raise UserError(f"unknown --domain {domain!r}; use {', '.join(CHECKWORTHY_DOMAINS[:-1])} or {CHECKWORTHY_DOMAINS[-1]}")
    if stance_backend not in CROSS_ENCODER_BACKENDS:
        raise UserError(f"unknown --stance-backend {stance_backend!r}; use {', '.join(CROSS_ENCODER_BACKENDS)}")
    if encoder_backend not in ENCODER_BACKENDS:
        raise UserError(f"unknown --encoder-backend {encoder_backend!r}; use {' or '.join(ENCODER_BACKENDS)}")
    if stance_model is not None:
        stance_model = stance_model.strip()
    if stance_model is not None and not stance_model:  # the scorer would read "" as no choice
        raise UserError("--stance-model needs a registry name, name@version or path")
    # Pinned where the job starts (ModelScorer.pin_models): recorded in the checkpoint's manifest, loaded by
    # every worker, and a warning said there, once, where it is not the one the verdict model was fitted on.
    scorer = ModelScorer(store, encoder_backend=encoder_backend, top_k=top_k, checkworthy_domain=domain,
                         rule_packs=rule_packs or (), stance_spec=stance_model, stance_backend=stance_backend)
    try:
        summary = score_file(input_path, out, scorer, engine=engine, resume=resume, chunk_size=batch_size,
                             text_column=text_column, id_column=id_column, max_chars=max_chars,
                             scheduler=scheduler, workers=workers, progress=progress)
    except KeyboardInterrupt:
        raise UserError(f"interrupted; finished chunks are kept in {out}.parts: rerun with --resume",
                        exit_code=130) from None
    except SystemExit as stop:  # SIGTERM (`timeout`, `kill`): the same hint, and its exit status
        if stop.code != 143:
            raise
        raise UserError(f"terminated; finished chunks are kept in {out}.parts: rerun with --resume",
                        exit_code=143) from None
    if summary.rejected:
        # On stderr, even with --json: a person or a log must see that rows were not scored.
        typer.echo(f"{summary.rejected:,} row{'s' if summary.rejected != 1 else ''} rejected: see "
                   f"{summary.rejected_output} for the line and reason of each"
                   + ("" if strict else " (exit status 0; --strict exits 1)"), err=True)
    for warning in summary.id_warnings():  # on stderr too: whoever joins on post_id must see it is no key
        typer.echo(warning, err=True)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary, out, table)
    if strict and summary.rejected:
        raise typer.Exit(1)


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    app.command("score")(score)


def _print_summary(summary, out: Path, table: bool) -> None:
    """The summary a person reads: counts, speed, verdicts, where the files are."""
    from rich.console import Console

    console = Console()
    if table:
        console.print(results_table(out))
    resumed = f" ({summary.resumed_chunks} of {summary.chunks} chunks from the checkpoint)" if summary.resumed_chunks else ""
    console.print(f"[bold]read {summary.read:,}[/] = scored {summary.scored:,} + rejected {summary.rejected:,}"
                  f"{resumed}; {summary.claims:,} claims checked; "
                  f"{summary.posts_per_second:.1f} posts/s ({summary.engine} engine, model loading included)")
    if summary.verdicts:
        console.print("verdicts: " + ", ".join(f"{k} {v:,}" for k, v in summary.verdicts.items()))
    console.print(f"output: {summary.output}\nrejected rows: {summary.rejected_output}")
    from pipeline.scoring.output import output_format, provenance_path

    if output_format(Path(summary.output)) == "jsonl":
        console.print(f"models and settings that produced it: {provenance_path(Path(summary.output))}")


def results_table(output: Path, limit: int = TABLE_ROWS):
    """One table row per claim found, the first ``limit`` of them, each with its post's line and the
    start of the post (once per post); posts without a claim are counted in the caption, not listed.
    Narrow enough to read in 100 columns: the full rows are in ``output``."""
    from rich.markup import escape
    from rich.table import Table

    from pipeline.scoring.output import iter_output

    colours = {"SUPPORTED": "green", "REFUTED": "red", "CONFLICTING": "yellow", "NOT_ENOUGH_INFO": "dim"}
    table = Table(title=f"Claims found ({escape(str(output))})", show_lines=True, expand=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("claim", ratio=5)
    table.add_column("verdict", no_wrap=True)
    table.add_column("evidence (decisive, else best)", ratio=4)
    posts = without_claims = claims = shown = 0
    for row in iter_output(output):  # read to the end: the caption counts every post
        posts += 1
        if not row["claims"]:
            without_claims += 1
            continue
        claims += len(row["claims"])
        post = " ".join((row["text"] or "").split())
        for i, claim in enumerate(row["claims"]):
            if shown == limit:
                break
            shown += 1
            verdict = claim["verdict"]
            if verdict is None:
                label = f"[dim]not checked[/]\n[dim]{_clip(claim['skipped'] or '', 30)}[/]"
            else:
                label = f"[{colours.get(verdict, 'white')}]{verdict}[/]\n{claim['confidence']:.2f}"
            evidence = [e for e in claim["evidence"] if e["decisive"]] or claim["evidence"][:1]
            shown_evidence = "\n".join(f"[bold]{e['stance']}[/] {_clip(e['sentence'], 90)} [dim]({_document(e)})[/]"
                                        for e in evidence[:1])
            text = _clip(claim["text"], 120)
            if i == 0 and not post.startswith(" ".join((claim["text"] or "").split())[:119]):
                # the start of the post, unless the claim already shows it
                text += f"\n[dim]post: {_clip(post, 80)}[/]"
            table.add_row(str(row["line"]) if i == 0 else "", text, label, shown_evidence)
    listed = (f"the first {shown:,} of {claims:,} claims shown" if shown < claims
              else f"{claims:,} claim{'s' if claims != 1 else ''}")
    no_claim = (f"{without_claims:,} of {posts:,} post{'s' if posts != 1 else ''} had no check-worthy claim"
                if without_claims else "every post had a claim")
    table.caption = f"{listed}; {no_claim}; all results in {escape(str(output))}"
    return table


def _document(evidence: dict) -> str:
    """What names a passage's document, as ``claimsift check`` does: its name, else its source
    (the name, in outputs of an older claimsift), its title or its id."""
    return _clip(evidence.get("document") or evidence.get("source") or evidence.get("title")
                 or evidence.get("doc_id") or "", 40)


def _clip(text: str, width: int) -> str:
    from rich.markup import escape

    text = " ".join((text or "").split())
    return escape(text if len(text) <= width else text[: width - 1] + "…")
