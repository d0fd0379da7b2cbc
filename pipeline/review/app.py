"""The review desk's pages (Starlette + Jinja2; ``claimsift serve`` runs it under uvicorn).

Pages: the queue of scored claims, a claim with its evidence and the labelling form, a free
check, the corpus (documents, entities, quotes, timeline), the labels, the models. Handlers
are plain functions (Starlette runs them in a thread pool); heavy things load once per app on
first use (the scores caches, the Checker) and a problem the reviewer can fix is shown as a
sentence on the page, never as a traceback.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, unquote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.core.errors import UserError
from pipeline.core.io import jsonl_text
from pipeline.core.types import STANCE_LABELS, VERDICT_LABELS
from pipeline.corpus.store import Corpus
from pipeline.registry.registry import Registry, model_rows
from pipeline.review import corpus_view as cv
from pipeline.review.corpus_view import passage_context, store_problem
from pipeline.review.labels import (
    LabelConflict,
    LabelRecord,
    LabelStore,
    content_hash,
    default_labels_dir,
    no_newer_label_by_another,
)
from pipeline.review.scores import PAGE_SIZE, NotInScores, QueueFilter, ScoresError, ScoresTable, query_words
from pipeline.review.security import AccessPolicy, GuardMiddleware, RedactTokens, csrf_ok, csrf_token
from pipeline.scoring.output import provenance_path, score_provenance_status
from pipeline.verdict.checker import Checker
from pipeline.verdict.validation import TERMINAL_ESCAPE

# Imported where used, not here (slow to load; most callers of this module never need them): starlette,
# uvicorn.

log = logging.getLogger("claimsift.review")
STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_REPORTS_DIR = Path("out/reports")
SHUTDOWN_GRACE_S = 10  # a stop waits this long for pages being served (uvicorn's default: without limit)
REVIEWER_COOKIE = "claimsift_reviewer"


@dataclass(frozen=True)
class ReviewConfig:
    store: Path
    scores: Path | None = None
    labels_dir: Path | None = None  # default: labels/ beside the store folder
    reviewer: str = ""
    read_only: bool = False
    host: str = "127.0.0.1"
    token: str | None = None
    models_dir: Path | None = None
    reports_dir: Path = DEFAULT_REPORTS_DIR
    page_size: int = PAGE_SIZE

    @property
    def labels_path(self) -> Path:
        return Path(self.labels_dir) if self.labels_dir else default_labels_dir(self.store)


@dataclass
class _State:
    """What the app loads once and shares between requests."""

    config: ReviewConfig
    scores: ScoresTable | None
    labels: LabelStore
    checker_factory: Callable[[], Any]
    _checker: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _models: tuple[tuple, dict] | None = None  # (the scores file's stat, its models)
    _timeline: tuple[tuple, str] | None = None

    def checker(self):
        # The Checker holds the stance models and the index (seconds to load, hundreds of MB):
        # once per app, on the first check, never per request.
        with self._lock:
            if self._checker is None:
                checker = self.checker_factory()
                checker.warm_up()
                self._checker = checker
            return self._checker

    def prediction_models(self) -> dict:
        """The model versions that made the scores' predictions: those the scores file records
        (``read_score_provenance``: the versions its ``claimsift score`` run pinned), else, for a
        file that records none (written before outputs did) or whose record no longer matches its
        rows (edited since; logged, and said in ``source``), the registry's current versions,
        resolved as a default run would. Read again when the scores file changes."""
        key = _file_key(self.config.scores)
        if self._models is None or self._models[0] != key:
            recorded, why_not = self._recorded_models()
            self._models = (key, recorded or self._current_models(why_not))
        return self._models[1]

    def _recorded_models(self) -> tuple[dict | None, str]:
        """(the recorded models, "") or (None, why the labels get the registry's versions instead)."""
        if self.config.scores is None:
            return None, ""
        try:
            provenance, status = score_provenance_status(self.config.scores)
        except (UserError, OSError, ValueError) as exc:  # the labels still get the registry's versions
            log.warning("review desk: cannot read which models scored %s: %s", self.config.scores, exc)
            return None, "the scores file's record cannot be read"
        if status == "mismatch":
            log.warning("review desk: %s records the models that scored it, but its rows changed since (edited "
                        "or rewritten): labels name the registry's current versions instead", self.config.scores)
            return None, "the scores file's record does not match its rows"
        models = (provenance or {}).get("models")
        if not isinstance(models, dict) or not models:
            return None, ""
        return dict(models) | {"source": "scores file"}, ""

    def _current_models(self, why: str = "") -> dict:
        # Resolved by the code that pins a `claimsift score` run's models, so the two cannot drift
        # (cards only: nothing loads, and neither the store nor its index is read).
        from pipeline.scoring.models import current_model_labels

        source = "registry current at labelling" + (f" ({why})" if why else "")
        return current_model_labels(self.config.models_dir) | {"source": source}


# A terminal escape sequence (ESC [ 31 m, an OSC title), then any other C0 or C1 control character but
# the tab and the line feed: a post, claim or document holds them as read (a scores file of an older claimsift,
# or a post's own text), and HTML must not (NUL, ESC and the rest are parse errors or invisible there).
_DISPLAY_CONTROL = re.compile(TERMINAL_ESCAPE.pattern + r"|\r\n?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _display_control(match: re.Match) -> str:
    text = match.group()
    return "\n" if text[0] == "\r" else "" if text[0] in "\x1b\x9b" else " "


def displayed(value: Any) -> Any:
    """Every value a template prints (the environment's ``finalize``), without control characters:
    escape sequences removed, a carriage return a line feed, any other C0 or C1 control a space;
    the tab and the line feed kept. Anything that is not text is left to Jinja."""
    if isinstance(value, str):
        cleaned = _DISPLAY_CONTROL.sub(_display_control, value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("pipeline.review", "templates"),
                      autoescape=select_autoescape(["html", "xml"], default=True),
                      trim_blocks=True, lstrip_blocks=True, finalize=displayed)
    env.filters["pct"] = lambda v: "" if v is None else f"{float(v):.0%}"
    env.filters["num"] = lambda v, d=2: "" if v is None else f"{float(v):.{d}f}"
    env.globals.update(VERDICT_LABELS=VERDICT_LABELS, STANCE_LABELS=STANCE_LABELS)
    return env


def create_app(config: ReviewConfig, checker_factory: Callable[[], Any] | None = None) -> Starlette:
    """The review desk for ``config``; ``checker_factory`` builds the Check page's Checker
    (default: ``Checker(config.store)`` on ``config.models_dir``, as ``claimsift check`` does)."""
    env = _templates()
    state = _State(config=config, scores=ScoresTable(config.scores) if config.scores else None,
                   labels=LabelStore(config.labels_path),
                   checker_factory=checker_factory or (lambda: _default_checker(config.store, config.models_dir)))

    def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        context.update(request=request, config=config, csrf=csrf_token(request), page=template.split(".")[0])
        return HTMLResponse(env.get_template(template).render(**context), status_code=status)

    def refuse(request: Request, status: int, message: str) -> HTMLResponse:
        return render(request, "error.html", status=status, message=message, status_code=status)

    # ---- pages ---------------------------------------------------------------------------------
    def home(request: Request) -> Response:
        return RedirectResponse("/queue" if config.scores else "/corpus", status_code=303)

    def queue(request: Request) -> Response:
        if state.scores is None:
            return render(request, "queue.html", problem="No scores file: start the desk with --scores FILE "
                          "(a `claimsift score` output, e.g. out/sample_scores.jsonl from `make demo`).")
        try:
            flt = _queue_filter(request)
            page_no = _int_param(request, "page", 1)
            facets = state.scores.facets()
            page = state.scores.page(flt, page_no, config.page_size)
        except UserError as exc:
            return render(request, "queue.html", problem=str(exc), status=_status(exc),
                          flt=_safe_filter(request), facets=None)
        labelled = _labelled_claims(state.labels)
        rows = [(row, labelled.get((content_hash(row.post_text), content_hash(row.claim_text)))) for row in page.rows]
        return render(request, "queue.html", flt=flt, facets=facets, result=page, rows=rows,
                      paging=flt.query_string())

    def claim(request: Request) -> Response:
        line, index = request.path_params["line"], request.path_params["index"]
        try:
            post, item = _claim_of(state, line, index)
        except UserError as exc:
            return render(request, "claim.html", problem=str(exc), status=_status(exc))
        context = _claim_context(state, post, item, line, index)
        context["reviewer"] = config.reviewer or unquote(request.cookies.get(REVIEWER_COOKIE, ""))
        return render(request, "claim.html", **context, saved=request.query_params.get("saved") == "1")

    async def label(request: Request) -> Response:
        form = await request.form()
        line, index = request.path_params["line"], request.path_params["index"]
        if config.read_only:
            return refuse(request, 403, "This review desk is read-only (--read-only): labelling is off.")
        if not csrf_ok(request, form.get("csrf")):
            return refuse(request, 403, "Refused: the form's security token is missing or stale. Reload the claim "
                                        "page and label again.")
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(_save_labels, state, line, index, dict(form))
        except UserError as exc:
            return refuse(request, _status(exc), str(exc))
        response = RedirectResponse(f"/claim/{line}/{index}?saved=1", status_code=303)
        reviewer = str(form.get("reviewer") or "").strip()
        if reviewer and not config.reviewer:
            # Quoted: a cookie header is Latin-1, and "Łukasz" raised after the label was saved.
            response.set_cookie(REVIEWER_COOKIE, quote(reviewer[:80]), httponly=True, samesite="strict")
        return response

    def check(request: Request) -> Response:
        text = request.query_params.get("claim", "")
        if not text.strip():
            return render(request, "check.html", claim="", problem=None, result=None)
        try:
            from pipeline.verdict.validation import validate_claim

            validate_claim(text)
            problem = _store_problem(config.store)
            if problem:
                raise UserError(problem)
            verdict = state.checker().check(text)
        except UserError as exc:
            return render(request, "check.html", claim=text, problem=str(exc), result=None, status=_status(exc))
        result = verdict.to_dict()
        return render(request, "check.html", claim=text, problem=None, result=result,
                      evidence=[(e, _split_context(e.get("context", ""), e["sentence"])) for e in result["evidence"]])

    def corpus(request: Request) -> Response:
        problem = _store_problem(config.store)
        store = Corpus(config.store)
        if not store.exists():
            return render(request, "corpus.html", problem=problem)
        documents = store.documents().drop(columns=["text"]).to_dict("records")
        return render(request, "corpus.html", problem=problem, documents=documents,
                      entities=cv.entities_by_type(store), quotes=cv.quotes_by_speaker(store),
                      summary=store.summary())

    def timeline(request: Request) -> Response:
        store = Corpus(config.store)
        published = tuple(store.documents()["published"].tolist()) if store.exists() else ()
        if state._timeline is None or state._timeline[0] != published:
            state._timeline = (published, cv.timeline_svg(list(published)))
        return Response(state._timeline[1], media_type="image/svg+xml",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    def document(request: Request) -> Response:
        doc_id = request.path_params["doc_id"]
        store = Corpus(config.store)
        try:
            doc = store.document(doc_id)
        except UserError as exc:
            return render(request, "document.html", problem=str(exc) if store.exists() else _store_problem(config.store),
                          status=404)
        sentences = cv.document_sentences(store, doc_id, doc.text)
        labels = sorted({p.entity for s in sentences for p in s.pieces if p.entity})
        quotes = store.quotes(doc_id)[["speaker", "content"]].to_dict("records")
        return render(request, "document.html", doc=doc, sentences=sentences, entity_labels=labels, quotes=quotes,
                      target=_int_or_none(request.query_params.get("s")))

    def labels_page(request: Request) -> Response:
        records = state.labels.records()
        current = state.labels.latest(records)
        counts = {task: sum(1 for r in current.values() if r.task == task) for task in ("verdict", "stance", "checkworthy")}
        corrected = {task: sum(1 for r in current.values() if r.task == task and r.corrected) for task in counts}
        return render(request, "labels.html", records=list(reversed(records))[:200], total=len(records),
                      counts=counts, corrected=corrected, folder=state.labels.folder)

    def labels_export(request: Request) -> Response:
        task = request.path_params["task"]
        try:
            rows = state.labels.export_rows(task)
        except UserError as exc:
            return refuse(request, 404, str(exc))
        body = jsonl_text(rows)
        return Response(body, media_type="application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="labels_{task}.jsonl"'})

    def models(request: Request) -> Response:
        return render(request, "models.html", **_models_context(config))

    def model_card(request: Request) -> Response:
        from pipeline.registry.registry import ModelNotFoundError, Registry

        registry = Registry(config.models_dir) if config.models_dir else Registry()
        name, version = request.path_params["name"], request.path_params["version"]
        spec = f"{name}@{version}"
        try:
            if name not in registry.names() or version not in registry.versions(name):
                raise ModelNotFoundError(f"not in the registry at {registry.root}")
            ref = registry.resolve(spec)
        except (ModelNotFoundError, ValueError) as exc:
            return refuse(request, 404, f"No model {spec}: {exc}")
        card = ref.path / "CARD.md"
        text = card.read_text(encoding="utf-8") if card.is_file() else (ref.path / "card.json").read_text()
        return render(request, "card.html", spec=spec, card=text)

    def report(request: Request) -> Response:
        latest = _latest_report(config.reports_dir)
        if latest is None:
            return refuse(request, 404, f"No compare report in {config.reports_dir}.")
        # The report is the project's own HTML (pipeline.evaluation.compare), shown sandboxed all the same.
        return HTMLResponse(latest.read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
                                                                "style-src 'unsafe-inline'"})

    # ---- errors --------------------------------------------------------------------------------
    def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # the handler registered for HTTPException
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return refuse(request, exc.status_code, message)

    def server_error(request: Request, exc: Exception) -> Response:
        log.exception("review desk: %s %s failed", request.method, request.url.path)
        message = str(exc) if isinstance(exc, UserError) else \
            f"Something went wrong on this page ({type(exc).__name__}); the server log has the details."
        return HTMLResponse(env.get_template("error.html").render(
            request=request, config=config, csrf="", page="error", message=message,
            status_code=500), status_code=500)

    routes = [
        Route("/", home), Route("/queue", queue), Route("/claim/{line:int}/{index:int}", claim),
        Route("/claim/{line:int}/{index:int}/label", label, methods=["POST"]), Route("/check", check),
        Route("/corpus", corpus), Route("/corpus/timeline.svg", timeline), Route("/corpus/doc/{doc_id}", document),
        Route("/labels", labels_page), Route("/labels/export/{task}.jsonl", labels_export),
        Route("/models", models), Route("/models/report", report), Route("/models/{name}/{version}", model_card),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: server_error})
    app.add_middleware(GuardMiddleware, policy=AccessPolicy(config.host, config.token), refuse=refuse)
    app.state.review = state
    return app


# ---- helpers ---------------------------------------------------------------------------------------
def _default_checker(store: Path, models_dir: Path | None = None):
    # Imported here: the Checker's modules pull in torch and the retrieval stack, which the
    # queue, the corpus and the labels never need.
    # The desk's registry (--models-dir): the one its labels record as the models that predicted.
    return Checker(store, models_dir=models_dir)


def _file_key(scores: Path | None) -> tuple:
    """What changes when the scores file (or a JSONL file's provenance sidecar) is replaced."""
    if scores is None:
        return ()
    key: list = []
    for path in (Path(scores), provenance_path(Path(scores))):
        try:
            stat = path.stat()
            key.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
        except OSError:
            key.append(None)
    return tuple(key)


def _status(exc: UserError) -> int:
    if isinstance(exc, ScoresError):
        return 503
    if isinstance(exc, LabelConflict):
        return 409
    return 404 if isinstance(exc, NotInScores) else 400


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"{name} must be a whole number, not {raw[:40]!r}") from None


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{name} must be a number between 0 and 1, not {raw[:40]!r}") from None
    if not 0 <= value <= 1:
        raise UserError(f"{name} must be between 0 and 1, not {value:g}")
    return value


def _date_param(request: Request, name: str) -> str:
    raw = request.query_params.get(name, "").strip()
    if raw:
        try:
            # As YYYY-MM-DD: the filter compares dates as text, and "20160501" is a date to Python too.
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise UserError(f"the date {raw[:40]!r} is not a date (YYYY-MM-DD)") from None
    return raw


def _queue_filter(request: Request) -> QueueFilter:
    verdict = request.query_params.get("verdict", "")
    if verdict and verdict not in VERDICT_LABELS + ("SKIPPED",):
        raise UserError(f"unknown verdict {verdict[:40]!r}")
    text = request.query_params.get("q", "").strip()[:200]
    if text and not query_words(text):  # ignored, it listed every claim as if it had matched
        raise UserError(f"the search {text[:40]!r} holds no word (letters or digits): search for words of the "
                        "post or claim")
    return QueueFilter(verdict=verdict, min_confidence=_float_param(request, "min_conf"),
                       max_confidence=_float_param(request, "max_conf"),
                       published_from=_date_param(request, "from"), published_to=_date_param(request, "to"),
                       text=text,
                       source=request.query_params.get("source", "").strip()[:300])


def _safe_filter(request: Request) -> QueueFilter:
    """The filter as typed, for the form after an error (numbers dropped when they are not numbers)."""
    q = request.query_params
    return QueueFilter(verdict=q.get("verdict", "")[:40], published_from=q.get("from", "")[:40],
                       published_to=q.get("to", "")[:40], text=q.get("q", "")[:200], source=q.get("source", "")[:300])


def _store_problem(store: Path) -> str | None:
    return store_problem(store)


def _labelled_claims(labels: LabelStore) -> dict[tuple[str, str], LabelRecord]:
    return {(r.post_hash, r.claim_hash): r for r in labels.latest().values() if r.task == "verdict"}


def _claim_of(state: _State, line: int, index: int) -> tuple[dict, dict]:
    from pipeline.review.scores import NotInScores

    if state.scores is None:
        raise UserError("No scores file: start the desk with --scores FILE.")
    post = state.scores.post(line)
    if post is None:
        raise NotInScores(f"no claim here: the scores file has no post on line {line}")
    claims = post.get("claims") or []
    if not 0 <= index < len(claims):
        raise NotInScores(f"no claim {index} in the post on line {line} (it has {len(claims)})")
    return post, claims[index]


def _split_context(context: str, sentence: str) -> tuple[str, str, str]:
    """(before, sentence, after) of ``context``; the whole context as ``before`` when the
    sentence is not in it."""
    at = context.find(sentence) if context else -1
    if at < 0:
        return "", sentence, ""
    return context[:at], sentence, context[at + len(sentence):]


def _claim_context(state: _State, post: dict, item: dict, line: int, index: int) -> dict:
    store = Corpus(state.config.store)
    problem = _store_problem(state.config.store)
    evidence = []
    for ev in item.get("evidence") or []:
        context = passage_context(store, ev["doc_id"], ev["start"], ev["end"]) if store.exists() else None
        evidence.append({"ev": ev, "context": context, "hash": content_hash(ev.get("sentence") or "")})
    post_hash, claim_hash = content_hash(post["text"]), content_hash(item["text"])
    current, history = state.labels.for_claim(post_hash, claim_hash)
    text = post["text"]
    start, end = item.get("start"), item.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text):
        post_parts = (text[:start], text[start:end], text[end:])
    else:
        post_parts = (text, "", "")
    return {"post": post, "item": item, "line": line, "index": index, "evidence": evidence,
            "post_hash": post_hash, "claim_hash": claim_hash,
            "label_basis": history[0].id if history else "",
            "store_problem": problem, "post_parts": post_parts, "current": current, "history": history,
            "verdict_label": current.get(("verdict", post_hash, claim_hash)),
            "checkworthy_label": current.get(("checkworthy", post_hash)),
            "stance_labels": {key[3]: r for key, r in current.items() if key[0] == "stance"}}


