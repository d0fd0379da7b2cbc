"""Loading transformers without their per-load chatter (shared by the encoder and the networks)."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Load models without transformers' per-load chatter: its "Loading weights" progress bar and
    the FutureWarnings about its own deprecations (raised inside peft's LoRA wrapping). They are
    not the user's to act on, and a notebook shows one bar per network. The CLI silences them for
    the whole process; here only for the load, and the progress-bar setting is put back after."""
    from transformers.utils import logging as transformers_logging

    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            yield
    finally:
        if bars_were_on:
            transformers_logging.enable_progress_bar()
