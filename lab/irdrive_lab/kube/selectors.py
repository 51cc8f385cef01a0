"""Label and field selectors with the grammar kube-apiserver accepts.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``,
joined by commas (all must hold). Field selectors: ``path=v``, ``path==v``, ``path!=v`` where
``path`` is a dotted field such as ``metadata.name``, ``status.phase`` or ``spec.nodeName``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from irdrive_lab.kube.errors import BadRequest

_KEY_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" also match objects that lack the key, as in Kubernetes.
        return not present or labels[self.key] not in self.values


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise BadRequest(f"unable to parse requirement: unbalanced ')' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise BadRequest(f"unable to parse requirement: unbalanced '(' in {text!r}")
    parts.append("".join(current))
    return parts


_SET_RE = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<vals>[^()]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<val>[^\s!=(),]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=(),]+)\s*$")


def _check_key(key: str, text: str) -> None:
    if not _KEY_RE.match(key):
        raise BadRequest(f"unable to parse requirement: invalid label key {key!r} in {text!r}")


def _check_value(value: str, text: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise BadRequest(f"unable to parse requirement: invalid label value {value!r} in {text!r}")


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a label selector; an empty or missing selector selects everything."""
    if text is None or not text.strip():
        return []
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        if not part.strip():
            raise BadRequest(f"unable to parse requirement: empty term in {text!r}")
        if m := _SET_RE.match(part):
            key = m["key"]
            _check_key(key, text)
            values = frozenset(v.strip() for v in m["vals"].split(",") if v.strip())
            for value in values:
                _check_value(value, text)
            if not values and m["op"] == "in":
                raise BadRequest(f"unable to parse requirement: empty value set in {text!r}")
            reqs.append(Requirement(key, m["op"], values))
        elif m := _EQ_RE.match(part):
            key = m["key"]
            _check_key(key, text)
            _check_value(m["val"], text)
            op = "!=" if m["op"] == "!=" else "="
            reqs.append(Requirement(key, op, frozenset({m["val"]})))
        elif m := _EXISTS_RE.match(part):
            _check_key(m["key"], text)
            reqs.append(Requirement(m["key"], "!" if m["neg"] else "exists"))
        else:
            raise BadRequest(f"unable to parse requirement: {part.strip()!r} in {text!r}")
    return reqs


def labels_match(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


def selector_from_match_labels(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """Requirements of a ``LabelSelector`` object (matchLabels and matchExpressions)."""
    if not selector:
        return []
    reqs = [
        Requirement(k, "=", frozenset({str(v)}))
        for k, v in (selector.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise BadRequest(f"unknown label selector operator {expr.get('operator')!r}")
        reqs.append(Requirement(expr["key"], op, frozenset(expr.get("values") or [])))
    return reqs


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """The string form kubectl shows (``app=web,tier in (a,b)``), as in Scale.status.selector."""
    parts: list[str] = []
    for r in sorted(selector_from_match_labels(selector), key=lambda r: r.key):
        if r.op == "=":
            parts.append(f"{r.key}={next(iter(r.values))}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
        elif r.op == "exists":
            parts.append(r.key)
        else:
            parts.append(f"!{r.key}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    negate: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = field_value(obj, self.path)
        return (actual != self.value) if self.negate else (actual == self.value)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value at a dotted path; missing fields read as the empty string."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


_FIELD_RE = re.compile(r"^\s*(?P<path>[A-Za-z][A-Za-z0-9_.]*)\s*(?P<op>==|=|!=)\s*(?P<val>.*?)\s*$")


def parse_field_selector(text: str | None) -> list[FieldRequirement]:
    if text is None or not text.strip():
        return []
    reqs: list[FieldRequirement] = []
    for part in text.split(","):
        m = _FIELD_RE.match(part)
        if not m:
            raise BadRequest(f"invalid selector: {text!r}; can't understand {part!r}")
        reqs.append(FieldRequirement(m["path"], m["op"] == "!=", m["val"]))
    return reqs


def fields_match(reqs: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all(r.matches(obj) for r in reqs)


def make_matcher(
    label_selector: str | None, field_selector: str | None
) -> Callable[[Mapping[str, Any]], bool]:
    """One predicate for both selectors; raises BadRequest for an unparsable selector."""
    lreqs = parse_label_selector(label_selector)
    freqs = parse_field_selector(field_selector)

    def matcher(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels")
        return labels_match(lreqs, labels) and fields_match(freqs, obj)

    return matcher
