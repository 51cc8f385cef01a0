"""How the driver starts ansible-playbook: ansible-core's own CLI, two start-up costs cached and
the interpreter's teardown skipped. Run as ``python -m irdrive.playbook_process ARGS``
(``irdrive.runner`` gives ansible-runner a two-line script that does so as its ``binary``).

The playbook runs exactly as under ``ansible-playbook ARGS``: same CLI, same plugins, same
exit code. What differs is only what it costs, measured on a payments failover:

- ansible-core parses two YAML files on every start that change only with ansible-core itself:
  ``ansible.builtin``'s routing metadata (``ansible_builtin_runtime.yml``, 377 KB, about
  0.25 s with libyaml) and the configuration definitions (``config/base.yml``, about 0.1 s).
  Their parsed form is kept in the cache folder (``IRDRIVE_ANSIBLE_CACHE``), one marshal file
  each, under the SHA-256 of the bytes they were parsed from and the Python version: a changed
  file is parsed again. ansible-core documents the metadata parser as a function that tools
  may replace with one that caches. A cache that cannot be read or written is ignored.
- The collection loader compiles each collection module from source on every start (about
  0.1 s for a payments failover's plugins, and again in a worker for one the parent did not
  load): the code objects are kept in the cache as well, under the digest of the file name
  and source, as a ``.pyc`` would keep them.
- After the last callback, the interpreter's teardown (freeing every object of the run, one
  by one) took 0.4 s or more before the process ended. Here the process ends once the
  playbook is done, the non-daemon threads have finished and the exit handlers have run
  (ansible's and multiprocessing's) and stdout and stderr are flushed, as at a normal exit:
  nothing is left to write.
"""

from __future__ import annotations

import atexit
import contextlib
import copyreg
import dataclasses
import functools
import hashlib
import io
import marshal
import os
import pickle
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_ENV = "IRDRIVE_ANSIBLE_CACHE"