def _save_labels(state: _State, line: int, index: int, form: dict) -> None:
    post, item = _claim_of(state, line, index)
    reviewer = state.config.reviewer or str(form.get("reviewer") or "").strip()
    if not reviewer:
        raise UserError("Give your name as reviewer before labelling (or start the desk with --reviewer NAME).")
    post_hash, claim_hash = content_hash(post["text"]), content_hash(item["text"])
    if (form.get("post_hash"), form.get("claim_hash")) != (post_hash, claim_hash):
        # The form names its claim by line and position only: after a new scores file it labelled another.
        raise LabelConflict("This claim is not the one the page showed (the scores file has changed since it was "
                            "loaded): reload the page and label again. Nothing was saved.")
    common = {"reviewer": reviewer[:80], "post_hash": post_hash, "post_text": post["text"], "post_id": post.get("post_id"),
              "scores_file": str(state.config.scores), "models": state.prediction_models()}
    evidence = item.get("evidence") or []
    unknown = sorted(k for k in form if k.startswith("stance_") and k[7:] not in {str(i) for i in range(len(evidence))})
    if unknown:  # was dropped without a word
        raise UserError(f"no passage {', '.join(k[7:] for k in unknown)} in this claim's evidence (it has "
                        f"{len(evidence)}); reload the page and label again")
    records: list[LabelRecord] = []
    if form.get("verdict"):
        records.append(LabelRecord(task="verdict", label=str(form["verdict"]), predicted=item.get("verdict"),
                                   claim_hash=claim_hash, claim=item["text"],
                                   passages=tuple(e.get("sentence") or "" for e in evidence), **common))
    if form.get("checkworthy") in ("0", "1"):
        records.append(LabelRecord(task="checkworthy", label=form["checkworthy"], predicted=int(bool(post.get("n_claims"))),
                                   **common))
    elif form.get("checkworthy"):
        raise UserError(f"{form['checkworthy']!r} is not a check-worthiness label (0 or 1)")
    for i, ev in enumerate(evidence):
        chosen = form.get(f"stance_{i}")
        if chosen:
            records.append(LabelRecord(task="stance", label=str(chosen), predicted=ev.get("stance"),
                                       claim_hash=claim_hash, passage_hash=content_hash(ev.get("sentence") or ""),
                                       claim=item["text"], evidence=ev.get("sentence") or "",
                                       doc_id=ev.get("doc_id") or "", **common))
    if not records:
        raise UserError("Nothing to save: choose a verdict, a stance or the check-worthiness.")
    # The form sends back what it showed (the verdict always, a stance or check-worthiness label in
    # force): from a page loaded before another reviewer's label it undid that label.
    state.labels.append(records, check=no_newer_label_by_another(post_hash, claim_hash,
                                                                 str(form.get("label_basis") or ""), reviewer[:80]))


