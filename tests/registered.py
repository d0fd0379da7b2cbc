"""Registered model versions that tests look for by what their card says."""
from __future__ import annotations

from collections.abc import Callable

import pytest


def newest_checkworthy(has_post_network: Callable[[dict], bool], missing: str):
    """The newest registered check-worthiness version whose card's ``post_classifier`` passes
    ``has_post_network`` (current or not), warmed up; the test is skipped with ``missing`` when none."""
    from pipeline.checkworthy.model import CheckworthyModel
    from pipeline.registry.registry import Registry

    registry = Registry()
    for version in reversed(registry.versions("checkworthy")):
        post = registry.resolve(f"checkworthy@{version}").card.get("post_classifier")
        if post is not None and has_post_network(post):
            model = CheckworthyModel(f"checkworthy@{version}")
            model.warm_up()
            return model
    pytest.skip(missing)
