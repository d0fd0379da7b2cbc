"""The ONNX encoder batches for speed (texts grouped by token count, repeats encoded once); a
vector must not depend on how the texts of a call are batched."""
from __future__ import annotations

import os

import numpy as np
import pytest

from pipeline.registry.embedding import DIMENSION, Encoder, minilm_path

# Tweet-like texts: URLs and emoji are few characters and many tokens, so sorting by characters and
# by tokens batch them differently; one text runs past the 256-token limit; two are repeated.
TEXTS = [
    "NATO allies agreed to spend 2% of GDP on defence.",
    "Great news!",
    "🇺🇦🇺🇦🇺🇦 https://t.co/AbCdEfGh12 https://t.co/ZyXwVuTs98 #StandWithUkraine",
    "The vaccine was tested on 43,000 people before it was approved, according to the FDA.",
    "Great news!",
    "Pray.",
    "Rutte never said NATO would expel members. " * 40,
    "@user1 @user2 @user3 did you see this?? 😂😂😂 https://t.co/Q1w2E3r4T5",
    "",
    "No one is safe until everyone is safe.",
    "NATO allies agreed to spend 2% of GDP on defence.",
]


def _char_sorted_reference(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """How the encoder batched before: sorted by characters, each batch padded by the tokenizer."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(minilm_path(), "tokenizer.json"))
    tokenizer.enable_truncation(encoder.max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    session = encoder._model
    input_names = {i.name for i in session.get_inputs()}
    order = np.argsort([len(t) for t in texts])
    out = np.empty((len(texts), DIMENSION), dtype=np.float32)
    for lo in range(0, len(texts), encoder.batch_size):
        idx = order[lo:lo + encoder.batch_size]
        batch = tokenizer.encode_batch([texts[i] for i in idx])
        ids = np.array([b.ids for b in batch], dtype=np.int64)
        mask = np.array([b.attention_mask for b in batch], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, {k: v for k, v in feeds.items() if k in input_names})[0]
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return out


@pytest.fixture(scope="module")
def onnx_encoder() -> Encoder:
    encoder = Encoder("onnx", batch_size=4)
    encoder.warm_up()
    return encoder


def test_onnx_vectors_are_the_same_bits_as_with_character_sorted_batches(onnx_encoder):
    vectors = onnx_encoder.encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), DIMENSION)
    assert vectors.tobytes() == _char_sorted_reference(onnx_encoder, TEXTS).tobytes()


def test_onnx_vectors_do_not_depend_on_the_batch_or_on_repeats(onnx_encoder):
    together = onnx_encoder.encode(TEXTS)
    alone = np.vstack([onnx_encoder.encode([text]) for text in TEXTS])
    assert together.tobytes() == alone.tobytes()
    small_windows = Encoder("onnx", batch_size=1)  # one text a batch, a window of 32 texts
    small_windows.warm_up()
    assert small_windows.encode(TEXTS * 4).tobytes() == np.vstack([together] * 4).tobytes()
    # More distinct texts than one window holds, repeats among them: several windows, same bits.
    many = [f"{text} {i}" for i, text in enumerate(TEXTS * 5)] * 2
    assert len(set(many)) > 32
    assert small_windows.encode(many).tobytes() == onnx_encoder.encode(many).tobytes()


def test_remembering_encodes_each_text_once_with_the_same_bits(onnx_encoder, monkeypatch):
    fresh = onnx_encoder.encode(TEXTS)
    encoded: list[str] = []
    real = onnx_encoder._encode_onnx
    monkeypatch.setattr(onnx_encoder, "_encode_onnx", lambda texts: encoded.extend(texts) or real(texts))
    with onnx_encoder.remembering():
        first = onnx_encoder.encode(TEXTS[:3])
        again = onnx_encoder.encode([TEXTS[2], TEXTS[0], TEXTS[3], TEXTS[3]])
        with onnx_encoder.remembering():  # nested: the same memo
            onnx_encoder.encode(TEXTS[:4])
        again[0] = 0.0  # a caller's array is its own: the memo keeps its vector
        assert onnx_encoder.encode([TEXTS[2]]).tobytes() == fresh[2:3].tobytes()
    assert encoded == TEXTS[:4]  # each text once
    assert first.tobytes() == fresh[:3].tobytes()
    assert again[1:].tobytes() == fresh[[0, 3, 3]].tobytes()
    onnx_encoder.encode(TEXTS[:1])  # forgotten after the block
    assert encoded == TEXTS[:4] + TEXTS[:1]
    torch_encoder = Encoder("torch")
    with torch_encoder.remembering():  # torch batches move the last bits: nothing is remembered
        assert torch_encoder._memos == {}


def test_the_longest_batch_of_each_call_gives_its_memory_back(onnx_encoder, monkeypatch):
    # onnxruntime's arena kept the memory of the largest batch it had run: one batch of tweets
    # full of @handles held ~1 GB for the rest of a scoring run.
    calls: list[tuple[int, bool]] = []
    real = onnx_encoder._run_onnx

    def spy(token_ids, input_names, run_options=None):
        calls.append((max(len(ids) for ids in token_ids), run_options is not None))
        return real(token_ids, input_names, run_options)

    monkeypatch.setattr(onnx_encoder, "_run_onnx", spy)
    texts = [f"claim {i} " + "word " * (i % 40) for i in range(300)]
    shrunk = onnx_encoder.encode(texts)
    assert [shrink for _, shrink in calls].count(True) == 1 and calls[-1][1]
    assert calls[-1][0] == max(width for width, _ in calls)  # after the widest batch
    monkeypatch.undo()
    assert shrunk.tobytes() == onnx_encoder.encode(texts).tobytes()
