"""The ansible-runner call: one playbook run, its events handed to the caller as they come.

Secrets: extra vars reach ansible-playbook as ``-e @<run>/env/extravars`` (mode 0600, in a
0700 folder), encrypted with Ansible Vault under a random key that only ansible-playbook's
environment carries (``seal_extravars``): the file never holds a secret in clear. It is
overwritten and removed as soon as the playbook has started (Ansible has read it by then) and
again, at the latest, when the run ends. The event handler
sees each event before ansible-runner writes it to ``job_events``, so it can scrub it there;
ansible's stdout file is not written. The command line carries no secret.

The environment does: ansible-playbook inherits the driver's (AWS_SECRET_ACCESS_KEY,
PGPASSWORD, K8S_AUTH_API_KEY...), and ansible-runner writes all of it into
``artifacts/<ident>/command`` (and our own variables into ``env/envvars``). The command file
never reaches the disk unscrubbed: its path is a symlink to a pipe this process reads
(``CommandFileInMemory``) until the playbook has started. Both files are rewritten with the
secret values replaced (``irdrive.redact.scrub_env``) once the playbook has started, at its first
event, and again when the run ends, however it ends.

Stopping (``irdrive.stopping``): SIGINT, SIGTERM and SIGHUP to the driver, and the run's
deadline, are forwarded to ansible-playbook, whose strategy stops it safely (the running task
finishes, then the rescue and always steps run); after a grace period or a second signal every
process of the run is terminated. Each run gets its own ssh ControlPath folder, and when it
ends, however it ends, no process of it is left (ssh ControlPersist masters included).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irdrive.paths import Project, cache_dir, runs_dir
from irdrive.playbook_process import CACHE_ENV
from irdrive.redact import Redactor, env_secrets, scrub_env
from irdrive.report import write_private
from irdrive.stopping import RUN_MARK, Stopper, grace_period, run_id_for, terminate

EventHandler = Callable[[dict[str, Any]], None]
# The environment variable that carries the extra vars file's vault key (a secret name).
VAULT_KEY_ENV = "IRDRIVE_EXTRAVARS_SECRET"


@dataclass
class RunRequest:
    """Everything one run needs; built by ``irdrive.session`` after validation."""

    runbook: str
    playbook: Path
    project: Project
    inventories: list[Path]
    extravars: dict[str, Any] = field(default_factory=dict)
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    lab_dir: Path | None = None  # the lab's folder, for the lab inventory (IRDRIVE_LAB_DIR)
    env: dict[str, str] = field(default_factory=dict)
    deadline: float | None = None  # seconds; then the run is stopped as on SIGTERM


@dataclass
class RunOutcome:
    """How ansible-runner ended: its status and rc, when the run started and ended, and what
    stopped it (SIGINT, SIGTERM, SIGHUP, ``stopping.DEADLINE``) with that signal's number."""

    status: str
    rc: int | None
    started: str
    ended: str
    duration: float
    stopped: str | None = None
    stop_signal: int | None = None


def make_run_dir(runbook: str, base: Path | None = None) -> Path:
    base = base or runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    run_dir = base / f"{stamp}-{runbook}"
    run_dir.mkdir(mode=0o700)
    return run_dir


def ansible_env(request: RunRequest) -> dict[str, str]:
    """Environment for ansible-playbook: the project's config, content paths, the lab."""
    project = request.project
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {
        "ANSIBLE_CONFIG": str(project.ansible_cfg),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(
            p
            for p in (str(project.collections_dir), os.environ.get("ANSIBLE_COLLECTIONS_PATH"))
            if p
        ),
        "ANSIBLE_ROLES_PATH": str(project.roles_dir),
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        # An inventory source no plugin can parse fails the run, never an implicit localhost
        # (whose Kubernetes tasks would fall back to ~/.kube/config: someone else's cluster).
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "PATH": bin_dir if not path else f"{bin_dir}{os.pathsep}{path}",
        "PYTHONUNBUFFERED": "1",
    }
    if request.lab_dir is not None:
        env["IRDRIVE_LAB_DIR"] = str(request.lab_dir)
    env.update(request.env)
    return env


def environment_secrets(request: RunRequest) -> list[str]:
    """The secret values ansible-playbook's environment holds: the driver's, and ours."""
    return env_secrets({**os.environ, **ansible_env(request)})


def scrub_artifacts(run_dir: Path, ident: str, redactor: Redactor) -> None:
    """Rewrite the files ansible-runner keeps the environment, command line and fact cache
    in, with every secret variable's value (and any other occurrence of a secret) replaced."""
    for path in (run_dir / "artifacts" / ident / "command", run_dir / "env" / "envvars"):
        if path.is_symlink():
            continue  # the command file still in memory (CommandFileInMemory), not on disk
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        write_private(path, scrub_artifact_text(path.name, text, redactor))
    # The command line, and facts cached as Ansible gathered them (a controller's ansible_env).
    facts = run_dir / "artifacts" / ident / "fact_cache"
    for path in [run_dir / "env" / "cmdline", *(facts.iterdir() if facts.is_dir() else ())]:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if redactor.text(text) != text:
                write_private(path, redactor.text(text))


