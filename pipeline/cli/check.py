"""CLI: ``index``, ``check`` and ``evaluate claims``."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from pipeline.core.errors import InputError, UserError, refuse_output_over_input
from pipeline.core.io import atomic_write_text, jsonl_lines
from pipeline.core.paths import DEFAULT_STORE
from pipeline.retrieval.query_adapter import QUERY_ADAPTER_HELP
from pipeline.stance.rerank import RERANK_BY_DEFAULT, RERANK_HELP, reranker_if
from pipeline.verdict.packs import RULE_PACK_HELP
from pipeline.verdict.validation import MAX_TOP_K, valid_before, valid_top_k

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

STANCE_BACKEND_HELP = ("What runs the stance cross-encoder: auto (bfloat16 where the processor has it, else ONNX "
                       "Runtime in float32), bf16, onnx, torch, or onnx-int8: int8 weights, ~1.4x the claims/s "
                       "of onnx and the same verdict for 96% of claims, but a pair's probabilities then move "
                       "(up to ~0.06) with the other pairs in its batch.")
STANCE_MODEL_HELP = ("Registry name, name@version or path; default: the stance model the verdict model was "
                     "fitted on (`stance`: the current one).")
VERDICT_STYLE = {"SUPPORTED": "bold green", "REFUTED": "bold red", "NOT_ENOUGH_INFO": "bold yellow",
                 "CONFLICTING": "bold magenta"}


def _trim_context(context: str, sentence: str, margin: int = 120) -> str:
    """The sentence with at most ``margin`` characters of its neighbours on each side."""
    at = context.find(sentence)
    if at < 0:
        return context
    before, after = context[:at], context[at + len(sentence):]
    before = before if len(before) <= margin else "…" + before[-margin:]
    after = after if len(after) <= margin else after[:margin] + "…"
    return before + sentence + after


def render_verdict(verdict, console) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(("Claim: ", "bold"), verdict.claim, "\n", ("Verdict: ", "bold"),
                         (verdict.verdict, VERDICT_STYLE.get(verdict.verdict, "bold")),
                         f"  (confidence {verdict.confidence:.2f})",
                         ("  needs review: read the evidence" if verdict.needs_review else "", "bold yellow"))
    console.print(Panel(head, expand=False))
    title = "Evidence (best first; ► decided the verdict)"
    if verdict.evidence and not verdict.decisive and verdict.verdict != "NOT_ENOUGH_INFO":
        title = "Evidence (best first; no single passage argues for the verdict: it weighs them all)"
    table = Table(show_lines=True, title=title)
    table.add_column("#", justify="right")
    table.add_column("stance")
    table.add_column("passage (decisive sentence in bold)", ratio=1)
    table.add_column("document", overflow="fold")
    table.add_column("score", justify="right")
    for i, item in enumerate(verdict.evidence):
        decisive = i in verdict.decisive
        passage = Text(_trim_context(item.context or item.sentence, item.sentence))
        at = passage.plain.find(item.sentence)
        if at >= 0:
            passage.stylize("bold underline" if decisive else "bold", at, at + len(item.sentence))
        probs = item.stance_probs.get(item.stance, 0.0)
        stance_style = {"SUPPORTS": "green", "REFUTES": "red"}.get(item.stance, "yellow")
        # Escaped: a source, URL or date is the document's own text, not markup.
        document = "\n".join([escape(item.document or item.source), *([f"[dim]{escape(item.url)}[/]"] if item.url else []),
                               f"[{item.start}:{item.end}]", *([escape(item.published)] if item.published else [])])
        table.add_row(("► " if decisive else "") + str(i + 1), Text(f"{item.stance}\n{probs:.2f}", stance_style), passage,
                      document, f"{item.score:.3f}")
    console.print(table)
    if verdict.fact_checks:
        facts = Table(title="Earlier fact-checks")
        for col in ("rating", "verdict", "publisher", "claim", "similarity"):
            facts.add_column(col)
        for fc in verdict.fact_checks:
            facts.add_row(str(fc.get("rating")), str(fc.get("verdict")), str(fc.get("publisher") or ""),
                          str(fc.get("claim") or "")[:80], f"{fc.get('similarity', 0):.2f}")
        console.print(facts)


def _why_no_evidence(store: Path, before: str | None) -> str:
    """Why a claim found no passage to judge, so that NOT_ENOUGH_INFO over an empty list is read as
    "nothing to read" rather than as a finding."""
    from pipeline.corpus.store import Corpus

    counts = Corpus(store).summary()
    documents = int(counts["documents"])
    if documents == 0:
        return f"no passage to judge: the store {store} holds no documents"
    if before is None:
        return f"no passage to judge among the {documents} documents of {store}"
    published = counts["published"]
    if published["first"] and published["first"] < before:
        # Documents of that time exist: none of them said anything retrieval took for this claim.
        return (f"no passage to judge dated before {before}: none of the documents of {store} dated before it "
                f"(the earliest from {published['first']}) has a passage about this claim, and "
                f"{published['undated']} undated documents are left out by --before")
    earliest = (f"the earliest is from {published['first']}" if published["first"]
                else "none has a date")
    return (f"no passage to judge dated before {before}: of the {documents} documents of {store}, "
            f"{published['undated']} have no date (left out by --before) and {earliest}")


def _id_fields(obj: dict) -> dict:
    """The input's id columns (``id``, ``id_str``, ``*_id``), copied into its output row so that
    results join back to the input."""
    return {key: value for key, value in obj.items()
            if key.lower() in ("id", "id_str") or key.lower().endswith("_id")}


def _read_claim_lines(path: Path, text_column: str = "claim"):
    """(line number, claim or None, problem or None, id fields) per line of a JSONL file, or per
    row of a CSV, TSV or Parquet file (its ``text_column``; `id` kept where the file has one),
    read as `score` reads posts."""
    from pipeline.scoring.posts import PostReader, detect_format

    if detect_format(path) != "jsonl":
        for record in PostReader(path, text_column=text_column):
            ids = {"id": record.post_id} if record.post_id is not None else {}
            yield record.line, record.text, record.reason, ids
        return
    for line_no, obj, problem in jsonl_lines(path, blank_lines=True):
        if obj is None:
            yield line_no, None, problem, {}
            continue
        claim = obj.get(text_column)
        if not isinstance(claim, str):
            problem = (f"no `{text_column}` text field" if claim is None
                       else f"`{text_column}` is {type(claim).__name__} {json.dumps(claim)[:40]}, not text")
            yield line_no, None, problem, _id_fields(obj)
            continue
        yield line_no, claim, None, _id_fields(obj)


def index_command(
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store directory."),
    rebuild: bool = typer.Option(False, help="Re-embed every sentence instead of only new ones."),
    backend: str = typer.Option("torch", help="Encoder backend: torch or onnx (same model, same vectors)."),
) -> None:
    """Build or update the dense + BM25 evidence index of a store (incremental, atomic)."""
    from rich.console import Console

    from pipeline.registry.embedding import Encoder
    from pipeline.retrieval.index import update_index

    update = update_index(store, Encoder(backend), rebuild=rebuild, progress=sys.stderr.isatty(),
                          on_wait=lambda: print(f"waiting for another process building the index of {store} "
                                                "to finish…", file=sys.stderr, flush=True))
    Console(stderr=True).print(
        f"index {update.version}: {update.total} sentences, {update.embedded} embedded, {update.removed} removed "
        f"in {update.seconds:.1f}s" + (f" ({update.sentences_per_second:.0f} sentences/s)" if update.embedded else ""))


def _warn_of_a_stance_model_the_verdict_model_was_not_fitted_on(checker) -> None:
    """--stance-model is allowed to differ (an experiment), but not silently."""
    mismatch = checker.stance_mismatch()
    if mismatch:
        print(f"warning: {mismatch}", file=sys.stderr)


def check_command(
    claim: Optional[str] = typer.Argument(None, help="The claim to check (or use --data)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Corpus store directory."),
    top_k: int = typer.Option(5, "--top-k", help=f"Evidence passages to judge (1 to {MAX_TOP_K})."),
    before: Optional[str] = typer.Option(None, "--before", help="Only evidence published before this date (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    data: Optional[Path] = typer.Option(None, "--data", help="Claims to check: JSONL with a `claim` field per line, or CSV, TSV or Parquet with a `claim` column (an `id` column is kept)."),
    out: Optional[Path] = typer.Option(None, "--out", help="With --data: write one JSON object per input line here."),
    text_column: str = typer.Option("claim", "--text-column", help="With --data: the field or column holding the claim."),
    stance_model: Optional[str] = typer.Option(None, "--stance-model", help=STANCE_MODEL_HELP),
    rule_packs: Optional[List[str]] = typer.Option(None, "--rule-pack", help=RULE_PACK_HELP),
    rerank: bool = typer.Option(RERANK_BY_DEFAULT, "--rerank/--no-rerank", help=RERANK_HELP),
    query_adapter: Optional[str] = typer.Option(None, "--query-adapter", help=QUERY_ADAPTER_HELP),
) -> None:
    """Check a claim against the corpus: verdict, confidence and the evidence that decided it."""
    from pipeline.verdict.checker import Checker
    from pipeline.verdict.validation import InvalidClaimError, validate_claim

    # The same check and message as the Python API's (pipeline.verdict.validation).
    before = valid_before(before, "--before")
    top_k = valid_top_k(top_k, "--top-k")
    if claim is None and data is None:
        raise UserError("nothing to check: give a CLAIM or --data FILE")
    if claim is not None and data is not None:
        raise UserError("give either a CLAIM or --data FILE, not both")
    if data is not None and out is not None:
        refuse_output_over_input(out, data)
        if data.is_file() and data.stat().st_size == 0:  # else an empty output and exit 0, as if all went well
            raise InputError(data, "the file is empty: no claims to check")
    if claim is not None:
        claim = validate_claim(claim)
    from pipeline.corpus.store import Corpus
    from pipeline.retrieval.index import stale_index_message

    if Corpus(store).exists():
        stale = stale_index_message(store)
        if stale:
            print(f"warning: {stale}", file=sys.stderr)
    checker = Checker(store, top_k=top_k, stance_spec=stance_model, rule_packs=rule_packs or (),
                      reranker=reranker_if(rerank), query_adapter=query_adapter)
    _warn_of_a_stance_model_the_verdict_model_was_not_fitted_on(checker)
    if claim is not None:
        verdict = checker.check(claim, before=before)
        if not verdict.evidence:
            print(f"note: {_why_no_evidence(store, before)}", file=sys.stderr)
        if as_json:
            print(json.dumps(verdict.to_dict(), ensure_ascii=False))
        else:
            from rich.console import Console

            render_verdict(verdict, Console())
        return
    assert data is not None  # a CLAIM or --data, checked above
    if out is None:
        raise UserError("--data needs --out PRED.jsonl")
    rows = list(_read_claim_lines(data, text_column))
    good = []
    for position, (line_no, text, problem, ids) in enumerate(rows):
        if problem is None:
            try:
                good.append((line_no, validate_claim(text)))
            except InvalidClaimError as exc:
                rows[position] = (line_no, None, str(exc), ids)
    verdicts = dict(zip((n for n, _ in good), checker.check_many([c for _, c in good], before=before))) if good else {}

    lines, failed = [], 0
    for line_no, _, problem, ids in rows:
        if line_no in verdicts:
            lines.append(json.dumps({"line": line_no, **ids, **verdicts[line_no].to_dict()}, ensure_ascii=False))
        else:
            failed += 1
            lines.append(json.dumps({"line": line_no, **ids, "error": f"{data}, line {line_no}: {problem}"},
                                    ensure_ascii=False))
    atomic_write_text(out, "\n".join(lines) + ("\n" if lines else ""))
    print(f"{len(rows)} lines read: {len(verdicts)} checked, {failed} rejected -> {out}", file=sys.stderr)
    if failed:
        raise typer.Exit(1)


def evaluate_claims_command(
    data: Path = typer.Option(Path("tests/data/seed_claims.jsonl"), "--data", help="Labelled claims (JSONL)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store"),
    k: int = typer.Option(5, "--k", help="Evidence hit@k."),
    as_json: bool = typer.Option(False, "--json"),
    stance_model: Optional[str] = typer.Option(None, "--stance-model", help=STANCE_MODEL_HELP),
    rule_packs: Optional[List[str]] = typer.Option(None, "--rule-pack", help=RULE_PACK_HELP),
    query_adapter: Optional[str] = typer.Option(None, "--query-adapter", help=QUERY_ADAPTER_HELP),
) -> None:
    """Verdict accuracy, macro-F1 and evidence hit@k on labelled claims."""
    from pipeline.evaluation.claims import evaluate_claims, read_labelled_claims
    from pipeline.verdict.checker import Checker

    checker = Checker(store, top_k=k, stance_spec=stance_model, rule_packs=rule_packs or (),
                      query_adapter=query_adapter)
    _warn_of_a_stance_model_the_verdict_model_was_not_fitted_on(checker)
    report = evaluate_claims(checker, read_labelled_claims(data), k=k)
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Claims: {data}")
    for col in ("claim", "label", "predicted", "confidence", "evidence hit"):
        table.add_column(col)
    for row in report["claims"]:
        ok = row["label"] == row["predicted"]
        table.add_row(row["claim"][:70], row["label"], f"[{'green' if ok else 'red'}]{row['predicted']}",
                      str(row["confidence"]), str(row.get("evidence_hit", "")))
    console = Console()
    console.print(table)
    console.print({k2: v for k2, v in report.items() if k2 != "claims"})


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    app.command("index")(index_command)
    app.command("check")(check_command)
    evaluate_app.command("claims")(evaluate_claims_command)