def cache_key(data: bytes) -> str:
    """The cache entry's name for the YAML ``data``: its digest and this Python's version."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:32]}-py{sys.version_info[0]}{sys.version_info[1]}.marshal"


def cached_parse(
    cache: Path | None,
    data: bytes,
    parse: Callable[[bytes], Any],
    codec: tuple[Callable[[Any], bytes], Callable[[bytes], Any]] = (marshal.dumps, marshal.loads),
) -> Any:
    """``parse(data)``, from the cache folder when it parsed the same bytes before. Values the
    codec (marshal, or pickle for ansible's tagged values) cannot hold are parsed every time."""
    if cache is None:
        return parse(data)
    dumps, loads = codec
    entry = cache / cache_key(data)
    try:
        return loads(entry.read_bytes())
    except Exception:  # noqa: BLE001 - a missing or damaged entry is parsed again
        pass
    value = parse(data)
    try:
        blob = dumps(value)
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = entry.with_name(f".{entry.name}.{os.getpid()}")
        temp.write_bytes(blob)
        os.replace(temp, entry)
    except (OSError, ValueError, TypeError, pickle.PicklingError):
        pass
    return value


def install_caches(cache: Path | None) -> None:
    """Replace ansible-core's collection metadata parser and its configuration definitions
    reader with ones that go through the cache. Before ``ansible.constants`` is imported."""
    if cache is None:
        return
    from ansible.config import manager
    from ansible.utils.collection_loader import _collection_finder, _collection_meta

    meta_parse = _collection_meta._meta_yml_to_dict

    def meta_yml_to_dict(yaml_string_data: bytes | str, content_id: Any) -> Any:
        data = yaml_string_data
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return cached_parse(cache, raw, lambda b: meta_parse(b, content_id))

    _collection_meta._meta_yml_to_dict = meta_yml_to_dict
    _collection_finder._meta_yml_to_dict = meta_yml_to_dict  # the name the finder calls

    read_defs = manager.ConfigManager._read_config_yaml_file

    def read_config_yaml_file(self: Any, yml_file: Any) -> Any:
        path = os.fsdecode(yml_file)
        try:
            raw = Path(path).read_bytes()
        except OSError:
            return read_defs(self, yml_file)  # ansible-core's own error for a bad install
        return cached_parse(cache, raw, lambda _b: read_defs(self, yml_file))

    manager.ConfigManager._read_config_yaml_file = read_config_yaml_file  # type: ignore[method-assign]

    # The collection loader compiles every collection module it imports from source, each time
    # (it writes no .pyc): this module's ``compile`` now keeps the code objects, as .pyc would.
    def cached_compile(
        source: Any, filename: Any, mode: str, flags: int = 0, dont_inherit: bool = False
    ) -> Any:
        if mode != "exec" or flags or not isinstance(source, str | bytes):
            return compile(source, filename, mode, flags, dont_inherit)
        raw = source.encode("utf-8") if isinstance(source, str) else source
        key = b"%s\0%s\0code" % (os.fsencode(filename), raw)
        return cached_parse(
            cache / "code", key, lambda _b: compile(source, filename, mode, flags, dont_inherit)
        )

    _collection_finder.compile = cached_compile  # type: ignore[attr-defined]
    install_config_defs_cache(cache)
    install_template_cache(cache)


def install_config_defs_cache(cache: Path) -> None:
    """ansible-playbook loads every connection, shell, become and callback plugin at start and
    parses each one's DOCUMENTATION (YAML, then its doc fragments) for its configuration
    definitions: about 0.3 s. For ansible-core's own plugins the definitions it registers are
    kept (pickled: they carry ansible's trust and origin tags), under ansible's version, the
    plugin's path and its documentation text."""
    import ansible
    from ansible import constants
    from ansible.plugins import loader

    core = os.path.dirname(ansible.__file__) + os.sep
    load_defs = loader.PluginLoader._load_config_defs
    config = constants.config

    def load_config_defs(self: Any, name: str, module: Any, path: str) -> None:
        doc = getattr(module, "DOCUMENTATION", None)
        if not self.class_name or not isinstance(doc, str) or not str(path).startswith(core):
            load_defs(self, name, module, path)
            return
        plugin_type = loader.get_plugin_class(self.class_name)
        if config.has_configuration_definition(plugin_type, name):
            return
        key = f"{ansible.__version__}\0{path}\0{plugin_type}\0{name}\0{doc}\0v2".encode()

        def registered(_data: bytes) -> Any:
            load_defs(self, name, module, path)
            return (config._plugins.get(plugin_type, {}).get(name),)

        (defs,) = cached_parse(cache / "config", key, registered, (dump_tagged, pickle.loads))
        if defs is not None and not config.has_configuration_definition(plugin_type, name):
            config.initialize_plugin_configuration_definitions(plugin_type, name, defs)

    loader.PluginLoader._load_config_defs = load_config_defs  # type: ignore[method-assign]


def rebuild_frozen(cls: type, names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    """A frozen, slotted dataclass instance from its field values, as unpickling makes one but
    without looking up the class's fields for every instance (pickle's default for such classes
    calls ``dataclasses.fields`` each time: most of loading a plugin's cached definitions)."""
    obj: Any = object.__new__(cls)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


@functools.cache
def tag_reducers() -> dict[type, Callable[[Any], Any]]:
    """``pickle`` reducers for ansible's tag classes in configuration definitions (Origin on
    every value, TrustedAsTemplate on every string): ``rebuild_frozen`` with the field names
    once per class. Empty when ansible-core has no such classes (plain pickle then)."""
    try:
        from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
    except ImportError:
        return {}
    reducers: dict[type, Callable[[Any], Any]] = {}
    classes: tuple[type, ...] = (Origin, TrustedAsTemplate)
    for cls in classes:
        if not dataclasses.is_dataclass(cls):
            continue
        names = tuple(f.name for f in dataclasses.fields(cls))

        def reduce(obj: Any, cls: type = cls, names: tuple[str, ...] = names) -> Any:
            return rebuild_frozen, (cls, names, tuple(getattr(obj, n) for n in names))

        reducers[cls] = reduce
    return reducers


def dump_tagged(value: Any) -> bytes:
    """``pickle.dumps(value)`` with ``tag_reducers`` for this pickler only (ansible's own
    pickling, for example of results from the workers, is unchanged)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, **tag_reducers()}
    pickler.dump(value)
    return buffer.getvalue()


def exit_now(code: int) -> None:
    """End the process as a normal exit would, without the interpreter's teardown: wait for
    the non-daemon threads, run the exit handlers, flush stdout and stderr, then ``_exit``."""
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def exit_code(exc: SystemExit) -> int:
    """The status ``sys.exit(code)`` would give the process."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> None:
    cache = os.environ.get(CACHE_ENV)
    # The caches replace ansible-core internals (2.21's). Under an ansible-core whose internals
    # moved, the playbook runs without those that could not be put in place.
    with contextlib.suppress(ImportError, AttributeError, KeyError):
        install_caches(Path(cache) if cache else None)
    from ansible.cli.playbook import main as playbook_main

    sys.argv = ["ansible-playbook", *(sys.argv[1:] if argv is None else argv)]
    code = 0
    try:
        playbook_main()
    except SystemExit as exc:
        code = exit_code(exc)
    exit_now(code)


# The filters and tests a compiled template names (jinja2's codegen pulls each as
# ``environment.filters['name']``): how each is called is compiled in, so a cached template is
# used only while every one of them is still there and is called the same way.
_DEPENDENCY = re.compile(
    r"environment\.(filters|tests)\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]"
)


def install_template_cache(cache: Path) -> None:
    """Every task's worker compiles each Jinja template it renders (parse, code generation,
    Python compile), and the work dies with the worker: about a quarter of a payments
    failover's worker time. Templates given as text are kept compiled, under everything the
    compiled code depends on: the text, its name and file name, the environment's syntax
    settings and extensions, ansible's backslash escaping for the compile, its embedded
    template setting, the ansible and Jinja versions, and, checked at each use, the filters and
    tests it names and how each is called. ansible's template debugging turns the cache off."""
    import ast

    import ansible
    import jinja2
    from ansible._internal._templating import _jinja_bits, _jinja_common
    from jinja2.utils import _PassArg

    environment_class = _jinja_bits.AnsibleEnvironment
    compile_template = environment_class.compile

    def calling(env: Any, kind: str, name: str) -> str | None:
        func = (env.filters if kind == "filters" else env.tests).get(name)
        return None if func is None else str(_PassArg.from_obj(func))

    def key_of(env: Any, source: str, name: Any, filename: Any, defer_init: bool) -> bytes:
        context = _jinja_bits._TemplateCompileContext.current(optional=True)
        settings = (
            ansible.__version__,
            jinja2.__version__,
            type(env).__qualname__,
            env.block_start_string,
            env.block_end_string,
            env.variable_start_string,
            env.variable_end_string,
            env.comment_start_string,
            env.comment_end_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            env.newline_sequence,
            env.keep_trailing_newline,
            env.optimized,
            env.is_async,
            repr(env.autoescape),
            getattr(env.finalize, "__qualname__", None),
            str(_PassArg.from_obj(env.finalize)) if env.finalize else None,
            sorted(env.extensions),
            bool(context and context.escape_backslashes),
            _jinja_common._TemplateConfig.allow_embedded_templates,
            name,
            filename,
            defer_init,
        )
        return repr(settings).encode() + b"\0" + str(source).encode("utf-8", "surrogatepass")

    def compile_cached(
        self: Any,
        source: Any,
        name: Any = None,
        filename: Any = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if raw or not isinstance(source, str) or self._debuggable_template_source:
            return compile_template(self, source, name, filename, raw, defer_init)
        key = key_of(self, source, name, filename, defer_init)

        def generate(_data: bytes) -> Any:
            python = compile_template(self, source, name, filename, True, defer_init)
            needs = sorted(
                {(kind, ast.literal_eval(quoted)) for kind, quoted in _DEPENDENCY.findall(python)}
            )
            code = self._compile(python, "<template>" if filename is None else filename)
            return (code, [(kind, ref, calling(self, kind, ref)) for kind, ref in needs])

        code, needs = cached_parse(cache / "templates", key, generate)
        if any(calling(self, kind, ref) != how for kind, ref, how in needs):
            return compile_template(self, source, name, filename, raw, defer_init)
        return code

    environment_class.compile = compile_cached  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    main()
