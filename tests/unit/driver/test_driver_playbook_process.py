"""irdrive.playbook_process: ansible-playbook through ansible-core's own CLI, its two start-up
YAML parses cached by content, and the process ended without the interpreter's teardown."""

from __future__ import annotations

import datetime as dt
import marshal
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from irdrive import playbook_process
from irdrive.playbook_process import CACHE_ENV, cache_key, cached_parse, exit_code

DRIVER = str(Path(playbook_process.__file__).resolve().parents[1])


def counting_parse(calls: list[bytes]):  # type: ignore[no-untyped-def]
    def parse(data: bytes) -> dict[str, object]:
        calls.append(data)
        return {"parsed": data.decode(), "n": [1, 2.5, None, True]}

    return parse


def test_cached_parse_parses_once_per_content_and_again_when_it_changes(tmp_path: Path) -> None:
    calls: list[bytes] = []
    parse = counting_parse(calls)
    first = cached_parse(tmp_path, b"a: 1", parse)
    again = cached_parse(tmp_path, b"a: 1", parse)
    assert first == again == {"parsed": "a: 1", "n": [1, 2.5, None, True]}
    assert calls == [b"a: 1"]
    assert again is not first  # a fresh copy: a caller may change what it got
    assert cached_parse(tmp_path, b"a: 2", parse)["parsed"] == "a: 2"
    assert calls == [b"a: 1", b"a: 2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [cache_key(b"a: 1"), cache_key(b"a: 2")]
    )


def test_cache_key_names_the_python_version() -> None:
    assert cache_key(b"x").endswith(f"-py{sys.version_info[0]}{sys.version_info[1]}.marshal")
    assert cache_key(b"x") != cache_key(b"y")


def test_what_marshal_cannot_hold_is_parsed_every_time(tmp_path: Path) -> None:
    calls: list[bytes] = []

    def parse(data: bytes) -> dict[str, object]:
        calls.append(data)
        return {"when": dt.date(2026, 1, 2)}

    assert cached_parse(tmp_path, b"when: 2026-01-02", parse) == {"when": dt.date(2026, 1, 2)}
    assert cached_parse(tmp_path, b"when: 2026-01-02", parse) == {"when": dt.date(2026, 1, 2)}
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_or_unwritable_cache_is_ignored(tmp_path: Path) -> None:
    calls: list[bytes] = []
    parse = counting_parse(calls)
    (tmp_path / cache_key(b"k: v")).write_bytes(b"\x00not marshal")
    assert cached_parse(tmp_path, b"k: v", parse)["parsed"] == "k: v"
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert cached_parse(blocked / "sub", b"k: v", parse)["parsed"] == "k: v"
    assert cached_parse(None, b"k: v", parse)["parsed"] == "k: v"
    assert len(calls) == 3


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (4, 4), ("a message", 1)])
def test_exit_code_is_what_sys_exit_gives(code: object, status: int) -> None:
    assert exit_code(SystemExit(code)) == status


