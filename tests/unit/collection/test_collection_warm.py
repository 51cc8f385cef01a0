"""plugin_utils.warm: the Jinja plugins are loaded in ansible-playbook's process, so the task
workers forked from it never load them again."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from collection_fakes import COLLECTIONS

CHECK = textwrap.dedent(
    """
    import os, sys
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([sys.argv[1]])
    from ansible.plugins import loader
    from ansible_collections.irdrive.ops.plugins.plugin_utils import warm

    loaded = warm.warm()
    assert warm.warm() == [], "warm runs once per process"
    wanted = {"default", "failed", *warm.collection_filters(), *warm.LOOKUPS}
    assert set(loaded) == wanted, sorted(wanted - set(loaded))

    def refuse(self, **kwargs):
        raise AssertionError(f"a worker loaded {kwargs.get('path')} again")

    pid = os.fork()
    if pid == 0:  # the worker: every plugin the templates use is already there
        loader.PluginLoader._load_module_source = refuse
        try:
            for name in ("default", "from_json", "irdrive.ops.processor_failover_decision",
                         "irdrive.ops.range_problems"):
                assert loader.filter_loader.get(name) is not None, name
            assert loader.test_loader.get("changed") is not None
            assert loader.lookup_loader.get("ansible.builtin.env") is not None
        except BaseException as exc:
            print(exc, flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_warm_loads_the_plugins_workers_inherit() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(COLLECTIONS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
