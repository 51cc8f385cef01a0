"""Incident communications: the playbook's three templates (Internal Incident Alert, User
Communication, Stakeholder Update) filled from the record, and their delivery through apprise
to the channels configured for the incident's severity.

Every value a template shows is decided here, in Python (``internal_context``,
``user_context``, ``stakeholder_context``); the ``.j2`` files only lay the text out. The user
template's context is built from the user-facing fields alone (``public_summary``, services,
status), so it cannot show a commander, a note or a host even by mistake: any other name is
undefined there (StrictUndefined).

Channels come from a YAML file (``$IRDRIVE_COMMS_CONFIG``, else ``comms.yml`` beside the config
file): a list of apprise URLs per severity, ``${NAME}`` taken from the environment so tokens stay
out of the file. A channel is shown and recorded by its name or by a redacted form of its URL
(``scheme://host/…``), never with the URL's secret parts; apprise's reasons are scrubbed of them.

``notify()`` is for other commands (a run that finishes, a status change): it never raises, so a
notification failure never fails a remediation, and every delivery, sent or failed, lands in the
timeline as a ``notify`` entry.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from irdrive.errors import UsageError
from irdrive.incidents.common import fmt_duration, fmt_time
from irdrive.incidents.model import (
    IDENTIFIED,
    INVESTIGATING,
    MONITORING,
    RESOLVED,
    SEVERITIES,
    UPDATE_CADENCE_S,
    ActionItem,
    Incident,
    TimelineEntry,
)
from irdrive.redact import Redactor, mask_text

if TYPE_CHECKING:
    from irdrive.incidents.store import IncidentStore

log = logging.getLogger(__name__)

TEMPLATES = ("internal", "user", "stakeholder")
TEMPLATE_DIR = Path(__file__).parent / "templates"
ENV_COMMS_CONFIG = "IRDRIVE_COMMS_CONFIG"
DEFAULT_STATUS_PAGE = "status.platform.com"  # the playbook's "Updates at:"
DEFAULT_TIMEOUT_S = 5.0  # apprise's connect and read timeout, per channel
MAX_TIMEOUT_S = 60.0
MAX_ACTIONS = 8  # "Current Actions" lines; older ones are counted, not listed

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONFIG_KEYS = {"channels", "status_page_url", "timeout"}
_CHANNEL_KEYS = {"name", "url", "templates"}

# Timeline entries that are "what we are doing": a run's changes, verifications and end, a
# command a responder ran, an escalation; and a status change that carries a note.
ACTION_KINDS = frozenset({"change", "verify", "run.end", "command", "escalation"})

# Wording by status for the plan ("Resolution:", "Next Actions:" with no action items) and for
# users ("What we're doing:", "What's happening:" without a public summary).
PLAN = {
    INVESTIGATING: "Find the cause and restore service",
    IDENTIFIED: "Apply the fix for the identified cause",
    MONITORING: "Watch the fix hold, then resolve",
    RESOLVED: "Post-incident review and its action items",
    "CLOSED": "None: the incident is closed",
}
USER_DOING = {
    INVESTIGATING: "Our engineers are investigating and working to restore service.",
    IDENTIFIED: "We have identified the cause and are working on a fix.",
    MONITORING: "A fix is in place and we are monitoring the results.",
    RESOLVED: "The issue is resolved; we continue to watch our systems closely.",
    "CLOSED": "The issue is resolved.",
}
USER_HAPPENING = {
    INVESTIGATING: "We are looking into reports of problems.",
    IDENTIFIED: "We have found the cause of the problem.",
    MONITORING: "Service is recovering.",
    RESOLVED: "Service has been restored.",
    "CLOSED": "Service has been restored.",
}
USER_ISSUE = {
    "P0": "a service disruption",
    "P1": "a service disruption",
    "P2": "degraded performance",
    "P3": "a minor issue",
}


# -- channels ----------------------------------------------------------------------------


def _looks_like_host(host: str) -> bool:
    """A host name or address (shown), not a token in the host's place (``slack://T0/B1/x``)."""
    if host == "localhost" or ("." in host and not host.startswith("$")):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def redacted(url: str) -> str:
    """``scheme://host[:port]/…``: what may be shown of a channel URL as written (before
    ``${NAME}`` expansion). User, password, path and query are dropped; a host that is not a
    host name (a token, a ``${NAME}``) is dropped too."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    scheme = parts.scheme or "?"
    if not host or not _looks_like_host(host):
        return f"{scheme}://…"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}{f':{port}' if port else ''}/…"


def secret_parts(url: str) -> list[str]:
    """The parts of an expanded channel URL that may be a secret: user, password, a host that
    is not a host name, every path segment and query value (four characters or more)."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        found += [parts.username or "", parts.password or ""]
        host = parts.hostname or ""
        if host and not _looks_like_host(host):
            found.append(parts.netloc.rsplit("@", 1)[-1].split(":")[0])
        found += parts.path.split("/")
        found += [value for _key, value in parse_qsl(parts.query)]
        found.append(parts.fragment)
    except ValueError:
        found.append(url)
    return [p for p in found if len(p) >= 4]


