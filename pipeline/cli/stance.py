"""CLI commands of the stance and verdict stage; registered by pipeline.cli.

Heavy libraries (torch, transformers, sentence-transformers) are imported inside the commands.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from pipeline.cli.options import options_given
from pipeline.core.errors import UserError, refuse_output_over_input
from pipeline.core.io import write_jsonl
from pipeline.core.paths import SHARED_DATASETS_DIR
from pipeline.core.types import STANCE_LABELS
from pipeline.registry.registry import DEFAULT_MODELS_DIR

# The stages and rich are imported inside the commands: `claimsift --help` and the quick commands then start
# in a fraction of a second.

DEFAULT_DATA = SHARED_DATASETS_DIR


def _console():
    from rich.console import Console

    return Console(stderr=True)


def train_stance(
    ctx: typer.Context,
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="the shared datasets folder"),
    out: Path = typer.Option(DEFAULT_MODELS_DIR, "--out", help="models directory (registry root)"),
    kind: str = typer.Option("cross-encoder", "--kind", help="cross-encoder (stance) or embed (stance-embed)"),
    max_pairs: Optional[int] = typer.Option(None, "--max-pairs", help="cap on training pairs (default ~12.7k)"),
    epochs: float = typer.Option(1.0, "--epochs", help="passes over the training pairs (cross-encoder)"),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="stop training after this many seconds"),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="point CURRENT at the new version"),
    base: Optional[str] = typer.Option(None, "--base", help="with a labelled file: the model to derive from"),
    public: bool = typer.Option(True, "--public/--no-public",
                                help="with a labelled file: add the public training data (default) or not"),
    datasets: Optional[Path] = typer.Option(None, "--datasets", help="shared datasets folder for --public"),
    lora_rank: int = typer.Option(16, "--lora-rank", help="LoRA rank of the cross-encoder adapter"),
    learning_rate: float = typer.Option(5e-4, "--learning-rate", help="peak learning rate (cross-encoder)"),
    debias: bool = typer.Option(False, "--debias/--no-debias",
                                help="down-weight FEVER pairs a claim-only model already gets right"),
    negation: int = typer.Option(0, "--negation", help="add rule-negated variants of this many SUPPORTS pairs"),
    healthver_repeat: Optional[int] = typer.Option(None, "--healthver-repeat",
                                                   help="times HealthVer's training pairs are seen per epoch (default 2)"),
    transformer: str = typer.Option("all-MiniLM-L6-v2", "--transformer",
                                    help="cross-encoder base: all-MiniLM-L6-v2 or all-mpnet-base-v2 (~6x slower)"),
    threads: int = typer.Option(1, "--threads", help="torch threads for training (2 pay only on a quiet machine)"),
    reported_denials: bool = typer.Option(False, "--reported-denials/--no-reported-denials",
                                          help="add claims that report a denial (\"a spokesperson called it bogus\")"),
    init_from: Optional[str] = typer.Option(None, "--init-from",
                                            help="train this registered cross-encoder further (e.g. stance@v3)"),
    focus: Optional[str] = typer.Option(None, "--focus",
                                        help="comma-separated sources to train on, e.g. healthver,denial-report"),
    replay: int = typer.Option(0, "--replay", help="with --focus: pairs drawn from the other sources; alone: "
                                                   "train on this many pairs drawn from all sources"),
    mined_negatives: Optional[Path] = typer.Option(
        None, "--mined-negatives", help="hard NOT_ENOUGH_INFO pairs from `claimsift train mine-negatives`"),
    joint_pairs: Optional[Path] = typer.Option(
        None, "--joint-pairs", help="claims against their passages shown read together, from `claimsift train "
                                    "joint-pairs` (with --focus joint: trained on with --replay others)"),
    train_seed: int = typer.Option(13, "--seed", help="seed of the batch order, dropout and the head's initialisation "
                                                      "(the data splits stay fixed): another seed measures how much "
                                                      "of a difference is luck"),
    checkpoint_dir: Optional[Path] = typer.Option(
        Path("out/checkpoints/stance"), "--checkpoint-dir",
        help="training checkpoints (a rerun of the same command resumes from the last one)"),
) -> None:
    """Train the stance model from the shared datasets and register it with its card.

    With --data pointing at your own labelled file or folder (`claim`, `evidence`, `label`), it is
    validated and added to the public data (or used alone with --no-public); the new version is
    not promoted.
    """
    from pipeline.training.retrain import is_shared_datasets_root, retrain_from_cli

    if not is_shared_datasets_root(data):
        retrain_from_cli("stance", data, base=base, include_public=public, datasets_dir=datasets,
                         models_dir=out, kind=kind, time_budget_s=time_budget, given=options_given(ctx),
                         applicable=("--data", "--out", "--base", "--public/--no-public", "--datasets", "--kind",
                                     "--time-budget"))
        return
    from pipeline.stance.training import train_and_register

    if kind not in ("cross-encoder", "embed"):
        raise UserError(f"--kind must be cross-encoder or embed, not {kind!r}")
    console = _console()
    extra: dict[str, Any] = ({"lora_rank": lora_rank, "lora_alpha": 2 * lora_rank, "learning_rate": learning_rate}
                             if kind == "cross-encoder" else {})
    result = train_and_register(data, out, kind=kind, max_pairs=max_pairs, epochs=epochs,
                                time_budget_s=time_budget, promote=promote, debias=debias, negation=negation,
                                healthver_repeat=healthver_repeat, base=transformer, num_threads=threads,
                                reported_denials=reported_denials, init_from=init_from,
                                focus=[f.strip() for f in focus.split(",") if f.strip()] if focus else (),
                                replay=replay, mined_negatives=mined_negatives, joint_pairs=joint_pairs, train_seed=train_seed,
                                checkpoint_dir=checkpoint_dir if kind == "cross-encoder" else None,
                                log=console.print, **extra)
    console.print(f"[green]{result['model']}[/green] written to {result['path']}")


def mine_negatives(
    out: Path = typer.Option(..., "--out", help="JSONL of mined NOT_ENOUGH_INFO pairs (+ OUT.stats.json)"),
    corpora: str = typer.Option("averitec,fever,covidfact,healthver", "--corpora",
                                help="public corpora (`claimsift evaluate corpus --dataset`) to mine"),
    limit: Optional[int] = typer.Option(1500, "--limit", help="train-split claims per corpus (random)"),
    per_claim: int = typer.Option(2, "--per-claim", help="pairs kept per claim"),
    screen: str = typer.Option("stance@v2", "--screen", help="stance model that vetoes confident readings"),
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="the shared datasets folder"),
) -> None:
    """Mine hard NOT_ENOUGH_INFO pairs with the retriever: ranks 2-30 of train-split claims that
    are not gold, not from a gold page, not near-copies of gold, not read confidently as evidence."""
    from pipeline.training.hard_negatives import mine

    console = _console()
    summary = mine(out, [c.strip() for c in corpora.split(",") if c.strip()], screen_spec=screen,
                   per_claim=per_claim, limit=limit, data_dir=data, log=console.print)
    console.print(f"[green]{summary['rows']}[/green] pairs written to {out}")


def joint_pairs_cmd(
    out: Path = typer.Option(..., "--out", help="JSONL of joint-reading pairs (+ OUT.stats.json)"),
    corpora: str = typer.Option("averitec,fever,covidfact,healthver", "--corpora",
                                help="public corpora (`claimsift evaluate corpus --dataset`) to read"),
    per_corpus: Optional[int] = typer.Option(None, "--per-corpus",
                                             help="train-split claims per corpus, drawn at random (default: all)"),
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="the shared datasets folder"),
) -> None:
    """Pair train-split claims with the passages the Checker shows them, read together, labelled
    with the claim's verdict (NOT_ENOUGH_INFO where none of its evidence is shown): data for the
    stance model's joint reading (`train stance --joint-pairs`)."""
    from pipeline.training.joint_pairs import make_joint_pairs

    console = _console()
    summary = make_joint_pairs(out, [c.strip() for c in corpora.split(",") if c.strip()], per_corpus=per_corpus,
                               data_dir=data, log=console.print)
    console.print(f"[green]{summary['rows']}[/green] pairs written to {out} ({summary['labels']})")


