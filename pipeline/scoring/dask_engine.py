"""The ``dask`` engine of batch scoring: chunks scored on a ``dask.distributed`` cluster.

This process reads the input and commits every finished chunk itself (``pipeline.scoring.scorer``), so
the workers need neither the input nor the output on a shared file system: they receive the
texts of one chunk and send back its results. Each worker loads the models once, when the
``ScorerPlugin`` is registered (and again on any worker that joins later), never per chunk.
At most two chunks per worker are in flight, so memory stays flat however long the input is.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, cast

from distributed import Client, LocalCluster, get_worker, wait
from distributed.diagnostics.plugin import WorkerPlugin

from pipeline.core.errors import UserError
from pipeline.scoring.posts import PostRecord


class ScorerPlugin(WorkerPlugin):
    """Carries one scorer to every worker and warms it up there once."""

    def __init__(self, scorer: Any, name: str) -> None:
        self.scorer = scorer
        self.name = name

    def setup(self, worker: Any) -> None:
        self.scorer.warm_up()


def score_on_worker(plugin_name: str, texts: list[str]) -> list[dict]:
    plugin = cast(ScorerPlugin, get_worker().plugins[plugin_name])  # registered by run_dask under this name
    return plugin.scorer.score_posts(texts)


def _has_plugin(name: str, dask_worker: Any = None) -> bool:
    return dask_worker is not None and name in dask_worker.plugins


def plugin_name(scorer: Any) -> str:
    key = json.dumps(scorer.fingerprint(), sort_keys=True, default=str)
    return "claimsift-scorer-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def connect(scheduler: str) -> Client:
    """A client of the scheduler at ``scheduler``; one that cannot be reached (after dask's
    ``distributed.comm.timeouts.connect``, 30 s by default) or a malformed address is a ``UserError``."""
    try:
        return Client(scheduler)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        reason = " ".join(str(exc).replace(f" to {scheduler}", "").split()) or type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler {scheduler}: {reason[:1].lower() + reason[1:]}; "
                        "check that it runs and the address (tcp://host:8786), or drop --scheduler to start "
                        "a local cluster") from None


def run_dask(chunks: Iterable[tuple[int, list[PostRecord]]], scorer: Any, done: dict,
             commit: Callable[[int, list[PostRecord], list[dict]], None], scheduler: str | None,
             workers: int) -> int:
    """Score every chunk not in ``done``; call ``commit`` as each finishes; return the chunk count."""
    cluster = None
    if scheduler:
        client = connect(scheduler)
    else:
        # One thread per worker process: the models use the cores themselves; more threads contend.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    try:
        name = plugin_name(scorer)
        # A long-lived cluster keeps the plugin (and the warm models) between jobs: registering
        # it again would tear the models down and load them anew on every worker.
        present = client.run(_has_plugin, name) if client.scheduler_info().get("workers") else {}
        if not present or not all(present.values()):
            client.register_plugin(ScorerPlugin(scorer, name), name=name)
        n_workers = len(client.scheduler_info().get("workers", {})) or workers
        max_in_flight = 2 * max(1, n_workers)
        in_flight: dict[Any, tuple[int, list[PostRecord]]] = {}

        def drain(until: int) -> None:
            while len(in_flight) > until:
                finished, _ = wait(list(in_flight), return_when="FIRST_COMPLETED")
                for future in finished:
                    index, chunk = in_flight.pop(future)
                    commit(index, chunk, future.result())

        n_chunks = 0
        for index, chunk in chunks:
            n_chunks = index + 1
            if index in done:
                continue
            texts = [r.text for r in chunk if r.accepted]
            if not texts:
                commit(index, chunk, [])
                continue
            future = client.submit(score_on_worker, name, texts, pure=False)
            in_flight[future] = (index, chunk)
            drain(max_in_flight - 1)
        drain(0)
        return n_chunks
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