@dataclass(frozen=True)
class Channel:
    """One place a template goes: its label (a name, or the URL's redacted form), the URL as
    written (``${NAME}`` not yet expanded), and the templates it takes (all by default)."""

    label: str
    url: str
    where: str  # the config's path to it, for errors: channels.P1[0]
    templates: frozenset[str] = frozenset(TEMPLATES)

    def expand(self, environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
        """The URL with ``${NAME}`` replaced from the environment, and the values put in (each
        is a secret). A variable that is not set is an error naming it."""
        env = os.environ if environ is None else environ
        values: list[str] = []

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            value = env.get(name)
            if value is None or value == "":
                raise UsageError(
                    f"comms channel {self.label} ({self.where}) uses ${{{name}}}, which is not set"
                )
            values.append(value)
            return value

        return _ENV_REF.sub(sub, self.url), values


@dataclass(frozen=True)
class CommsConfig:
    """The comms file: channels per severity (``default`` for the others), the status page's
    address for the user template, and apprise's per-channel timeout."""

    path: Path | None = None
    channels: Mapping[str, tuple[Channel, ...]] = field(default_factory=dict)
    status_page_url: str = DEFAULT_STATUS_PAGE
    timeout_s: float = DEFAULT_TIMEOUT_S

    def for_incident(self, severity: str, template: str) -> list[Channel]:
        """The severity's channels (else ``default``'s) that take ``template``."""
        listed = self.channels.get(severity)
        if listed is None:
            listed = self.channels.get("default", ())
        return [ch for ch in listed if template in ch.templates]


def config_path() -> Path:
    """``$IRDRIVE_COMMS_CONFIG``, else ``comms.yml`` in the config file's folder."""
    env = os.environ.get(ENV_COMMS_CONFIG)
    if env:
        return Path(env).expanduser()
    from irdrive.config import config_file

    return config_file().parent / "comms.yml"


def load_config(path: Path | str | None = None, *, required: bool = False) -> CommsConfig:
    """Read and check the comms file. A missing file is an empty config unless ``required``;
    anything malformed is one UsageError naming the file and the entry."""
    file = Path(path) if path is not None else config_path()
    if not file.exists():
        if required:
            raise UsageError(
                f"no comms config at {file}: set ${ENV_COMMS_CONFIG} or write it "
                "(see configs/comms.example.yml)"
            )
        return CommsConfig(path=None)
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"comms config {file} cannot be read: {first}") from None
    return parse_config(data, file)


