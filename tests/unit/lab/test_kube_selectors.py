"""Label and field selectors with kube-apiserver's grammar and matching rules."""

from __future__ import annotations

import pytest

from irdrive_lab.kube.errors import BadRequest
from irdrive_lab.kube.selectors import (
    make_matcher,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

POD = {
    "metadata": {
        "name": "web-1",
        "namespace": "platform",
        "labels": {"app": "web", "tier": "front", "example.com/team": "pay"},
    },
    "spec": {"nodeName": "node-a"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the key, as in Kubernetes
        ("app in (web,api)", True),
        ("app in (api)", False),
        ("app notin (api, db)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("tier in (front,back),!missing,app", True),
        ("example.com/team=pay", True),
        (" app = web , tier in ( front ) ", True),
    ],
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    assert make_matcher(selector, None)(POD) is matches


@pytest.mark.parametrize(
    "selector",
    ["app in (web", "app in web)", "app=web,,tier=x", "app in ()", "=web", "app=we b", "a b"],
)
def test_bad_label_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(BadRequest):
        parse_label_selector(selector)


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name!=web-1", False),
        ("metadata.namespace=platform", True),
        ("status.phase=Running", True),
        ("status.phase!=Running", False),
        ("status.phase=Pending", False),
        ("spec.nodeName=node-a", True),
        ("spec.nodeName=", False),
        ("metadata.name=web-1,status.phase=Running", True),
        ("metadata.name=web-1,status.phase=Failed", False),
        ("spec.missing=", True),  # an unset field reads as the empty string
    ],
)
def test_field_selector_matching(selector: str, matches: bool) -> None:
    assert make_matcher(None, selector)(POD) is matches


@pytest.mark.parametrize("selector", ["metadata.name", "=x", "status.phase~Running"])
def test_bad_field_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(BadRequest):
        parse_field_selector(selector)


def test_both_selectors_must_hold() -> None:
    assert make_matcher("app=web", "status.phase=Running")(POD)
    assert not make_matcher("app=web", "status.phase=Pending")(POD)


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["y", "x"]},
                    {"key": "gone", "operator": "DoesNotExist"},
                ],
            },
            "app=web,!gone,tier in (x,y)",
        ),
        (None, ""),
    ],
)
def test_selector_string_for_scale_status(selector: dict[str, object] | None, text: str) -> None:
    assert selector_string(selector) == text
