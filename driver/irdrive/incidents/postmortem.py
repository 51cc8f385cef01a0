"""The post-mortem draft of one incident, in Markdown and HTML (Jinja2 templates in
``templates/``), with its timeline picture (``irdrive.incidents.svg``): summary and impact,
detection, response and resolution times against the severity's targets, the timeline table,
root cause and what went well or poorly (to fill in, started with the record's facts), and
the action items (the playbook's Action | Owner | Due Date | Status | Priority table).

The decisions (what each clock says, which rows are shown, what is overdue) are made here in
Python; the templates only lay the text out. From the timeline only each entry's time, kind,
actor and one-line summary are shown, never its ``data``: a run's parameters, prior states and
results stay in the record.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from irdrive.errors import UsageError
from irdrive.incidents.common import fmt_duration, fmt_time
from irdrive.incidents.model import (
    ROLES,
    SEVERITY_NAMES,
    TEXT_FIELDS,
    ActionItem,
    Incident,
    TimelineEntry,
)
from irdrive.incidents.stats import BREACHED, MET, Measures, is_overdue, measure
from irdrive.incidents.svg import check_mode, run_failed, timeline_svg, verification_failed
from irdrive.redact import Redactor, env_redactor

TEMPLATES = Path(__file__).parent / "templates"
NOT_RESOLVED = "not resolved yet"
# The record's text a report shows (besides services, the timeline and the action items).
SHOWN_FIELDS = (*TEXT_FIELDS, *ROLES)
VERDICTS = {MET: "met", BREACHED: "BREACHED"}
CSS = {MET: "met", BREACHED: "breached"}


@dataclass(frozen=True)
class Report:
    """A rendered post-mortem: the three documents, not yet written anywhere."""

    incident: Incident
    measures: Measures
    markdown: str
    html: str
    svg: str

    @property
    def draft_open(self) -> bool:
        return self.incident.resolved_at is None


def _verdict(verdict: str, missing: str) -> str:
    if verdict in VERDICTS:
        return VERDICTS[verdict]
    return missing


def clock_rows(incident: Incident, m: Measures) -> list[dict[str, str]]:
    """The three clocks of the report: what was measured, the target, met or breached."""
    ack_missing = "not acknowledged yet"
    return [
        {
            "name": "Detection (MTTD: detected - impact began)",
            "measured": fmt_duration(m.detect_s),
            "target": "-",
            "verdict": "-",
            "css": "",
        },
        {
            "name": "Response (MTTA: acknowledged - detected)",
            "measured": fmt_duration(m.acknowledge_s)
            if m.acknowledge_s is not None
            else ack_missing,
            "target": fmt_duration(m.respond_target_s),
            "verdict": _verdict(m.respond, ack_missing),
            "css": CSS.get(m.respond, ""),
        },
        {
            "name": "Resolution (MTTR: resolved - impact began)",
            "measured": fmt_duration(m.resolve_s) if m.resolve_s is not None else NOT_RESOLVED,
            "target": fmt_duration(m.resolve_target_s),
            "verdict": _verdict(m.resolve, NOT_RESOLVED),
            "css": CSS.get(m.resolve, ""),
        },
    ]


def lessons(m: Measures, entries: list[TimelineEntry]) -> tuple[list[str], list[str]]:
    """Facts from the record to start "what went well" and "what went poorly" with: each
    clock against its target, runs that did not succeed, and the verifications that passed or
    failed (those of --check runs left out)."""
    well: list[str] = []
    poorly: list[str] = []
    if m.acknowledge_s is not None:
        line = f"Acknowledged {fmt_duration(m.acknowledge_s)} after detection"
        target = f"the {fmt_duration(m.respond_target_s)} respond target"
        (well if m.respond == MET else poorly).append(
            f"{line}, inside {target}." if m.respond == MET else f"{line}, past {target}."
        )
    elif m.respond == BREACHED:
        poorly.append(
            f"Not acknowledged within the {fmt_duration(m.respond_target_s)} respond target."
        )
    if m.resolve_s is not None:
        line = f"Resolved {fmt_duration(m.resolve_s)} after the impact began"
        target = f"the {fmt_duration(m.resolve_target_s)} resolve target"
        (well if m.resolve == MET else poorly).append(
            f"{line}, inside {target}." if m.resolve == MET else f"{line}, past {target}."
        )
    elif m.resolve == BREACHED:
        poorly.append(f"Not resolved within the {fmt_duration(m.resolve_target_s)} resolve target.")
    failed_runs = [e for e in entries if e.kind == "run.end" and run_failed(e)]
    if failed_runs:
        shown = "; ".join(e.summary for e in failed_runs[:3]) + (
            "; …" if len(failed_runs) > 3 else ""
        )
        runs = "1 run" if len(failed_runs) == 1 else f"{len(failed_runs)} runs"
        poorly.append(f"{runs} did not succeed: {shown}.")
    checks = [e for e in entries if e.kind == "verify" and not check_mode(e)]
    failed = [e for e in checks if verification_failed(e)]
    if failed:
        shown = "; ".join(e.summary for e in failed[:3]) + ("; …" if len(failed) > 3 else "")
        poorly.append(f"{len(failed)} of {len(checks)} verifications failed: {shown}.")
    elif checks:
        well.append(f"Every verification passed ({len(checks)}).")
    return well, poorly


def time_rows(incident: Incident, tz: tzinfo | None) -> list[dict[str, str]]:
    rows = [
        ("Impact began", incident.started_at),
        ("Detected (incident opened)", incident.detected_at),
        ("Acknowledged", incident.acknowledged_at),
        ("Identified", incident.identified_at),
        ("Mitigated (monitoring)", incident.mitigated_at),
        ("Resolved", incident.resolved_at),
        ("Closed", incident.closed_at),
    ]
    shown = []
    for name, at in rows:
        text = NOT_RESOLVED if at is None and name == "Resolved" else fmt_time(at, tz)
        shown.append({"name": name, "at": text})
    return shown


def timeline_rows(entries: list[TimelineEntry], tz: tzinfo | None) -> list[dict[str, str]]:
    """Time, kind, actor and summary of each entry: the only parts of a timeline a report
    shows."""
    return [
        {
            "seq": str(e.seq),
            "at": fmt_time(e.at, tz, seconds=True),
            "kind": e.kind,
            "actor": e.actor or "-",
            "summary": e.summary,
        }
        for e in entries
    ]


def action_rows(items: list[ActionItem], today: Any) -> list[dict[str, str]]:
    return [
        {
            "id": str(a.id),
            "action": a.action,
            "owner": a.owner,
            "due": (a.due or "-") + (" (overdue)" if is_overdue(a, today) else ""),
            "status": a.status,
            "priority": a.priority,
        }
        for a in items
    ]


def context(
    incident: Incident,
    entries: list[TimelineEntry],
    items: list[ActionItem],
    *,
    now: datetime,
    tz: tzinfo | None,
    svg_name: str,
) -> dict[str, Any]:
    m = measure(incident, now)
    went_well, went_poorly = lessons(m, entries)
    people = [
        ("Commander", incident.commander),
        ("Scribe", incident.scribe),
        ("Communications lead", incident.comms_lead),
    ]
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "severity_name": SEVERITY_NAMES[incident.severity],
        "status": incident.status,
        "draft_open": incident.resolved_at is None,
        "generated": fmt_time(now, tz),
        "people": [{"role": role, "name": name or "-"} for role, name in people],
        "services": ", ".join(incident.services) or "-",
        "runbook": incident.runbook or "-",
        "summary": incident.summary,
        "impact": incident.impact,
        "users_affected": incident.users_affected,
        "public_summary": incident.public_summary,
        "root_cause": incident.root_cause,
        "times": time_rows(incident, tz),
        "clocks": clock_rows(incident, m),
        "timeline": timeline_rows(entries, tz),
        "actions": action_rows(items, now.astimezone(tz or UTC).date()),
        "svg_name": svg_name,
        "went_well": went_well,
        "went_poorly": went_poorly,
    }


def _md_text(value: Any) -> str:
    """Text safe in Markdown: no raw HTML (``<`` escaped), no table breaks, one line."""
    text = " ".join(str(value).split()).replace("<", "&lt;")
    return text.replace("|", "\\|")


def _environment(*, html: bool) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md_text
    return env


def masked(
    incident: Incident,
    entries: list[TimelineEntry],
    items: list[ActionItem],
    secrets: Iterable[str],
) -> tuple[Incident, list[TimelineEntry], list[ActionItem]]:
    """Copies with every ``secrets`` value masked in the text a report shows: a second guard
    behind the scrubbing done when the record was written (a value typed into a title or a
    note)."""
    redactor = Redactor(secrets)
    if not redactor:
        return incident, entries, items
    shown: dict[str, Any] = {
        name: None if getattr(incident, name) is None else redactor.text(getattr(incident, name))
        for name in SHOWN_FIELDS
    }
    incident = dataclasses.replace(
        incident, services=[redactor.text(s) for s in incident.services], **shown
    )
    entries = [
        dataclasses.replace(e, summary=redactor.text(e.summary), actor=redactor.text(e.actor))
        for e in entries
    ]
    items = [
        dataclasses.replace(a, action=redactor.text(a.action), owner=redactor.text(a.owner))
        for a in items
    ]
    return incident, entries, items


def render(
    incident: Incident,
    entries: list[TimelineEntry],
    items: list[ActionItem],
    *,
    now: datetime,
    tz: tzinfo | None = None,
    secrets: Iterable[str] | None = None,
) -> Report:
    """The post-mortem of ``incident`` as of ``now`` (times also shown in ``tz``), with the
    ``secrets`` (default: the values of the environment's secret variables) masked."""
    from markupsafe import Markup

    incident, entries, items = masked(
        incident, entries, items, env_redactor().secrets if secrets is None else secrets
    )

    svg = timeline_svg(incident, entries, now)
    ctx = context(incident, entries, items, now=now, tz=tz, svg_name=f"{incident.id}.svg")
    markdown = _environment(html=False).get_template("postmortem.md.j2").render(**ctx)
    inline = svg.split("\n", 1)[1] if svg.startswith("<?xml") else svg
    html = (
        _environment(html=True)
        .get_template("postmortem.html.j2")
        .render(**ctx, svg_inline=Markup(inline))  # noqa: S704 - built with escaped text
    )
    return Report(incident, measure(incident, now), markdown, html, svg)


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then rename), with
    the permissions the umask gives a new file (a report is meant to be shared)."""
    tmp = path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write the report's Markdown, HTML and SVG into ``out_dir`` (created when missing)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the report folder {out_dir}: {exc.strerror}") from None
    base = report.incident.id
    paths = {
        "svg": out_dir / f"{base}.svg",
        "markdown": out_dir / f"{base}.md",
        "html": out_dir / f"{base}.html",
    }
    texts = {"svg": report.svg, "markdown": report.markdown, "html": report.html}
    try:
        for key, path in paths.items():
            _write(path, texts[key])
    except OSError as exc:
        raise UsageError(f"cannot write the report into {out_dir}: {exc.strerror}") from None
    return paths