def parse_config(data: Any, file: Path | None = None) -> CommsConfig:
    where = file or "comms config"

    def bad(message: str) -> UsageError:
        return UsageError(f"comms config {where}: {message}")

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise bad("expected a mapping with `channels:`")
    unknown = sorted(set(map(str, data)) - _CONFIG_KEYS)
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (one of {', '.join(sorted(_CONFIG_KEYS))})")
    status_page = data.get("status_page_url", DEFAULT_STATUS_PAGE)
    if not isinstance(status_page, str) or not status_page.strip():
        raise bad("status_page_url must be a non-empty string")
    timeout = data.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise bad(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < float(timeout) <= MAX_TIMEOUT_S:
        raise bad(f"timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    raw = data.get("channels") or {}
    if not isinstance(raw, dict):
        raise bad("channels must map a severity (P0..P3, default) to a list of channels")
    channels: dict[str, tuple[Channel, ...]] = {}
    for key, entries in raw.items():
        sev = str(key).strip()
        sev = sev.upper() if sev.upper() in SEVERITIES else sev
        if sev not in (*SEVERITIES, "default"):
            raise bad(f"channels has {key!r}: one of {', '.join(SEVERITIES)}, default")
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise bad(f"channels.{sev} must be a list of apprise URLs or {{name, url}} entries")
        channels[sev] = tuple(
            _channel(entry, f"channels.{sev}[{i}]", bad) for i, entry in enumerate(entries)
        )
    return CommsConfig(
        path=file, channels=channels, status_page_url=status_page.strip(), timeout_s=timeout
    )


def _channel(entry: Any, where: str, bad: Any) -> Channel:
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, dict):
        raise bad(f"{where} must be an apprise URL or a mapping with `url`")
    unknown = sorted(set(map(str, entry)) - _CHANNEL_KEYS)
    if unknown:
        raise bad(f"{where} has unknown key {unknown[0]!r} (name, url, templates)")
    url = entry.get("url")
    if not isinstance(url, str) or "://" not in url:
        raise bad(f"{where} needs `url`, an apprise URL (scheme://...)")
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise bad(f"{where}: name must be a non-empty string")
    templates = entry.get("templates", list(TEMPLATES))
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, list) or not templates:
        raise bad(f"{where}: templates must be a list of {', '.join(TEMPLATES)}")
    for template in templates:
        if template not in TEMPLATES:
            raise bad(f"{where}: unknown template {template!r} (one of {', '.join(TEMPLATES)})")
    label = name.strip() if name else redacted(url)
    return Channel(label=label, url=url.strip(), where=where, templates=frozenset(templates))


# -- rendering ---------------------------------------------------------------------------