def _latest_report(folder: Path) -> Path | None:
    folder = Path(folder)
    if not folder.is_dir():
        return None
    reports = sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime)
    return reports[-1] if reports else None


def _models_context(config: ReviewConfig) -> dict:
    registry = Registry(config.models_dir) if config.models_dir else Registry()
    try:
        rows = model_rows(registry)
        problem = None
    except (OSError, ValueError) as exc:
        rows, problem = [], f"The model registry at {registry.root} cannot be read: {exc}"
    report = _latest_report(config.reports_dir)
    report_info = None
    if report is not None:
        report_info = {"name": report.name, "when": dt.datetime.fromtimestamp(report.stat().st_mtime).isoformat(
            timespec="minutes")}
    return {"rows": rows, "problem": problem, "registry": registry.root, "report": report_info,
            "reports_dir": config.reports_dir}


def serve(config: ReviewConfig, port: int = 8000) -> None:
    """Run the desk under uvicorn until interrupted."""
    import uvicorn

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app = create_app(config)
    scores = app.state.review.scores
    if scores is not None:
        # The caches of a new scores file take minutes on millions of rows: build them before the
        # first page is asked for, not during it. A file that cannot be served is said on the page.
        print(f"preparing {config.scores} (once per file) …", flush=True)
        try:
            scores.prepare()
            scores.facets()
        except UserError as exc:
            print(f"warning: {exc}", flush=True)
    server_config = uvicorn.Config(app, host=config.host, port=port, log_level="info", proxy_headers=False,
                                   server_header=False,  # configures uvicorn's loggers
                                   timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access_log.filters):
        access_log.addFilter(RedactTokens())
    uvicorn.Server(server_config).run()
