"""Loading transformers without their per-load chatter, and running onnxruntime without holding its
largest batch's memory (shared by the encoder and the networks)."""
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


def arena_shrinking_run_options():
    """onnxruntime ``RunOptions`` that give the session's memory arena back after the run: the
    arena grows to the largest batch it has run and keeps it (one batch of tweets full of @handles
    held ~1 GB for the rest of a scoring run). Passed to the last, widest, batch of a call;
    turning the arena off instead cost 12% of the encoder's speed."""
    import onnxruntime as ort  # imported where used: most callers of this module never run onnx

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options