def _clock(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%H:%M UTC")


def current_actions(entries: Sequence[TimelineEntry], limit: int = MAX_ACTIONS) -> list[str]:
    """ "What is being done", oldest first: a run's changes, verifications and outcome,
    commands, escalations and status changes with a note, from the timeline (the last
    ``limit``; how many earlier ones were left out is said)."""
    picked = [
        e
        for e in entries
        if (e.kind in ACTION_KINDS and not (e.data or {}).get("check"))  # not --check runs
        or (e.kind == "status" and (e.data or {}).get("note"))
    ]
    lines = [f"{_clock(e.at)} {e.summary}" for e in picked[-limit:]]
    if len(picked) > limit:
        lines.insert(0, f"({len(picked) - limit} earlier in the timeline)")
    return lines or ["None recorded yet"]


def _last_status_note(entries: Sequence[TimelineEntry]) -> str:
    for entry in reversed(entries):
        note = (entry.data or {}).get("note") if entry.kind == "status" else None
        if note:
            return str(note)
    return ""


def next_update(incident: Incident, now: datetime, *, sending: bool) -> datetime | None:
    """The "Next Update" a message gives: a sent message is the update, so the next is due one
    cadence after it; a preview gives the record's, or now + cadence once that has passed."""
    if not incident.is_open:
        return None
    cadence = timedelta(seconds=UPDATE_CADENCE_S[incident.severity])
    due = incident.next_update_at
    if sending or due is None or due <= now:
        return now + cadence
    return due


def _next_update_text(incident: Incident, now: datetime, tz: tzinfo | None, sending: bool) -> str:
    due = next_update(incident, now, sending=sending)
    if due is None:
        return f"None: the incident is {incident.status}"
    return fmt_time(due, tz)


def _duration(incident: Incident, now: datetime) -> str:
    start = incident.started_at or incident.detected_at
    if start is None:
        return "unknown"
    end = incident.resolved_at if not incident.is_open and incident.resolved_at else now
    text = fmt_duration((end - start).total_seconds())
    return f"{text} (ongoing)" if incident.is_open else text


def internal_context(
    incident: Incident,
    entries: Sequence[TimelineEntry],
    *,
    tz: tzinfo | None,
    now: datetime,
    sending: bool = False,
) -> dict[str, Any]:
    return {
        "incident_id": incident.id,
        "severity": incident.severity,
        "status": incident.status,
        "started": fmt_time(incident.started_at or incident.detected_at, tz),
        "commander": incident.commander or "not assigned",
        "summary": incident.summary or incident.title,
        "users_affected": incident.users_affected or "unknown",
        "services": ", ".join(incident.services) or "not yet known",
        "business_impact": incident.impact or "not yet assessed",
        "current_actions": current_actions(entries),
        "next_update": _next_update_text(incident, now, tz, sending),
    }


def stakeholder_context(
    incident: Incident,
    entries: Sequence[TimelineEntry],
    actions: Sequence[ActionItem],
    *,
    tz: tzinfo | None,
    now: datetime,
    sending: bool = False,
) -> dict[str, Any]:
    note = _last_status_note(entries)
    if incident.is_open:
        plan = note or (f"runbook {incident.runbook}" if incident.runbook else "")
        plan = plan or PLAN[incident.status]
        start = incident.started_at or incident.detected_at or now
        target = start + timedelta(seconds=incident.resolve_target_s)
        eta = str(incident.details.get("eta") or "") or (
            f"not yet available; {incident.severity} resolution target {fmt_time(target, tz)}"
        )
    else:
        resolved = fmt_time(incident.resolved_at, tz)
        plan = f"resolved at {resolved}" + (f": {note}" if note else "")
        eta = f"resolved at {resolved}"
    pending = [a for a in actions if a.status in ("open", "in-progress")]
    next_actions = [
        f"{a.action} (owner {a.owner}, {a.priority}{f', due {a.due}' if a.due else ''})"
        for a in pending
    ] or [PLAN[incident.status]]
    return {
        "incident_id": incident.id,
        "status": incident.status,
        "business_impact": incident.impact or "not yet assessed",
        "root_cause": incident.root_cause or "not yet known",
        "resolution": plan,
        "eta": eta,
        "users_affected": incident.users_affected or "unknown",
        "revenue_impact": str(incident.details.get("revenue_impact") or "") or "not yet estimated",
        "duration": _duration(incident, now),
        "next_actions": next_actions,
        "next_update": _next_update_text(incident, now, tz, sending),
    }


def user_context(incident: Incident, *, status_page_url: str) -> dict[str, Any]:
    """Only user-facing text: the public summary, the services and the status. Nothing
    else of the record is passed in, so the user template cannot show it; and, as on the status
    page, an IP address or a secret value typed into the public text is withheld."""
    from irdrive.incidents.statuspage import PublicText

    clean = PublicText()
    resolved = not incident.is_open
    return {
        "experiencing": "experienced" if resolved else "are currently experiencing",
        "may_affect": "affected" if resolved else "may affect",
        "issue": USER_ISSUE[incident.severity],
        "services": ", ".join(clean(s) for s in incident.services) or "some of our services",
        "happening": clean(incident.public_summary) or USER_HAPPENING[incident.status],
        "doing": USER_DOING[incident.status],
        "expected": (
            f"Resolved at {fmt_time(incident.resolved_at)}"
            if resolved and incident.resolved_at
            else "We will share an estimate as soon as we have one."
        ),
        "status_page_url": status_page_url,
    }


def _environment() -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=False,  # plain text for chat, mail and webhooks
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def check_template(name: str) -> str:
    if name not in TEMPLATES:
        raise UsageError(f"unknown template {name!r}: one of {', '.join(TEMPLATES)}")
    return name


def render(
    template: str,
    incident: Incident,
    entries: Sequence[TimelineEntry] = (),
    actions: Sequence[ActionItem] = (),
    *,
    tz: tzinfo | None = None,
    now: datetime | None = None,
    status_page_url: str = DEFAULT_STATUS_PAGE,
    sending: bool = False,
    secrets: Sequence[str] = (),
) -> str:
    """The filled template as text (no trailing newline). The record is redacted before it is
    kept; as a second guard, the values of the environment's secret variables (and
    ``secrets``: the tokens a channel URL took from the environment) are masked in the text."""
    check_template(template)
    now = now or datetime.now(UTC)
    if template == "internal":
        ctx = internal_context(incident, entries, tz=tz, now=now, sending=sending)
    elif template == "stakeholder":
        ctx = stakeholder_context(incident, entries, actions, tz=tz, now=now, sending=sending)
    else:
        ctx = user_context(incident, status_page_url=status_page_url)
    text: str = _environment().get_template(f"{template}.j2").render(**ctx)
    return mask_text(text.rstrip("\n"), secrets)


def overdue(incident: Incident, now: datetime, tz: tzinfo | None = None) -> str | None:
    """The reminder ``show`` and ``comms`` give once an open incident's next update is due:
    ``Update overdue by 12m 00s (due 2026-12-02 04:15 UTC): irdrive incident comms INC --send``;
    None when it is not due (or the incident is not open)."""
    due = incident.next_update_at
    if due is None or due > now:
        return None
    late = fmt_duration((now - due).total_seconds())
    return (
        f"Update overdue by {late} (due {fmt_time(due, tz)}): "
        f"irdrive incident comms {incident.id} --send"
    )


# -- delivery ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One channel's outcome. ``reason`` is apprise's, scrubbed of the URL's secret parts."""

    channel: str
    ok: bool
    at: datetime
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "ok": self.ok,
            "at": self.at.astimezone(UTC).isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Prepared:
    """A channel ready to send to: its apprise plugin and what to scrub from reasons."""

    channel: Channel
    plugin: Any
    redactor: Redactor
    values: tuple[str, ...] = ()  # what ${NAME} put in: masked in the text too


@contextlib.contextmanager
def _apprise_log(level: int = logging.INFO) -> Iterator[Any]:
    """Capture apprise's log (its reasons, which name URLs and tokens) for scrubbing, and keep
    it from every other handler: it does not propagate to the root logger meanwhile."""
    import apprise

    logger = logging.getLogger("apprise")
    propagate = logger.propagate
    logger.propagate = False
    try:
        with apprise.LogCapture(level=level, fmt="%(levelname)s %(message)s") as captured:
            yield captured
    finally:
        logger.propagate = propagate


def _reason(captured: str, redactor: Redactor) -> str:
    """The last warning or error apprise logged, scrubbed."""
    lines = [
        line.split(" ", 1)[1]
        for line in captured.splitlines()
        if line.startswith(("WARNING ", "ERROR ", "CRITICAL ")) and " " in line
    ]
    return redactor.text(lines[-1]).strip() if lines else ""


def prepare(channel: Channel, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Prepared:
    """Expand the channel's URL and have apprise parse it. UsageError (naming the channel by
    its label, never its URL) when a variable is unset or apprise does not know the URL."""
    import apprise

    url, values = channel.expand()
    redactor = Redactor([*values, *secret_parts(url)])
    asset = apprise.AppriseAsset(storage_mode="memory")
    with _apprise_log(logging.WARNING) as captured:
        try:
            plugin = apprise.Apprise.instantiate(url, asset=asset)
        except Exception as exc:  # apprise parses the URL; any failure is a bad URL
            plugin = None
            log.debug("apprise refused %s: %s", channel.label, redactor.text(str(exc)))
    if plugin is None:
        why = _reason(captured.getvalue(), redactor)
        raise UsageError(
            f"comms channel {channel.label} ({channel.where}): apprise cannot use this URL"
            + (f" ({why})" if why else "")
        )
    query = dict(parse_qsl(urlsplit(url).query))
    if "cto" not in query:
        plugin.socket_connect_timeout = timeout_s
    if "rto" not in query:
        plugin.socket_read_timeout = timeout_s
    return Prepared(channel, plugin, redactor, tuple(values))


def notify_type(incident: Incident) -> str:
    """apprise's message type: success once resolved, failure for an open P0/P1, else warning."""
    if not incident.is_open:
        return "success"
    return "failure" if incident.severity in ("P0", "P1") else "warning"


def split_title(text: str) -> tuple[str, str]:
    """The template's first line is the message title; the rest is its body."""
    first, _, rest = text.partition("\n")
    return first.strip(), rest.strip("\n")


def deliver(text: str, prepared: Sequence[Prepared], *, kind: str = "info") -> list[Delivery]:
    """Send ``text`` to every prepared channel, one after the other, each within its own
    apprise timeout. Never raises: a failure is a Delivery with ``ok`` False and a reason."""
    import apprise

    title, body = split_title(text)
    results: list[Delivery] = []
    for item in prepared:
        reason = ""
        try:
            sender = apprise.Apprise(asset=item.plugin.asset)
            sender.add(item.plugin)
            with _apprise_log() as captured:
                ok = bool(sender.notify(body=body, title=title, notify_type=kind))
            if not ok:
                reason = _reason(captured.getvalue(), item.redactor) or "apprise reported failure"
        except Exception as exc:  # a notification failure must never fail its caller
            ok = False
            reason = item.redactor.text(f"{type(exc).__name__}: {exc}")
        results.append(Delivery(item.channel.label, ok, datetime.now(UTC), reason))
    return results


def record(
    store: IncidentStore,
    incident: Incident,
    template: str,
    text: str,
    deliveries: Sequence[Delivery],
    *,
    actor: str,
) -> Incident:
    """One ``notify`` timeline entry per delivery (sent or failed); after at least one that
    was sent, the incident's ``last_update_at`` (so its next update falls due a cadence later)."""
    from irdrive.incidents.store import NewEntry

    entries = []
    for d in deliveries:
        verb = "sent to" if d.ok else "FAILED to"
        summary = f"{template} update {verb} {d.channel}" + ("" if d.ok else f": {d.reason}")
        data = {"template": template, "channel": d.channel, "ok": d.ok, "reason": d.reason}
        entries.append(NewEntry("notify", summary, actor, {**data, "text": text}, d.at))
    if entries:
        store.append(incident.id, entries)
    sent = [d.at for d in deliveries if d.ok]
    if sent:
        incident, _ = store.update(incident.id, actor=actor, last_update_at=min(sent))
    return incident


def notify(
    store: IncidentStore,
    incident_id: str,
    template: str,
    actor: str,
    *,
    config: CommsConfig | None = None,
    tz: tzinfo | None = None,
) -> list[Delivery]:
    """Render ``template`` for the incident and send it to its severity's channels, recording
    each delivery in the timeline. For other commands (a run, a status change) to call: it never
    raises. A config or channel that cannot be used is a failed Delivery (recorded too); no
    comms file, or no channel for the severity, sends nothing and returns []."""
    deliveries: list[Delivery] = []
    incident: Incident | None = None
    text = ""
    try:
        incident = store.get(incident_id)
        cfg = config if config is not None else load_config()
        channels = cfg.for_incident(incident.severity, check_template(template))
        if not channels:
            return []
        prepared: list[Prepared] = []
        for channel in channels:
            try:
                prepared.append(prepare(channel, timeout_s=cfg.timeout_s))
            except Exception as exc:
                deliveries.append(Delivery(channel.label, False, datetime.now(UTC), str(exc)))
        now = datetime.now(UTC)
        entries = store.timeline(incident.id)
        actions = store.actions(incident.id)
        text = render(
            template,
            incident,
            entries,
            actions,
            tz=tz,
            now=now,
            status_page_url=cfg.status_page_url,
            sending=True,
            secrets=[v for p in prepared for v in p.values],
        )
        deliveries += deliver(text, prepared, kind=notify_type(incident))
    except Exception as exc:
        why = mask_text(str(exc).strip() or type(exc).__name__)
        log.warning("incident notification of %s not sent: %s", incident_id, why)
        deliveries.append(Delivery("comms", False, datetime.now(UTC), why))
    if incident is not None:
        try:
            record(store, incident, template, text, deliveries, actor=actor)
        except Exception as exc:  # the store went away meanwhile: say so, do not raise
            why = mask_text(str(exc))
            log.warning("incident notification of %s not recorded: %s", incident_id, why)
    return deliveries
