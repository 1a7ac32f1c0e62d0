"""Every key of the default config is read by the code, or is a compatibility key that refuses non-default values.

"Read" is decided by a static scan of the sources (tubelink/, train_net.py, demo/): an access `X.A.B.KEY`,
`X["KEY"]`, `getattr(X, "KEY")` or `X.get("KEY")` whose chain resolves to the key's full name, where X is the
config or a local alias of one of its nodes (`t = cfg.MODEL.TRACKER; t.NAME`, `self.tcl = tl.TCL`). Deleting the
only line that reads a key makes the test fail and name the key.
"""

from __future__ import annotations

import ast
import glob
import os
import re
from typing import Dict, Iterable, Optional, Set, Tuple

import pytest
import yaml
from fvcore.common.config import CfgNode as _FvcoreCfgNode

from tubelink.config import ConfigError, get_cfg
from tubelink.config.compat import COMPAT_KEYS, REMOVED_KEYS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
# The defaults module defines the keys and compat.py lists them by name: neither counts as reading them.
NOT_READERS = {os.path.join("tubelink", "config", "defaults.py"), os.path.join("tubelink", "config", "compat.py")}
Aliases = Dict[str, Set[str]]


def default_keys() -> Set[str]:
    """Full dotted names of all leaves of the default config."""

    def walk(node, prefix):
        for name, value in node.items():
            if isinstance(value, _FvcoreCfgNode):
                yield from walk(value, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}"

    return set(walk(get_cfg(), ""))


def _key_access(node: ast.AST) -> Optional[Tuple[ast.AST, str]]:
    """(base, KEY) when `node` reads KEY from base: base.KEY, base["KEY"], getattr(base, "KEY"), base.get("KEY")."""
    if isinstance(node, ast.Attribute) and KEY.match(node.attr) and not isinstance(node.ctx, (ast.Store, ast.Del)):
        return node.value, node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_key(node.slice):
        return node.value, node.slice.value
    if isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.func, ast.Name):
        if node.func.id == "getattr" and _is_key(node.args[1]):
            return node.args[0], node.args[1].value
    if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
        if node.func.attr == "get" and _is_key(node.args[0]):
            return node.func.value, node.args[0].value
    return None


