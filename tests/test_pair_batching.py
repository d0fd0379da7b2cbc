"""How the cross-encoders and sentence classifiers batch their inputs (``batched_pair_logits``): by
token count, each batch padded to its own longest row, results in input order. No model is loaded."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.stance.backends import batched_pair_logits


class WordTokenizer:
    """One token per character of a word written in capitals, one per other word: short in
    characters is not short in tokens (as URLs and emoji are for the real tokenizers)."""

    pad_token_id = 0
    pad_token_type_id = 0
    padding_side = "right"

    def __call__(self, texts, pairs=None, truncation=True, max_length=512):
        ids, types = [], []
        for i, text in enumerate(texts):
            first = self._ids(text)
            second = self._ids(pairs[i]) if pairs is not None else []
            if pairs is not None:  # truncation="only_second"
                second = second[:max(0, max_length - len(first))]
            row = (first + second)[:max_length]
            ids.append(row)
            types.append([0] * len(first[:max_length]) + [1] * (len(row) - len(first[:max_length])))
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": [[1] * len(r) for r in ids]}

    @staticmethod
    def _ids(text: str) -> list[int]:
        out: list[int] = []
        for word in text.split():
            out += [ord(c) for c in word] if word.isupper() else [len(word) + 1]
        return out


def _recording_run(widths: list[int]):
    def run(batch):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        assert ids.shape == mask.shape == batch["token_type_ids"].shape
        widths.append(ids.shape[1])
        # A row's logits depend on its own unpadded tokens only: (token count, sum of ids).
        assert (ids[mask == 0] == 0).all()
        return np.stack([mask.sum(axis=1), (ids * mask).sum(axis=1)], axis=1).astype(np.float32)
    return run


@pytest.mark.parametrize("pairs", [False, True])
def test_batches_group_rows_by_token_count_and_keep_input_order(pairs):
    tokenizer = WordTokenizer()
    texts = ["a b", "XYZWVUTSRQ", "a b c d e f", "ABCDEFGHIJKLMNOP", "word", "one two three", "QQQQQQ x"]
    passages = [f"passage {i} " + "w " * i for i in range(len(texts))] if pairs else None
    widths: list[int] = []
    logits = batched_pair_logits(_recording_run(widths), tokenizer, texts, passages, max_length=12, batch_size=2,
                                 tensors="np")
    encoded = tokenizer(texts, passages, max_length=12) if pairs else tokenizer(texts, max_length=12)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    expected = np.array([[len(ids), sum(ids)] for ids in encoded["input_ids"]], dtype=np.float32)
    np.testing.assert_array_equal(logits, expected)  # in input order, each row its own
    # Batches of two rows that follow one another by token count, each padded to its longest.
    ordered = sorted(lengths)
    assert widths == [max(ordered[i:i + 2]) for i in range(0, len(ordered), 2)]
    assert sum(widths) < len(widths) * max(lengths)


def test_no_rows_no_batches():
    widths: list[int] = []
    assert batched_pair_logits(_recording_run(widths), WordTokenizer(), [], None, 8, 4, "np").shape == (0, 3)
    assert widths == []
