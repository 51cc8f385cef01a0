"""The post-mortem's timeline picture: a hand-written SVG of one incident against its severity
targets, deterministic for a given record and ``now`` (no plotting library, no random ids).

A time axis runs from the start of the impact to the resolution (or ``now`` while the incident
is open), in swim lanes: detection (impact began, detected, repeat alerts), status (status
changes, escalations), actions (each ``change`` entry of a run), verifications and recovery.
The respond target (from detection) is a shaded band ending in a dashed line, the resolve target
(from the start) a dashed line with the time past it shaded; a target beyond the end of the axis
is named at its right edge. Every mark is a ``<g class="mark" data-kind=... data-at=...>`` with
a ``<title>`` (its time and summary), so tests read the structure rather than pixels, and screen
readers get the picture's ``<title>`` and ``<desc>``.

Labels are an entry's one-line ``summary`` only, never its ``data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from irdrive.incidents.common import fmt_duration
from irdrive.incidents.model import RESOLVED, Incident, TimelineEntry

WIDTH = 960
LEFT = 150  # lane names
RIGHT = 40
TOP = 58  # title and target labels
LANE_H = 54
AXIS_H = 44
LABEL_CHARS = 30
CHAR_W = 6.4  # an estimate of a 11px label character's width

# lane -> (name shown, mark colour, shape)
LANES: dict[str, tuple[str, str, str]] = {
    "detection": ("Alert / detection", "#a14a00", "triangle"),
    "status": ("Status / escalation", "#5b4aa8", "square"),
    "action": ("Actions (changes)", "#1f5fa8", "circle"),
    "verify": ("Verifications", "#1b7a3a", "diamond"),
    "recovery": ("Recovery", "#1b7a3a", "circle"),
}
FAILED_COLOUR = "#b3261e"
TICK_STEPS = (
    10,
    30,
    60,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)
MAX_TICKS = 8


@dataclass(frozen=True)
class Mark:
    lane: str
    kind: str  # started, detected, alert, status, escalation, change, verify, resolved
    at: datetime
    label: str
    detail: str  # the tooltip: the full summary
    seq: int = 0  # the timeline entry's number (0 for the record's own times)
    failed: bool = False


def verification_failed(entry: TimelineEntry) -> bool:
    """Whether a ``verify`` entry records a failed check (``ok``/``passed`` false, ``failed``
    true, or an ``outcome`` of failed/error)."""
    data = entry.data
    if data.get("ok") is False or data.get("passed") is False or data.get("failed") is True:
        return True
    return str(data.get("outcome", "")).lower() in ("failed", "fail", "error")


def run_failed(entry: TimelineEntry) -> bool:
    """Whether a ``run.end`` entry records a run that did not succeed (a non-zero exit, or a
    run the driver could not finish)."""
    data = entry.data
    code = data.get("exit_code")
    return (code is not None and code != 0) or str(data.get("status", "")).lower() in (
        "error",
        "failed",
    )


def check_mode(entry: TimelineEntry) -> bool:
    """An entry of a ``--check`` run: it changed nothing, so it is not drawn as an action."""
    return entry.data.get("check") is True


def marks(incident: Incident, entries: Sequence[TimelineEntry]) -> list[Mark]:
    """The picture's marks in time order (ties: the timeline's order). Entries of --check
    runs are left out (they changed nothing); a run that failed is an action mark."""
    found: list[Mark] = []
    detected = incident.detected_at
    if incident.started_at is not None and (detected is None or incident.started_at < detected):
        found.append(Mark("detection", "started", incident.started_at, "impact began", ""))
    if detected is not None:
        how = "alert" if incident.source == "alert" else "opened"
        found.append(Mark("detection", "detected", detected, f"detected ({how})", incident.title))
    for entry in entries:
        if entry.kind == "alert":
            found.append(
                Mark("detection", "alert", entry.at, "repeat alert", entry.summary, entry.seq)
            )
        elif entry.kind == "status":
            to = str(entry.data.get("to") or "")
            if to == RESOLVED:
                continue  # the recovery lane's mark
            label = ("reopened" if entry.data.get("reopen") else to) or entry.summary
            found.append(Mark("status", "status", entry.at, label, entry.summary, entry.seq))
        elif entry.kind == "escalation":
            after = entry.data.get("after")
            label = f"escalated to L{after}" if after is not None else "escalated"
            found.append(Mark("status", "escalation", entry.at, label, entry.summary, entry.seq))
        elif entry.kind in ("change", "verify", "run.end") and check_mode(entry):
            continue
        elif entry.kind == "run.end" and run_failed(entry):
            runbook = entry.data.get("runbook")
            label = f"run of {runbook} failed" if isinstance(runbook, str) else "run failed"
            found.append(
                Mark("action", "run.failed", entry.at, label, entry.summary, entry.seq, failed=True)
            )
        elif entry.kind == "change":
            found.append(
                Mark("action", "change", entry.at, entry.summary, entry.summary, entry.seq)
            )
        elif entry.kind == "verify":
            found.append(
                Mark(
                    "verify",
                    "verify",
                    entry.at,
                    entry.summary,
                    entry.summary,
                    entry.seq,
                    failed=verification_failed(entry),
                )
            )
    if incident.resolved_at is not None:
        found.append(Mark("recovery", "resolved", incident.resolved_at, "resolved", ""))
    order = {id(m): i for i, m in enumerate(found)}
    return sorted(found, key=lambda m: (m.at, order[id(m)]))


def _offset(seconds: float) -> str:
    """``+0``, ``+30s``, ``+15m``, ``+1h``, ``+1h30m``, ``+2d``: a tick's distance from the
    start."""
    total = int(round(seconds))
    if total == 0:
        return "+0"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"+{days}d" + (f"{hours}h" if hours else "")
    if hours:
        return f"+{hours}h" + (f"{minutes:02d}m" if minutes else "")
    seconds = rest % 60
    if seconds:
        return f"+{minutes}m{seconds:02d}s" if minutes else f"+{seconds}s"
    return f"+{minutes}m"


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _shape(shape: str, x: float, y: float, colour: str) -> str:
    fill = f'fill="{colour}" stroke="#ffffff" stroke-width="1.5"'
    if shape == "square":
        return f'<rect x="{_num(x - 6)}" y="{_num(y - 6)}" width="12" height="12" {fill}/>'
    if shape == "diamond":
        points = f"{_num(x)},{_num(y - 8)} {_num(x + 8)},{_num(y)} {_num(x)},{_num(y + 8)} {_num(x - 8)},{_num(y)}"
        return f'<polygon points="{points}" {fill}/>'
    if shape == "triangle":
        points = f"{_num(x)},{_num(y - 8)} {_num(x + 8)},{_num(y + 6)} {_num(x - 8)},{_num(y + 6)}"
        return f'<polygon points="{points}" {fill}/>'
    return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="7" {fill}/>'


def describe(incident: Incident, found: Sequence[Mark], now: datetime) -> str:
    """The picture in one sentence, for its ``<desc>``."""
    from irdrive.incidents.stats import measure

    m = measure(incident, now)
    counts = {kind: sum(1 for x in found if x.kind == kind) for kind in ("change", "verify")}
    parts = [f"{incident.severity} incident {incident.id}"]
    if m.detect_s is not None:
        parts.append(f"detected {fmt_duration(m.detect_s)} after the impact began")
    if m.acknowledge_s is not None:
        parts.append(
            f"acknowledged {fmt_duration(m.acknowledge_s)} after detection "
            f"(respond target {fmt_duration(m.respond_target_s)}: {m.respond})"
        )
    else:
        parts.append(f"not acknowledged yet (respond target {fmt_duration(m.respond_target_s)})")
    if m.resolve_s is not None:
        parts.append(
            f"resolved {fmt_duration(m.resolve_s)} after the start "
            f"(resolve target {fmt_duration(m.resolve_target_s)}: {m.resolve})"
        )
    else:
        parts.append(
            f"not resolved yet (resolve target {fmt_duration(m.resolve_target_s)}: {m.resolve})"
        )
    parts.append(f"{counts['change']} changes and {counts['verify']} verifications")
    failed = sum(1 for x in found if x.kind == "run.failed")
    if failed:
        parts.append(f"{failed} failed runs")
    return "; ".join(parts) + "."


def timeline_svg(incident: Incident, entries: Sequence[TimelineEntry], now: datetime) -> str:
    """The SVG document (a string) of ``incident``'s timeline, as of ``now``."""
    found = marks(incident, entries)
    start_times = [t for t in (incident.started_at, incident.detected_at) if t is not None]
    start_times += [m.at for m in found]
    t0 = min(start_times) if start_times else now
    end = incident.resolved_at or now
    t1 = max([end, *(m.at for m in found)])
    span = max(60.0, (t1 - t0).total_seconds())
    plot_w = WIDTH - LEFT - RIGHT
    lanes = list(LANES)
    height = TOP + LANE_H * len(lanes) + AXIS_H + 38
    bottom = TOP + LANE_H * len(lanes)

    def x_of(when: datetime) -> float:
        return LEFT + plot_w * (when - t0).total_seconds() / span

    title = f"Timeline of {incident.id} ({incident.severity}): {incident.title}"
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="pm-title pm-desc" '
        'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">',
        f'<title id="pm-title">{escape(title)}</title>',
        f'<desc id="pm-desc">{escape(describe(incident, found, now))}</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold" fill="#1a1a1a">'
        f"{escape(_short(title, 110))}</text>",
    ]
    # Lanes.
    for i, lane in enumerate(lanes):
        y = TOP + i * LANE_H
        shade = "#f6f7f9" if i % 2 == 0 else "#ffffff"
        out.append(
            f'<rect class="lane" data-lane="{lane}" x="0" y="{y}" width="{WIDTH}" '
            f'height="{LANE_H}" fill="{shade}"/>'
        )
        out.append(
            f'<text x="8" y="{y + 20}" font-weight="bold" fill="#333333">{escape(LANES[lane][0])}</text>'
        )
    # Targets: the respond window from detection, the resolve target from the start.
    targets = []
    if incident.detected_at is not None:
        targets.append(("respond", incident.detected_at, incident.respond_target_s))
    if incident.started_at is not None:
        targets.append(("resolve", incident.started_at, incident.resolve_target_s))
    beyond = 0
    for name, origin, seconds in targets:
        at = origin + timedelta(seconds=seconds)
        label = f"{name} target {fmt_duration(seconds)}"
        if at <= t0 + timedelta(seconds=span):
            x = x_of(at)
            if name == "respond":
                x_from = x_of(origin)
                out.append(
                    f'<rect class="target-band" data-target="respond" x="{_num(x_from)}" '
                    f'y="{TOP}" width="{_num(max(0.0, x - x_from))}" '
                    f'height="{LANE_H * len(lanes)}" fill="#f2c94c" fill-opacity="0.15"/>'
                )
            else:
                out.append(
                    f'<rect class="breach-zone" x="{_num(x)}" y="{TOP}" '
                    f'width="{_num(WIDTH - RIGHT - x)}" height="{LANE_H * len(lanes)}" '
                    'fill="#b3261e" fill-opacity="0.07"/>'
                )
            ly = 34 if name == "respond" else 48
            anchor = "end" if x > WIDTH - RIGHT - 150 else "start"
            dx = -4 if anchor == "end" else 4
            out.append(
                f'<g class="target" data-target="{name}" data-at="{at.astimezone(UTC).isoformat()}">'
                f"<title>{escape(label)} (at {_offset((at - t0).total_seconds())})</title>"
                f'<line x1="{_num(x)}" y1="{ly - 10}" x2="{_num(x)}" y2="{bottom}" '
                'stroke="#7a5c00" stroke-width="1.5" stroke-dasharray="6 4"/>'
                f'<text x="{_num(x + dx)}" y="{ly}" text-anchor="{anchor}" fill="#5c4500">'
                f"{escape(label)}</text></g>"
            )
        else:
            beyond += 1
            ahead = fmt_duration((at - t0).total_seconds() - span)
            out.append(
                f'<g class="target" data-target="{name}" data-at="{at.astimezone(UTC).isoformat()}" '
                'data-beyond="true">'
                f"<title>{escape(label)}: {ahead} after the end of this axis</title>"
                f'<text x="{WIDTH - 8}" y="{bottom + 22 + 14 * beyond}" text-anchor="end" '
                f'fill="#5c4500">{escape(label)} → {ahead} beyond</text></g>'
            )
    # Marks, lane by lane; a label that would run into the one before it takes the second line,
    # and is left to the tooltip when both are taken.
    label_end: dict[tuple[str, int], float] = {}
    for mark in found:
        lane_i = lanes.index(mark.lane)
        y = TOP + lane_i * LANE_H + 18
        x = x_of(mark.at)
        name, colour, shape = LANES[mark.lane]
        if mark.failed:
            colour = FAILED_COLOUR
        text = _short(mark.label)
        width = CHAR_W * len(text)
        anchor_end = x + 8 + width > WIDTH - 4
        left = x - 8 - width if anchor_end else x
        right = x if anchor_end else x + 8 + width
        line = next(
            (n for n in (0, 1) if label_end.get((mark.lane, n), -1.0) + 4 <= left),
            None,
        )
        seq = f' data-seq="{mark.seq}"' if mark.seq else ""
        failed = ' data-failed="true"' if mark.failed else ""
        tooltip = (
            f"{_offset((mark.at - t0).total_seconds())} {mark.at.astimezone(UTC):%H:%M:%S} UTC: "
        )
        tooltip += mark.detail or mark.label
        parts = [
            f'<g class="mark" data-kind="{mark.kind}" data-lane="{mark.lane}"{seq}{failed} '
            f'data-at="{mark.at.astimezone(UTC).isoformat()}">',
            f"<title>{escape(tooltip)}</title>",
            _shape(shape, x, y, colour),
        ]
        if line is not None:
            label_end[(mark.lane, line)] = right
            ty = y + 20 + 13 * line
            if anchor_end:
                parts.append(
                    f'<text x="{_num(x)}" y="{ty}" text-anchor="end" fill="#1a1a1a" '
                    f'font-size="11">{escape(text)}</text>'
                )
            else:
                parts.append(
                    f'<text x="{_num(x - 6)}" y="{ty}" fill="#1a1a1a" font-size="11">'
                    f"{escape(text)}</text>"
                )
        parts.append("</g>")
        out.append("".join(parts))
    # The axis: ticks at a round step, offsets from the start, the start's time in UTC.
    step = next((s for s in TICK_STEPS if span / s <= MAX_TICKS), TICK_STEPS[-1])
    out.append(
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#333333"/>'
    )
    tick = 0
    while tick <= span + 0.001:
        x = LEFT + plot_w * tick / span
        out.append(
            f'<g class="tick"><line x1="{_num(x)}" y1="{bottom}" x2="{_num(x)}" y2="{bottom + 5}" '
            f'stroke="#333333"/><text x="{_num(x)}" y="{bottom + 18}" text-anchor="middle" '
            f'fill="#333333">{_offset(tick)}</text></g>'
        )
        tick += step
    caption = f"time since {t0.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    caption += " (open: drawn up to now)" if incident.resolved_at is None else ""
    out.append(f'<text x="{LEFT}" y="{bottom + 36}" fill="#333333">{escape(caption)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