def _is_key(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(KEY.match(node.value))


def _dotted(node: ast.AST) -> Optional[str]:
    """`name` or `name.attr.attr` (lower-case attributes only): the things an alias can be bound to."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and not KEY.match(node.attr):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _paths(node: ast.AST, aliases: Aliases) -> Set[str]:
    """Config paths `node` may denote ("" = the config root or anything unknown)."""
    access = _key_access(node)
    if access is not None:
        base, key = access
        return {f"{p}.{key}" if p else key for p in _paths(base, aliases)}
    return aliases.get(_dotted(node), {""})


def _scope_nodes(body: Iterable[ast.AST]):
    """All nodes of a scope, not descending into nested functions and classes (yielded separately)."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _bindings(node: ast.AST):
    """(target, value) pairs of an assignment, tuples unpacked element-wise."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return
    for target in targets:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
            yield from zip(target.elts, value.elts)
        else:
            yield target, value


def _collect_aliases(nodes, inherited: Aliases) -> Aliases:
    aliases = {k: set(v) for k, v in inherited.items()}
    for _ in range(3):  # aliases of aliases
        for node in nodes:
            for target, value in _bindings(node):
                name = _dotted(target)
                found = {p for p in _paths(value, aliases) if p}
                if name and found:
                    aliases.setdefault(name, set()).update(found)
    return aliases


def _scan_scope(body, inherited: Aliases, read: Set[str]) -> None:
    nodes = list(_scope_nodes(body))
    aliases = _collect_aliases(nodes, inherited)
    for node in nodes:
        if _key_access(node) is not None:
            read.update(_paths(node, aliases))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            _scan_scope(node.body if isinstance(node.body, list) else [node.body], aliases, read)
        elif isinstance(node, ast.ClassDef):
            _scan_class(node, aliases, read)


def _scan_class(cls: ast.ClassDef, inherited: Aliases, read: Set[str]) -> None:
    # `self.x = cfg.A` in one method makes `self.x.KEY` in any method of the class a read of A.KEY.
    members = {}
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local = _collect_aliases(list(_scope_nodes(node.body)), inherited)
            members.update({k: v for k, v in local.items() if k.startswith("self.")})
    _scan_scope(cls.body, {**inherited, **members}, read)


def keys_read_by(source: str) -> Set[str]:
    """Config paths read anywhere in a Python source text."""
    read: Set[str] = set()
    _scan_scope(ast.parse(source).body, {}, read)
    return read


def source_files():
    files = glob.glob(os.path.join(REPO, "tubelink", "**", "*.py"), recursive=True)
    files += [os.path.join(REPO, "train_net.py")] + glob.glob(os.path.join(REPO, "demo", "*.py"))
    return sorted(f for f in files if os.path.relpath(f, REPO) not in NOT_READERS)


def keys_read_by_the_code() -> Set[str]:
    read: Set[str] = set()
    for path in source_files():
        with open(path, encoding="utf-8") as f:
            read |= keys_read_by(f.read())
    return read


def test_scan_resolves_aliases_and_misses_unread_keys():
    source = (
        "def build(cfg):\n"
        "    t = cfg.MODEL.TRACKER\n"
        "    mf, tl = cfg.MODEL.MASK_FORMER, cfg.MODEL.TUBE_LINK\n"
        "    cfg.MODEL.DEVICE = 'cpu'\n"
        "    return t.NAME, mf.TEST['OVERLAP_THRESHOLD'], getattr(tl, 'TASK'), cfg.INPUT.get('FORMAT')\n"
        "class Head:\n"
        "    def __init__(self, cfg):\n"
        "        self.tcl = cfg.MODEL.TUBE_LINK.TCL\n"
        "    def loss(self):\n"
        "        return self.tcl.WEIGHT\n"
        "def other(cfg):\n"
        "    return t.MATCH_METRIC\n"  # `t` is not an alias in this function
    )
    read = keys_read_by(source)
    for key in (
        "MODEL.TRACKER.NAME",
        "MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD",
        "MODEL.TUBE_LINK.TASK",
        "INPUT.FORMAT",
        "MODEL.TUBE_LINK.TCL.WEIGHT",
    ):
        assert key in read, key
    assert "MODEL.DEVICE" not in read  # an assignment is not a read
    assert "MODEL.TRACKER.MATCH_METRIC" not in read


def test_every_default_key_is_read_or_a_compatibility_key():
    keys = default_keys()
    read = keys_read_by_the_code()
    unread = sorted(keys - read - set(COMPAT_KEYS))
    assert not unread, (
        f"default config keys that no code reads: {unread}. Read each one (cfg.A.B.KEY, or through a local alias "
        "such as `x = cfg.A.B; x.KEY`) in tubelink/, train_net.py or demo/, or, if it is kept only so that "
        "Mask2Former YAML files load, add it with the reason to COMPAT_KEYS in tubelink/config/compat.py"
    )
    both = sorted(read & set(COMPAT_KEYS))
    assert not both, f"compatibility keys that the code now reads (remove them from COMPAT_KEYS): {both}"
    stale = sorted(set(COMPAT_KEYS) - keys)
    assert not stale, f"COMPAT_KEYS names keys that are not in the default config: {stale}"
    removed = sorted(set(REMOVED_KEYS) & keys)
    assert not removed, f"REMOVED_KEYS names keys that are still in the default config: {removed}"


def _other_value(default):
    """A value of the same type as `default` that differs from it."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)):
        return default + 1
    if isinstance(default, str):
        return default + "_other"
    if isinstance(default, (list, tuple)):
        return [_other_value(v) for v in default] if default else [1]
    raise AssertionError(f"no alternative value for {default!r}")


def _nested(key: str, value) -> dict:
    tree: dict = {}
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def _lookup(cfg, key: str):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("key", sorted(COMPAT_KEYS))
def test_compatibility_key_refuses_any_but_its_default(key, tmp_path):
    default = _lookup(get_cfg(), key)
    as_yaml = list(default) if isinstance(default, tuple) else default
    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump(_nested(key, as_yaml)))
    get_cfg().merge_from_file(str(same))  # the default value, as a Mask2Former YAML would write it: accepted

    other = _other_value(default)
    base = tmp_path / "m2f_base.yaml"
    base.write_text(yaml.safe_dump(_nested(key, other)))
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: m2f_base.yaml\n")
    with pytest.raises(ConfigError) as err:
        get_cfg().merge_from_file(str(child))  # the real loading path, through a _BASE_
    message = str(err.value)
    assert "m2f_base.yaml" in message and key in message and "\n" not in message
    with pytest.raises(ConfigError, match=re.escape(key)):
        get_cfg().merge_from_list([key, other])


def test_removed_key_names_its_replacement(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("DATALOADER:\n  CLIPS_PER_GPU: 2\n")
    with pytest.raises(ConfigError, match=r"old.yaml: DATALOADER.CLIPS_PER_GPU was removed: use SOLVER.IMS_PER_BATCH"):
        get_cfg().merge_from_file(str(path))
    with pytest.raises(ConfigError, match=r"DATALOADER.CLIPS_PER_GPU was removed"):
        get_cfg().merge_from_list(["DATALOADER.CLIPS_PER_GPU", 2])


def test_mask2former_frame_range_is_not_our_subclip_gap(tmp_path):
    path = tmp_path / "old_meaning.yaml"
    path.write_text("INPUT:\n  SAMPLING_FRAME_RANGE: 2\n")
    with pytest.raises(ConfigError, match="INPUT.SAMPLING_FRAME_RANGE.*INPUT.SAMPLING_MAX_SUBCLIP_GAP"):
        get_cfg().merge_from_file(str(path))
    path.write_text("INPUT:\n  SAMPLING_MAX_SUBCLIP_GAP: 2\n")
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    from tubelink.data.mappers import TubeClipMapper

    assert TubeClipMapper.from_config(cfg).max_gap == 2
