"""Run the real ``claimsift`` command line with ``score``'s models replaced by the keyword scorer
of ``score_fakes``, so tests can drive ``claimsift score`` in a real process in seconds.

``python tests/cli_fake_scorer.py score IN --store S --out OUT ...`` behaves as ``claimsift``
does (same argument parsing, error lines and exit codes). With ``FAKE_SCORER_INTERRUPT_AFTER=N``
the scorer raises KeyboardInterrupt (a Ctrl-C) after scoring N chunks, leaving a partial run; with
``FAKE_SCORER_TERMINATE_AFTER=N`` the process sends itself SIGTERM there instead (as `kill` does).
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from score_fakes import KeywordScorer  # noqa: E402


class _InterruptingScorer(KeywordScorer):
    def __init__(self, interrupt_after: int, terminate: bool = False) -> None:
        super().__init__()
        self.interrupt_after = interrupt_after
        self.terminate = terminate
        self.chunks = 0

    def score_posts(self, texts):
        if self.chunks >= self.interrupt_after:
            if not self.terminate:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)  # the command line's own handler takes it from here
        self.chunks += 1
        return super().score_posts(texts)


def _fake_model_scorer(*args, **kwargs) -> KeywordScorer:
    interrupt_after = os.environ.get("FAKE_SCORER_INTERRUPT_AFTER")
    terminate_after = os.environ.get("FAKE_SCORER_TERMINATE_AFTER")
    if terminate_after:
        return _InterruptingScorer(int(terminate_after), terminate=True)
    return _InterruptingScorer(int(interrupt_after)) if interrupt_after else KeywordScorer()


if __name__ == "__main__":
    import pipeline.scoring.models

    # Patched before the command line is imported, so `claimsift score` builds the fake wherever
    # it imports ModelScorer from.
    pipeline.scoring.models.ModelScorer = _fake_model_scorer
    from pipeline.cli import main

    sys.argv[0] = "claimsift"
    main()
