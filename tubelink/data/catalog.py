"""detectron2-style DatasetCatalog / MetadataCatalog.

Same contract as detectron2's: `DatasetCatalog.register(name, func)` where `func()` returns a list of video
dicts (see `tubelink.data.video_dict`), and `MetadataCatalog.get(name)` returns a `Metadata` whose attributes
cannot be silently overwritten with a different value. When the detectron2 bridge is active, the same
registrations are mirrored into detectron2's catalogs.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List


class _DatasetCatalog:
    """Name -> function returning the dataset's list of video dicts."""

    def __init__(self) -> None:
        self._funcs: Dict[str, Callable[[], List[dict]]] = {}

    def register(self, name: str, func: Callable[[], List[dict]]) -> None:
        """Register `func` under `name`; registering a name twice is an error."""
        if not callable(func):
            raise TypeError(f"dataset '{name}': a callable returning list[dict] is required, got {type(func)}")
        if name in self._funcs:
            raise KeyError(f"dataset '{name}' is already registered")
        self._funcs[name] = func

    def get(self, name: str) -> List[dict]:
        """Call the registered function of `name` and return its list of video dicts."""
        try:
            func = self._funcs[name]
        except KeyError:
            raise KeyError(
                f"dataset '{name}' is not registered; registered datasets: {', '.join(sorted(self._funcs))}"
            ) from None
        return func()

    def list(self) -> List[str]:
        """All registered dataset names."""
        return list(self._funcs)

    def remove(self, name: str) -> None:
        """Forget `name` (tests use this)."""
        self._funcs.pop(name)

    def __contains__(self, name: str) -> bool:
        return name in self._funcs


class Metadata:
    """Attribute bag for one dataset; an attribute set once may only be set again to an equal value."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __getattr__(self, key: str) -> Any:
        raise AttributeError(
            f"metadata of dataset '{self.name}' has no attribute '{key}'; available: {', '.join(sorted(self.__dict__))}"
        )

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self.__dict__ and self.__dict__[key] != value:
            raise AttributeError(
                f"metadata '{key}' of dataset '{self.name}' cannot change from {self.__dict__[key]!r} to {value!r}"
            )
        object.__setattr__(self, key, value)

    def set(self, **kwargs: Any) -> "Metadata":
        """Set several attributes; returns self."""
        for k, v in kwargs.items():
            setattr(self, k, v)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        """Attribute `key`, or `default` when unset."""
        return self.__dict__.get(key, default)

    def as_dict(self) -> Dict[str, Any]:
        """A copy of all attributes."""
        return dict(self.__dict__)


class _MetadataCatalog:
    """Name -> Metadata, created on first access."""

    def __init__(self) -> None:
        self._meta: Dict[str, Metadata] = {}

    def get(self, name: str) -> Metadata:
        """The Metadata of `name` (created empty on first use, as in detectron2)."""
        if name not in self._meta:
            self._meta[name] = Metadata(name)
        return self._meta[name]

    def list(self) -> List[str]:
        """Names with metadata."""
        return list(self._meta)

    def remove(self, name: str) -> None:
        """Forget `name`'s metadata (tests use this)."""
        self._meta.pop(name, None)


DatasetCatalog = _DatasetCatalog()
MetadataCatalog = _MetadataCatalog()

__all__ = ["DatasetCatalog", "MetadataCatalog", "Metadata"]
