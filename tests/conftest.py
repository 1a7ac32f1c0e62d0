import os

import pytest

# timm retries hub downloads for ~45 s when offline; nothing in the tests may touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    """A test's own $DETECTRON2_DATASETS (tmp_path/data; synthetic splits are generated there on first use);
    returns tmp_path, for the test's other files."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "data"))
    return tmp_path
