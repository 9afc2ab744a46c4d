"""Layer merging: defaults, then profiles, then the seat.

Mappings merge key by key, scalars and lists replace, and an explicit ``None``
(YAML ``null``) removes what an earlier layer set. :func:`overlay` keeps those
``None`` tombstones so that merging is associative --
``overlay(overlay(a, b), c) == overlay(a, overlay(b, c))`` -- and
:func:`finalize` drops them at the end. :func:`merge_layers` folds a list of
layers the same way while remembering which layer set each value (provenance),
and applies the one rule that is not a plain overlay: a ``target`` whose
``type`` changes replaces the inherited target whole.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, TypeVar

Origin = TypeVar("Origin", bound=Hashable)
Path_ = tuple[str | int, ...]


class Replace(dict[str, Any]):
    """A mapping that replaces, rather than merges into, what lower layers had.

    It arises when a layer sets a mapping where an earlier layer had removed the
    key (``null``) or set a scalar: the earlier content is gone, so layers below
    must not leak back in. Keeping the marker is what makes merging associative.
    """


def overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` merged over ``base`` (neither is changed); ``None`` in ``top`` is kept as a tombstone.

    The result shares what it takes whole (a list, a mapping no lower layer had) with
    ``base`` and ``top``: nothing changes a merged result in place.
    """
    return _overlay(base, top, (), None, None)


def _overlay(
    base: dict[str, Any],
    top: dict[str, Any],
    path: Path_,
    origins: dict[Path_, Any] | None,
    origin: Any,
) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        here = (*path, key)
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict) and not isinstance(value, Replace):
            merged = _overlay(below, value, here, origins, origin)
            out[key] = Replace(merged) if isinstance(below, Replace) else merged
            continue
        # shared, not copied: a merged result is never changed in place (each level is a new dict)
        out[key] = Replace(value) if isinstance(value, dict) and key in base and not isinstance(below, dict) else value
        if origins is not None:
            if isinstance(below, dict):  # a replaced mapping takes its provenance with it
                for known in [p for p in origins if p[: len(here)] == here]:
                    del origins[known]
            _record(value, here, origins, origin)
    return out


def _record(value: Any, path: Path_, origins: dict[Path_, Any], origin: Any) -> None:
    origins[path] = origin
    if isinstance(value, dict):
        for key, sub in value.items():
            _record(sub, (*path, key), origins, origin)


def finalize(value: Any) -> Any:
    """Drop ``None`` tombstones (and mappings left empty only by them)."""
    if isinstance(value, dict):
        return {k: finalize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [finalize(v) for v in value]
    return value


def settled(value: Any) -> bool:
    """Whether ``value`` holds no tombstone and no :class:`Replace`: :func:`finalize` would only copy it."""
    if isinstance(value, dict):
        return not isinstance(value, Replace) and all(v is not None and settled(v) for v in value.values())
    if isinstance(value, list):
        return all(settled(v) for v in value)
    return True


def merge_layers(
    layers: Iterable[tuple[dict[str, Any], Origin]],
    start: tuple[dict[str, Any], dict[Path_, Origin]] | None = None,
    *,
    provenance: bool = True,
) -> tuple[dict[str, Any], dict[Path_, Origin]]:
    """Fold ``(data, origin)`` layers in order; return the result and each path's origin.

    Tombstones are kept in the result (call :func:`finalize`); the origin of a
    removed value is the layer that removed it. ``start`` is an earlier result to
    fold onto (it is not changed): seats sharing profiles merge those once. Without
    ``provenance`` no origin is recorded (the origins returned are empty): a seat's
    are worked out again only when asked for (:class:`provisioner.fleet.seat.Provenance`).
    """
    merged: dict[str, Any] = start[0] if start else {}
    origins: dict[Path_, Origin] = dict(start[1]) if start and provenance else {}
    for data, origin in layers:
        if not data:
            continue
        target = data.get("target")
        current = merged.get("target")
        if (
            isinstance(target, dict)
            and isinstance(current, dict)
            and target.get("type") is not None
            and current.get("type") not in (None, target.get("type"))
        ):
            merged = {k: v for k, v in merged.items() if k != "target"}
            for known in [p for p in origins if p[:1] == ("target",)]:
                del origins[known]
        merged = _overlay(merged, data, (), origins if provenance else None, origin)
    return merged, origins
