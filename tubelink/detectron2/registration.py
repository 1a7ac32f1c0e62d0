"""Registration into detectron2's registries and catalogs (the bridge's only side effect, in one place)."""

from __future__ import annotations

from detectron2.data import DatasetCatalog as D2DatasetCatalog
from detectron2.data import MetadataCatalog as D2MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY as D2_META_ARCH_REGISTRY

from ..data.catalog import DatasetCatalog, MetadataCatalog
from ..modeling import META_ARCH_REGISTRY

__all__ = ["register_all"]


class _SplitLoader:
    """Picklable loader of one tubelink split (detectron2 may send dataset functions to worker processes)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self):
        return DatasetCatalog.get(self.name)


def register_all() -> None:
    """Mirror tubelink's meta-architectures, dataset splits and metadata into detectron2. Idempotent: splits
    and architectures already known to detectron2 are left alone, so it can be called again after registering
    new splits in tubelink's catalog."""
    for name, cls in META_ARCH_REGISTRY:
        if name not in D2_META_ARCH_REGISTRY:
            D2_META_ARCH_REGISTRY.register(cls)
    for name in DatasetCatalog.list():
        if name in D2DatasetCatalog:
            continue
        D2DatasetCatalog.register(name, _SplitLoader(name))
        fields = {k: v for k, v in MetadataCatalog.get(name).as_dict().items() if k != "name"}
        D2MetadataCatalog.get(name).set(**fields)
