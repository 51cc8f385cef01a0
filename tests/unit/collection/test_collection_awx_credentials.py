"""A module run as an AWX job runs it: the Kubernetes credential arrives as the environment AWX's
"OpenShift or Kubernetes API Bearer Token" type injects, next to an inventory's kubeconfig path
that does not exist in the execution environment."""

from __future__ import annotations

import pytest
from ansible_collections.irdrive.ops.plugins.modules import kill_switch
from collection_fakes import TOKEN, FakeKubeApi, kill_switch_configmap


def test_kubernetes_bearer_token_credential_env(
    run_module, kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    monkeypatch.setenv("K8S_AUTH_HOST", kube.url)
    monkeypatch.setenv("K8S_AUTH_API_KEY", TOKEN)
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "False")  # as AWX writes the boolean
    args = {"name": "payments", "state": "query", "kubeconfig": "/nonexistent/kubeconfig"}
    result, failed = run_module(kill_switch, args)
    assert not failed, result
    assert result["switches"]["payments"] == "enabled"


def test_a_wrong_token_from_the_env_is_refused(
    run_module, kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    monkeypatch.setenv("K8S_AUTH_HOST", kube.url)
    monkeypatch.setenv("K8S_AUTH_API_KEY", "not-the-token")
    result, failed = run_module(kill_switch, {"name": "payments", "state": "query"})
    assert failed and "401" in str(result.get("msg", "")) + str(result.get("status", "")), result
