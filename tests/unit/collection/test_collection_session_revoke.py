"""irdrive.ops.session_revoke filters and k8s_secret_rotate consumer discovery (no server)."""

from __future__ import annotations

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.modules import k8s_secret_rotate, session_revoke


def params(**kw):
    base = {"ips": [], "user_ids": [], "created_since": None}
    base.update(kw)
    return base


def test_session_filter_combines_every_given_filter() -> None:
    where, args = session_revoke.session_filter(
        params(
            ips=["203.0.113.45", "198.51.100.0/24"],
            user_ids=[7],
            created_since="2026-11-26T00:00:00Z",
        )
    )
    assert where.startswith("revoked_at IS NULL AND ip <<= ANY")
    assert "user_id = ANY" in where and "created_at >=" in where
    assert args["ips"] == ["203.0.113.45/32", "198.51.100.0/24"]


def test_no_filter_means_nothing_to_revoke() -> None:
    assert session_revoke.session_filter(params()) == ("", {})
    assert session_revoke.backend_filter({}) == ("", {})


@pytest.mark.parametrize("bad", [["203.0.113.300"], ["not-an-ip"]])
def test_bad_addresses_are_refused(bad) -> None:
    with pytest.raises(InvalidInputError, match="not an IP address"):
        session_revoke.session_filter(params(ips=bad))


def test_bad_timestamp_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="ISO 8601"):
        session_revoke.session_filter(params(created_since="yesterday"))


def test_backend_filter_never_matches_own_superuser_or_non_client_backends() -> None:
    where, args = session_revoke.backend_filter({"usernames": ["platform_app"]})
    assert "a.pid <> pg_backend_pid()" in where
    assert "a.backend_type = 'client backend'" in where
    assert "rolsuper" in where and args == {"users": ["platform_app"]}


def test_consumers_found_by_env_envfrom_and_volumes() -> None:
    def dep(name, spec):
        return {"metadata": {"name": name}, "spec": {"template": {"spec": spec}}}

    deployments = [
        dep("backend", {"containers": [{"envFrom": [{"secretRef": {"name": "db"}}]}]}),
        dep(
            "pay",
            {
                "containers": [
                    {"env": [{"valueFrom": {"secretKeyRef": {"name": "db", "key": "x"}}}]}
                ]
            },
        ),
        dep("vol", {"containers": [{}], "volumes": [{"secret": {"secretName": "db"}}]}),
        dep(
            "proj",
            {
                "containers": [{}],
                "volumes": [{"projected": {"sources": [{"secret": {"name": "db"}}]}}],
            },
        ),
        dep("other", {"containers": [{"envFrom": [{"configMapRef": {"name": "db"}}]}]}),
    ]
    assert k8s_secret_rotate.find_consumers(deployments, "db") == ["backend", "pay", "proj", "vol"]


def test_k8s_secret_rotate_writes_once_per_rotation_id(run_module, kube, kube_args, monkeypatch):
    import re

    import collection_fakes
    from collection_fakes import deployment

    # The fake API serves secrets too, for this test.
    monkeypatch.setattr(
        collection_fakes,
        "_PATHS",
        re.compile(
            r"^/(?:api/v1|apis/apps/v1)/namespaces/(?P<ns>[^/]+)/"
            r"(?P<kind>configmaps|deployments|pods|secrets)(?:/(?P<name>[^/]+))?$"
        ),
    )
    kube.add("secrets", {"metadata": {"name": "jwt"}, "data": {"signing-key": "b2xk"}})
    backend = deployment("backend")
    backend["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "K", "valueFrom": {"secretKeyRef": {"name": "jwt", "key": "signing-key"}}}
    ]
    kube.add("deployments", backend)
    args = {
        **kube_args,
        "namespace": "platform",
        "name": "jwt",
        "rotation_id": "INC-1",
        "generate": ["signing-key"],
    }
    check, failed = run_module(k8s_secret_rotate, args, check_mode=True)
    assert not failed and check["changed"] and kube.writes() == []
    result, failed = run_module(k8s_secret_rotate, args)
    assert not failed and result["changed"] and result["consumers"] == ["backend"]
    secret = kube.get("secrets", "platform", "jwt")
    body = kube.writes()[0]["body"]
    assert body["metadata"]["annotations"] == {"irdrive.io/rotation-id": "INC-1"}
    assert body["metadata"]["resourceVersion"] == check["before"]["resource_version"]
    # The fake ignores metadata in patches; a real API server keeps the annotation.
    secret["metadata"]["annotations"] = body["metadata"]["annotations"]
    assert secret["data"]["signing-key"] != "b2xk"
    assert secret["data"]["signing-key"] not in str(result)
    again, failed = run_module(k8s_secret_rotate, args)
    assert not failed and not again["changed"] and len(kube.writes()) == 1