def train_verdict_cmd(
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="the shared datasets folder"),
    out: Path = typer.Option(Path("models"), "--out", help="models directory (registry root)"),
    stance_model: str = typer.Option("stance", "--stance-model", help="stance model that scores the evidence"),
    promote: bool = typer.Option(True, "--promote/--no-promote"),
    from_corpora: bool = typer.Option(
        False, "--from-corpora/--averitec-pairs",
        help="fit on the tune split of every public corpus, checked end to end (the default verdict "
             "model's recipe), or on AVeriTeC question-answer pairs (verdict@v1-v4)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="with --from-corpora: claims per corpus and split"),
    stance_input: str = typer.Option(
        "previous", "--stance-input",
        help="with --from-corpora: what the stance model reads of each passage: sentence, previous (the "
             "sentence after the one before it) or context; the model records it and the Checker follows"),
    query_adapter: str = typer.Option(
        "query-adapter", "--query-adapter",
        help="with --from-corpora: the map applied to claim vectors before dense search (a registry spec, "
             "or none); the model records it and the Checker follows"),
    joint_max_length: Optional[int] = typer.Option(
        None, "--joint-max-length", min=16, max=512,
        help="with --from-corpora: tokens of the joint reading (the claim against its passages read together; "
             "default: the stance model's own length, 128; 256 reads all five passages for most claims); the "
             "model records it and the Checker follows"),
) -> None:
    """Fit the verdict aggregator and register it (with --from-corpora: on claim labels of
    several corpora, chosen by leave-one-corpus-out; the report split is never read)."""
    console = _console()
    if joint_max_length is not None and not from_corpora:
        raise UserError("--joint-max-length applies with --from-corpora (the AVeriTeC-pairs fit reads no joint text)")
    if from_corpora:
        from pipeline.training.verdict_fit import train_verdict_on_corpora

        result = train_verdict_on_corpora(out, stance_spec=stance_model, limit=limit, promote=promote,
                                          log=console.print, stance_input=stance_input,
                                          query_adapter=query_adapter, joint_max_length=joint_max_length)
        console.print(f"[green]{result['model']}[/green]")
        return
    from pipeline.verdict.aggregator import train_verdict

    result = train_verdict(data, out, stance_spec=stance_model, promote=promote, log=console.print)
    console.print(f"[green]{result['model']}[/green]")