def scrub_artifact_text(name: str, text: str, redactor: Redactor) -> str:
    """The text of ``command`` or ``env/envvars`` with every secret variable's value (and any
    other occurrence of a secret) replaced."""
    try:
        data = json.loads(text)
    except ValueError:
        return redactor.text(text)
    if isinstance(data, dict) and isinstance(data.get("env"), dict):
        data["env"] = scrub_env(data["env"])  # the command file: command, cwd, env
    elif isinstance(data, dict) and name == "envvars":
        data = scrub_env(data)
    return json.dumps(redactor.scrub(data), ensure_ascii=False)


class CommandFileInMemory:
    """Keeps ansible-runner's ``artifacts/<ident>/command`` off the disk until it is scrubbed.

    ansible-runner writes that file (the command line, the working folder and the whole
    environment, secrets included) just before it starts ansible-playbook, and the driver can
    only rewrite it after. Instead of a file, the path is a symlink to the write end of a pipe
    this process drains: the document goes to memory. ``settle`` then puts the scrubbed
    document in the symlink's place (0600). Linux only: the symlink names ``/proc/<pid>/fd``.
    """

    def __init__(self, path: Path, redactor: Redactor) -> None:
        self.path = path
        self.redactor = redactor
        self._chunks: list[bytes] = []
        self._read_fd, write_fd = os.pipe()
        self._write_fd: int | None = write_fd
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.symlink(f"/proc/{os.getpid()}/fd/{write_fd}", path)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while chunk := os.read(self._read_fd, 65536):
            self._chunks.append(chunk)

    def settle(self) -> None:
        """Write the scrubbed document in the symlink's place; once (ansible-runner has closed
        the file by the time the process runs)."""
        if self._write_fd is None:
            return
        os.close(self._write_fd)  # ansible-runner's own handle is closed: the reader ends
        self._write_fd = None
        self._reader.join(timeout=10)
        os.close(self._read_fd)
        text = b"".join(self._chunks).decode("utf-8", errors="replace")
        if not self.path.is_symlink():
            return
        temp = self.path.with_name(f".{self.path.name}.tmp")
        write_private(
            temp, scrub_artifact_text(self.path.name, text, self.redactor) if text else ""
        )
        os.replace(temp, self.path)


def remove_extravars(path: Path) -> None:
    """Overwrite the extra vars file with zeros, then unlink it."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(b"\0" * size)
        path.unlink()
    except FileNotFoundError:
        pass


def vault_encrypt(plaintext: bytes, password: bytes) -> str:
    """``plaintext`` as an Ansible Vault 1.1 AES256 document (the documented payload format:
    PBKDF2-SHA256 with 10000 iterations over a random 32-byte salt gives the AES-256-CTR key,
    the HMAC-SHA256 key and the counter; the body is hex of salt, HMAC and ciphertext, hexed
    again and wrapped at 80 columns). Written with ``cryptography`` directly: importing
    ansible.parsing.vault in the driver costs 0.7 s of every run's start."""
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    salt = os.urandom(32)
    derived = PBKDF2HMAC(hashes.SHA256(), length=80, salt=salt, iterations=10000).derive(password)
    cipher_key, hmac_key, counter = derived[:32], derived[32:64], derived[64:]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CTR(counter)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = HMAC(hmac_key, hashes.SHA256())
    mac.update(ciphertext)
    body = b"\n".join(
        [salt.hex().encode(), mac.finalize().hex().encode(), ciphertext.hex().encode()]
    )
    hexed = body.hex()
    lines = [hexed[i : i + 80] for i in range(0, len(hexed), 80)]
    return "\n".join(["$ANSIBLE_VAULT;1.1;AES256", *lines, ""])


def seal_extravars(path: Path, extravars: dict[str, Any]) -> tuple[dict[str, str], Path]:
    """Write the extra vars to ``path`` encrypted with Ansible Vault under a fresh random key,
    so the file never holds a secret in clear, not even while the playbook starts. The key goes
    to ansible-playbook in its environment (``VAULT_KEY_ENV``, a secret name: scrubbed from the
    artifacts), read by a password script beside the file. Returns (environment, script)."""
    key = secrets.token_urlsafe(32)
    write_private(path, vault_encrypt(json.dumps(extravars).encode(), key.encode()))
    script = path.with_name("vault-key")
    write_private(script, f'#!/bin/sh\nprintf %s "${VAULT_KEY_ENV}"\n')
    script.chmod(0o700)
    return {VAULT_KEY_ENV: key}, script


