"""The documented inline form of replicas, ``{backend: 5}``, as plain ansible-playbook -e passes
it (a string): read as YAML flow style, JSON included."""

from __future__ import annotations

import pytest


def test_replicas_in_yaml_flow_style_are_read_as_ansible_playbook_passes_them() -> None:
    from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
    from ansible_collections.irdrive.ops.plugins.module_utils.scale import parse_replicas

    assert parse_replicas("{backend: 5, frontend: 3}") == {"backend": 5, "frontend": 3}
    assert parse_replicas('{"backend": 5}') == {"backend": 5}
    with pytest.raises(InvalidInputError, match="^replicas: not a valid mapping or list"):
        parse_replicas("{backend: [5")