def test_exit_now_waits_for_threads_runs_exit_handlers_and_flushes(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import atexit, sys, threading, time
        from irdrive.playbook_process import exit_now
        atexit.register(lambda: print("exit handler ran"))
        threading.Thread(target=lambda: (time.sleep(0.2), print("thread done"))).start()
        sys.stdout.write("buffered, no newline")
        sys.stderr.write("to stderr")
        exit_now(7)
        """
    )
    env = dict(os.environ, PYTHONPATH=DRIVER)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 7
    assert out.stdout.splitlines() == ["buffered, no newlinethread done", "exit handler ran"]
    assert out.stderr == "to stderr"


def test_a_playbook_runs_as_under_ansible_playbook_and_fills_the_cache(tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: hello from the play}\n"
        "    - ansible.builtin.fail: {msg: failed on purpose}\n      when: fail | bool\n"
    )
    cache = tmp_path / "cache"
    env = dict(
        os.environ, PYTHONPATH=DRIVER, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(tmp_path / "none")
    )
    env[CACHE_ENV] = str(cache)
    argv = [sys.executable, "-m", "irdrive.playbook_process", "-i", "localhost,", str(playbook)]
    ok = subprocess.run([*argv, "-e", "fail=false"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "hello from the play" in ok.stdout
    assert "ok=1" in ok.stdout
    # ansible.builtin's routing and the configuration definitions, at least.
    entries = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(entries) >= 2
    failed = subprocess.run([*argv, "-e", "fail=true"], capture_output=True, text=True, env=env)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "failed on purpose" in failed.stdout
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == entries  # read, not written
    # ansible-core's plugins' configuration definitions, from the cache: still in effect.
    assert len(list((cache / "config").iterdir())) >= 5
    assert "ok: [localhost]" in ok.stdout
    quiet = subprocess.run(
        [*argv, "-e", "fail=false"],
        capture_output=True,
        text=True,
        env=dict(env, ANSIBLE_DISPLAY_OK_HOSTS="false"),
    )
    assert quiet.returncode == 0 and "ok=1" in quiet.stdout
    assert "ok: [localhost]" not in quiet.stdout
    plain = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            str(playbook),
            "-e",
            "fail=true",
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != CACHE_ENV},
    )
    assert plain.returncode == failed.returncode


def test_collection_modules_are_compiled_once_and_run_the_same(tmp_path: Path) -> None:
    from ansible.config import manager
    from ansible.utils.collection_loader import _collection_finder, _collection_meta

    saved = (
        _collection_meta._meta_yml_to_dict,
        _collection_finder._meta_yml_to_dict,
        manager.ConfigManager.__dict__["_read_config_yaml_file"],
    )
    try:
        playbook_process.install_caches(tmp_path)
        compiled = _collection_finder.compile  # type: ignore[attr-defined]
        source = "X = 6 * 7\n"
        first = compiled(source=source, filename="/c/x.py", mode="exec", flags=0, dont_inherit=True)
        again = compiled(source=source, filename="/c/x.py", mode="exec", flags=0, dont_inherit=True)
        namespace: dict[str, object] = {}
        exec(again, namespace)
        assert namespace["X"] == 42
        assert again.co_filename == first.co_filename == "/c/x.py"
        assert len(list((tmp_path / "code").iterdir())) == 1
        # Another file name or source is another entry; an eval is not cached.
        compiled(source=source, filename="/c/y.py", mode="exec", flags=0, dont_inherit=True)
        compiled(source="1 + 1", filename="/c/x.py", mode="eval")
        assert len(list((tmp_path / "code").iterdir())) == 2
    finally:
        _collection_finder.__dict__.pop("compile", None)
        _collection_meta._meta_yml_to_dict, _collection_finder._meta_yml_to_dict = saved[:2]
        manager.ConfigManager._read_config_yaml_file = saved[2]  # type: ignore[method-assign]


def test_templates_are_compiled_once_and_render_the_same(tmp_path: Path) -> None:
    from ansible._internal._templating import _jinja_bits
    from ansible.errors import AnsibleError
    from ansible.template import Templar, trust_as_template

    from irdrive.playbook_process import install_template_cache

    saved = _jinja_bits.AnsibleEnvironment.__dict__["compile"]
    try:
        install_template_cache(tmp_path)
        variables = {"name": "pay", "items": [3, 1, 2]}
        templar = Templar(variables=variables)
        text = trust_as_template(
            "{{ name | upper }}-{{ items | sort | join(',') }}-{{ 'x' is string }}"
        )
        assert templar.template(text) == "PAY-1,2,3-True"
        entries = sorted(p.name for p in (tmp_path / "templates").iterdir())
        assert entries
        again = Templar(variables=dict(variables, name="db"))
        assert again.template(text) == "DB-1,2,3-True"
        assert sorted(p.name for p in (tmp_path / "templates").iterdir()) == entries
        # A template naming a filter that does not exist is an error, compiled or cached.
        for _ in range(2):
            with pytest.raises(AnsibleError, match="no_such_filter"):
                templar.template(trust_as_template("{{ name | no_such_filter }}"))
    finally:
        _jinja_bits.AnsibleEnvironment.compile = saved  # type: ignore[method-assign]


def test_a_cached_template_whose_filter_changed_is_compiled_again(tmp_path: Path) -> None:
    from ansible._internal._templating import _jinja_bits
    from ansible.template import Templar, trust_as_template

    from irdrive import playbook_process

    saved = _jinja_bits.AnsibleEnvironment.__dict__["compile"]
    try:
        playbook_process.install_template_cache(tmp_path)
        text = trust_as_template("{{ 'abc' | upper }}")
        assert Templar(variables={}).template(text) == "ABC"
        (entry,) = (tmp_path / "templates").iterdir()
        code, needs = marshal.loads(entry.read_bytes())
        assert [(kind, name) for kind, name, _ in needs] == [("filters", "upper")]
        # As if the filter had been called another way when the entry was written.
        entry.write_bytes(marshal.dumps((code, [("filters", "upper", "_PassArg.context")])))
        compiled = []
        original = saved

        def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            compiled.append(args[0] if args else kwargs.get("source"))
            return original(self, *args, **kwargs)

        # The cache wraps the compile it found: count the real compiles underneath it.
        _jinja_bits.AnsibleEnvironment.compile = counting  # type: ignore[method-assign]
        playbook_process.install_template_cache(tmp_path)
        assert Templar(variables={}).template(text) == "ABC"
        assert text in [str(s) for s in compiled]
    finally:
        _jinja_bits.AnsibleEnvironment.compile = saved  # type: ignore[method-assign]


def test_the_script_ansible_runner_starts_is_ansible_playbook_in_this_interpreter(
    tmp_path: Path,
) -> None:
    from irdrive.runner import playbook_command

    script = playbook_command(tmp_path / "env")
    assert script.stat().st_mode & 0o777 == 0o700
    # A package of that name in the working folder (the project's, for ansible-runner) is not
    # the one imported.
    (tmp_path / "irdrive").mkdir()
    (tmp_path / "irdrive" / "__init__.py").write_text("raise SystemExit('the wrong irdrive')\n")
    env = dict(os.environ, PYTHONPATH=DRIVER)
    out = subprocess.run(
        [script, "--version"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ansible-playbook [core ")


def test_without_the_internals_the_caches_replace_the_playbook_still_runs(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from irdrive import playbook_process
        def moved(cache):
            raise AttributeError("ansible-core moved its internals")
        playbook_process.install_caches = moved
        playbook_process.main(["--version"])
        """
    )
    env = dict(os.environ, PYTHONPATH=DRIVER)
    env[CACHE_ENV] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ansible-playbook [core ")


def test_cached_definitions_keep_their_origin_and_trust_tags() -> None:
    """The config-definition cache pickles ansible's tag classes with its own reducers: what it
    loads carries the same Origin (path, line, column) and TrustedAsTemplate tags, so a
    definition's templated default is still a trusted template."""
    import pickle

    from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
    from ansible.module_utils._internal._datatag import AnsibleTagHelper

    origin = Origin(path="/x/ssh.py", line_num=12, col_num=3, description="doc")
    value = {
        AnsibleTagHelper.tag("host", (origin,)): [
            AnsibleTagHelper.tag("{{ inventory_hostname }}", (origin, TrustedAsTemplate())),
            AnsibleTagHelper.tag(22, (origin,)),
        ]
    }
    blob = playbook_process.dump_tagged(value)
    assert b"rebuild_frozen" in blob  # the reducers were used, not dataclass __setstate__
    loaded = pickle.loads(blob)
    assert loaded == value
    (key,) = loaded
    template, port = loaded[key]
    assert AnsibleTagHelper.tags(key) == {origin}
    assert AnsibleTagHelper.tags(template) == {origin, TrustedAsTemplate()}
    assert TrustedAsTemplate.is_tagged_on(template)
    assert Origin.get_tag(port) == origin and Origin.get_tag(port).line_num == 12
