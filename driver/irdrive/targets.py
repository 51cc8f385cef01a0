"""What a run acts on, checked and named before anything runs.

``check_inventory`` loads one ``-i`` source in-process with ansible's own inventory code (a
preflight that writes nothing): a source no inventory plugin can parse, or one with no hosts,
is a UsageError (exit 2). Ansible itself would only warn and go on with an implicit
localhost, where the Kubernetes modules fall back to ``~/.kube/config``: the user's current
cluster, not the one meant.

``kube_target`` reads a kubeconfig's YAML (never kubectl) for its current context and that
context's cluster server, so the banner can name the cluster a run will act on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irdrive.errors import UsageError

KUBECONFIG_VAR = "irdrive_kubeconfig"
# Where kubernetes.core looks when a task passes no kubeconfig, in order.
KUBECONFIG_ENV = ("K8S_AUTH_KUBECONFIG", "KUBECONFIG")


@dataclass(frozen=True)
class InventoryFacts:
    """What the preflight learned of one inventory source."""

    path: Path
    hosts: int
    kubeconfig: str | None = None  # the inventory's irdrive_kubeconfig, as written


@dataclass(frozen=True)
class KubeTarget:
    """The cluster a kubeconfig points at: its file, current context and server."""

    path: str
    context: str | None = None
    server: str | None = None
    problem: str | None = None  # why the file could not be read, if it could not

    def describe(self) -> str:
        if self.problem:
            return f"kubeconfig {self.path}: {self.problem}"
        context = self.context or "no current context"
        return f"kubeconfig {self.path}, context {context}, server {self.server or 'unknown'}"


@contextmanager
def _quiet_ansible() -> Iterator[list[str]]:
    """Collect what ansible's display would warn while loading, instead of printing it."""
    from ansible.utils.display import Display

    display = Display()
    said: list[str] = []
    saved = display.warning, display.error_as_warning

    def warning(msg: str, *args: Any, **kwargs: Any) -> None:
        said.append(str(msg))

    def error_as_warning(msg: str | None, exception: BaseException, **kwargs: Any) -> None:
        said.append(f"{msg} {exception}".strip() if msg else str(exception))

    display.warning = warning  # type: ignore[method-assign]
    display.error_as_warning = error_as_warning  # type: ignore[method-assign,assignment]
    try:
        yield said
    finally:
        display.warning, display.error_as_warning = saved  # type: ignore[method-assign]


def check_inventory(path: Path) -> InventoryFacts:
    """Load ``path`` as ansible-playbook would; UsageError if it does not load or has no hosts."""
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    loader = DataLoader()
    with _quiet_ansible() as said:
        try:
            inventory = InventoryManager(loader, sources=[])
            parsed = inventory.parse_source(str(path))
            if parsed:
                inventory.reconcile_inventory()
            hosts = inventory.list_hosts("all") if parsed else []
        except AnsibleError as exc:
            raise UsageError(
                f"inventory {path} could not be loaded: {_one_line(str(exc))}"
            ) from exc
    if not parsed:
        reasons = [s for s in said if s.startswith("Failed to parse")]
        why = _one_line(reasons[0]) if reasons else "no inventory plugin could parse it"
        raise UsageError(f"inventory {path} could not be loaded: {why}")
    if not hosts:
        raise UsageError(f"inventory {path} has no hosts")
    return InventoryFacts(path=path, hosts=len(hosts), kubeconfig=_kubeconfig_var(loader, path))


def _kubeconfig_var(loader: Any, path: Path) -> str | None:
    """The inventory's ``irdrive_kubeconfig``, as written (it may be a template). The
    inventory is loaded again as a source of its own, so its group_vars
    and host_vars are read as ansible-playbook reads them."""
    from ansible.inventory.manager import InventoryManager
    from ansible.vars.manager import VariableManager

    with _quiet_ansible():
        inventory = InventoryManager(loader, sources=[str(path)])
        variables = VariableManager(loader=loader, inventory=inventory)
        for host in inventory.list_hosts("all"):
            value = variables.get_vars(host=host).get(KUBECONFIG_VAR)
            if isinstance(value, str) and value:
                return str(value)
    return None


def kubeconfig_in_use(
    facts: list[InventoryFacts], environ: Mapping[str, str] | None = None
) -> str | None:
    """The kubeconfig the Kubernetes tasks will use: the inventory's, else the environment's."""
    for item in facts:
        if item.kubeconfig:
            return item.kubeconfig
    env = os.environ if environ is None else environ
    for name in KUBECONFIG_ENV:
        value = env.get(name)
        if value:
            return value.split(os.pathsep)[0]
    return None


def kube_target(path: str, context: str | None = None) -> KubeTarget:
    """The current context (or ``context``) of the kubeconfig at ``path`` and its server."""
    import yaml

    shown = str(path)
    if "{{" in shown or "{%" in shown:
        return KubeTarget(shown, problem="a template, resolved when the run starts")
    try:
        data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not valid YAML"
        return KubeTarget(shown, problem=f"cannot be read ({reason})")
    if not isinstance(data, dict):
        return KubeTarget(shown, problem="not a kubeconfig")
    name = context or data.get("current-context") or None
    ctx = _named(data.get("contexts"), name, "context")
    cluster = _named(data.get("clusters"), ctx.get("cluster"), "cluster")
    server = cluster.get("server")
    return KubeTarget(shown, str(name) if name else None, str(server) if server else None)


def describe_inventories(
    facts: list[InventoryFacts],
    environ: Mapping[str, str] | None = None,
    reader: Callable[[str, str | None], KubeTarget] = kube_target,
) -> str:
    """The banner's detail for ``-i``: the inventories, and the cluster when one is named."""
    detail = ", ".join(str(item.path) for item in facts)
    kubeconfig = kubeconfig_in_use(facts, environ)
    if kubeconfig:
        env = os.environ if environ is None else environ
        detail += "; " + reader(kubeconfig, env.get("K8S_AUTH_CONTEXT") or None).describe()
    return detail


def _named(items: Any, name: Any, key: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(key)
            return value if isinstance(value, dict) else {}
    return {}


def _one_line(text: str) -> str:
    return " ".join(text.split())