def evaluate_stance(
    data: Path = typer.Option(..., "--data", help="JSONL with claim, evidence, label"),
    model: str = typer.Option("stance", "--model", help="stance, stance-embed, name@version or a folder"),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir"),
    as_json: bool = typer.Option(False, "--json", help="print plain JSON to stdout"),
) -> None:
    """Accuracy, macro-F1, per-class F1 and the confusion matrix of a stance model on a labelled file."""
    from pipeline.stance.data import load_labelled_file
    from pipeline.stance.model import StanceModel, evaluate_probs

    pairs = load_labelled_file(data)
    stance = StanceModel(model, models_dir=models_dir)
    probs = stance.predict_proba([p.claim for p in pairs], [p.evidence for p in pairs])
    report = evaluate_probs(probs, [p.label for p in pairs])
    report = {"model": stance.tag, "data": str(data), **report}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report['model']['model']}@{report['model']['version']} on {data}: "
                  f"accuracy {report['accuracy']}, macro-F1 {report['macro_f1']}, ECE {report['ece']} "
                  f"({report['n']} pairs)")
    table = Table("gold \\ predicted", *report["confusion_matrix"]["labels"], "F1")
    for label, row in zip(report["confusion_matrix"]["labels"], report["confusion_matrix"]["rows_gold_cols_predicted"]):
        table.add_row(label, *map(str, row), str(report["per_class_f1"][label]))
    console.print(table)


def stance_cmd(
    data: Path = typer.Option(..., "--data", help="JSONL with claim and evidence (label optional)"),
    out: Path = typer.Option(..., "--out", help="predictions JSONL, one row per input row, in order"),
    model: str = typer.Option("stance", "--model"),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir"),
) -> None:
    """Predict the stance of each (claim, evidence) row: writes label and probs per row."""

    from pipeline.stance.data import load_labelled_file
    from pipeline.stance.model import StanceModel

    refuse_output_over_input(out, data)
    pairs = load_labelled_file(data, require_label=False)
    stance = StanceModel(model, models_dir=models_dir)
    probs = stance.predict_proba([p.claim for p in pairs], [p.evidence for p in pairs])
    # A temporary file of its own, removed on failure: two runs on one --out never write into one
    write_jsonl(out, ({"label": STANCE_LABELS[int(row.argmax())],
                       "probs": {k: round(float(v), 4) for k, v in zip(STANCE_LABELS, row)}} for row in probs))
    _console().print(f"{len(pairs)} predictions by {stance.tag['model']}@{stance.tag['version']} → {out}")


def register(app: typer.Typer, train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    train_app.command("stance")(train_stance)
    train_app.command("mine-negatives")(mine_negatives)
    train_app.command("joint-pairs")(joint_pairs_cmd)
    train_app.command("verdict")(train_verdict_cmd)
    evaluate_app.command("stance")(evaluate_stance)
    app.command("stance")(stance_cmd)