def playbook_command(env_dir: Path) -> Path:
    """The script ansible-runner starts instead of ``ansible-playbook``: the same CLI, through
    ``irdrive.playbook_process`` (start-up caches, no interpreter teardown), in this
    interpreter. ``-P``: the working folder is not put on its module path."""
    script = env_dir / "ansible-playbook"
    code = "from irdrive.playbook_process import main; main()"
    write_private(script, f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -P -c "{code}" "$@"\n')
    script.chmod(0o700)
    return script


def close_pty_without_delay() -> None:
    """ansible-runner's pexpect loop ends once ansible-playbook has exited and been reaped (its
    last ``isalive`` waits for the process); closing the pty then still slept pexpect's
    ``delayafterclose``, 0.1 s, on every run. Its ``pexpect.spawn`` becomes a subclass whose
    pty closes at once: a child still alive at close is terminated as before."""
    import pexpect
    from ansible_runner import runner as ansible_runner_runner

    if getattr(ansible_runner_runner.pexpect, "closes_without_delay", False):
        return

    class Spawn(pexpect.spawn):  # type: ignore[misc]
        def _spawnpty(self, args: list[str], **kwargs: Any) -> Any:
            pty = super()._spawnpty(args, **kwargs)
            pty.delayafterclose = 0
            return pty

    quick = types.ModuleType("pexpect")
    quick.__dict__.update(pexpect.__dict__)
    quick.spawn = Spawn  # type: ignore[attr-defined]
    quick.closes_without_delay = True  # type: ignore[attr-defined]
    ansible_runner_runner.pexpect = quick  # type: ignore[attr-defined]


def run(request: RunRequest, run_dir: Path, on_event: EventHandler) -> RunOutcome:
    """Run the playbook in ``run_dir``; ``on_event`` gets every event, in order, in place."""
    import ansible_runner

    close_pty_without_delay()
    extravars_file = run_dir / "env" / "extravars"
    flags = [flag for flag, on in (("--check", request.check), ("--diff", request.diff)) if on]
    vault_env: dict[str, str] = {}
    if request.extravars:
        vault_env, vault_script = seal_extravars(extravars_file, request.extravars)
        flags += ["--vault-password-file", str(vault_script)]
    # ansible-runner starts playbook_command's script as a raw command, so the playbook is an
    # argument here (it appends the inventories, the extra vars file and the verbosity).
    cmdline = " ".join([*map(shlex.quote, flags), shlex.quote(str(request.playbook))])
    lock = threading.Lock()
    status = "unstarted"
    ident = "ansible"
    env_redactor = Redactor([*environment_secrets(request), *vault_env.values()])
    scrubbed = threading.Event()

    command_file = CommandFileInMemory(run_dir / "artifacts" / ident / "command", env_redactor)

    def scrub_once() -> None:
        # The command file is written before the process starts: settle it as soon as it runs.
        if not scrubbed.is_set():
            scrubbed.set()
            command_file.settle()
            scrub_artifacts(run_dir, ident, env_redactor)

    def event_handler(event: dict[str, Any]) -> bool:
        with lock:
            scrub_once()
            if event.get("event") == "playbook_on_start":
                remove_extravars(extravars_file)  # ansible-playbook has loaded it by now
            on_event(event)  # may scrub the event in place: ansible-runner writes it after
        return True

    def status_handler(data: dict[str, Any], runner_config: Any = None) -> None:
        nonlocal status
        status = str(data.get("status", status))
        if status == "running":  # the process has started: the command file is written
            with lock:
                scrub_once()

    run_id = run_id_for(run_dir)
    control_dir = tempfile.mkdtemp(prefix="irdrive-cp-")  # short: a socket path is <108 bytes
    envvars = {
        **ansible_env(request),
        RUN_MARK: run_id,
        **vault_env,
        "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir,
        CACHE_ENV: str(cache_dir() / "ansible"),
    }
    stopper = Stopper(run_id, deadline=request.deadline, grace=grace_period())
    started = _now()
    clock = time.monotonic()
    rc: int | None = None
    stopper.install()
    try:
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(run_dir),
            project_dir=str(request.project.root),
            playbook=str(request.playbook),
            binary=str(playbook_command(run_dir / "env")),
            inventory=[str(p) for p in request.inventories],
            envvars=envvars,
            cmdline=cmdline,
            ident=ident,
            quiet=True,
            suppress_output_file=True,
            verbosity=request.verbosity or None,
            event_handler=event_handler,
            status_handler=status_handler,
            # Not None: else ansible-runner takes SIGINT/SIGTERM itself and kills the playbook.
            cancel_callback=lambda: False,
        )
        while thread.is_alive():
            thread.join(0.05)
            stopper.poll()
        status, rc = str(runner.status), runner.rc
    finally:
        # Whatever is left of the run (workers, modules, ssh masters): nothing outlives it.
        terminate(run_id)
        command_file.settle()
        shutil.rmtree(control_dir, ignore_errors=True)
        stopper.restore()
        remove_extravars(extravars_file)
        scrub_artifacts(run_dir, ident, env_redactor)
    return RunOutcome(
        status=status,
        rc=rc,
        started=started,
        ended=_now(),
        duration=round(time.monotonic() - clock, 3),
        stopped=stopper.reason,
        stop_signal=stopper.exit_signal,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
