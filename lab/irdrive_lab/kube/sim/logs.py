"""Synthetic container logs: deterministic lines from the pod's name and its uptime.

A running container writes a short start-up banner and then one line a second, shaped like
its app's real output (nginx access log, Spring Boot, JSON, logfmt, CoreDNS). Faults show in
time: ``ERROR processor <name> timeout`` lines from payment-service while that processor is
down, slow-request warnings under resource pressure. A crash-looping container's logs are its
last run: a banner and a stack trace.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from irdrive_lab.kube.errors import BadRequest
from irdrive_lab.kube.sim.timeline import Timeline
from irdrive_lab.kube.sim.util import ENV_ANNOTATION, fnv32a, parse_time, rfc3339_nano

MAX_LINES = 5000
PATHS = ("/api/v1/videos/{n}", "/api/v1/feed", "/api/v1/users/{n}", "/watch/{n}", "/api/v1/search")


@dataclass
class LogContext:
    pod: str
    app: str
    ip: str
    env: dict[str, Any]
    timeline: Timeline


def _clock(ts: float, fmt: str) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime(fmt)


def _nginx(rng: random.Random, ts: float, ctx: LogContext) -> str:
    slow = ctx.timeline.active("pressure", ts)
    path = rng.choice(PATHS).format(n=rng.randint(100, 99999))
    status = rng.choices((200, 200, 200, 304, 404, 502), (60, 20, 10, 5, 3, 1))[0]
    if slow and rng.random() < 0.3:
        status = 504
    rt = rng.uniform(1.5, 6.0) if slow else rng.uniform(0.002, 0.12)
    client = f"203.0.113.{rng.randint(2, 250)}"
    return (
        f'{client} - - [{_clock(ts, "%d/%b/%Y:%H:%M:%S +0000")}] "GET {path} HTTP/1.1" {status} '
        f'{rng.randint(200, 48000)} "-" "Mozilla/5.0 (X11; Linux x86_64)" rt={rt:.3f}'
    )


def _backend(rng: random.Random, ts: float, ctx: LogContext) -> str:
    stamp = _clock(ts, "%Y-%m-%d %H:%M:%S") + f".{int(ts * 1000) % 1000:03d}"
    thread = f"[nio-8080-exec-{rng.randint(1, 10)}]"
    path = rng.choice(PATHS).format(n=rng.randint(100, 99999))
    if ctx.timeline.active("pressure", ts) and rng.random() < 0.5:
        return (
            f"{stamp}  WARN 1 --- {thread} c.p.api.RequestTimer : slow request GET {path} "
            f"took {rng.randint(1800, 6000)}ms"
        )
    if rng.random() < 0.04:
        cause = rng.choice(
            (
                "upstream timeout from payment-service",
                "could not acquire JDBC connection within 3000ms",
                "video metadata not found",
            )
        )
        return f"{stamp} ERROR 1 --- {thread} c.p.api.ErrorHandler : request failed: {cause}"
    return (
        f"{stamp}  INFO 1 --- {thread} c.p.api.VideoController : GET {path} 200 "
        f"{rng.randint(3, 90)}ms"
    )


def _payment(rng: random.Random, ts: float, ctx: LogContext) -> str:
    stamp = _clock(ts, "%Y-%m-%dT%H:%M:%S") + f".{int(ts * 1000) % 1000:03d}Z"
    processor = str(ctx.env.get("PRIMARY_PROCESSOR") or "ccbill")
    timeout = ctx.env.get("PROCESSOR_TIMEOUT_MS") or "3000"
    txn = f"txn_{rng.getrandbits(40):010x}"
    if ctx.timeline.active(f"processor:{processor}", ts):
        return (
            f"{stamp} ERROR processor {processor} timeout after {timeout}ms {txn} "
            f"attempt={rng.randint(1, 2)}"
        )
    if ctx.timeline.active("pressure", ts) and rng.random() < 0.5:
        return f"{stamp} WARN  slow request POST /charge duration_ms={rng.randint(1500, 5000)}"
    amount = rng.choice(("9.99", "19.99", "29.99", "4.99", "49.99"))
    return (
        f"{stamp} INFO  charge approved processor={processor} {txn} amount={amount} "
        f"currency={ctx.env.get('DEFAULT_CURRENCY') or 'USD'} latency_ms={rng.randint(90, 420)}"
    )


def _frontend(rng: random.Random, ts: float, ctx: LogContext) -> str:
    path = rng.choice(("/", "/watch/{n}", "/browse", "/account", "/upload")).format(
        n=rng.randint(100, 99999)
    )
    slow = ctx.timeline.active("pressure", ts)
    entry = {
        "level": "warn" if slow else "info",
        "time": _clock(ts, "%Y-%m-%dT%H:%M:%S") + f".{int(ts * 1000) % 1000:03d}Z",
        "msg": f"GET {path} 200" + (" slow render" if slow else ""),
        "duration_ms": rng.randint(900, 4000) if slow else rng.randint(4, 60),
    }
    return json.dumps(entry)


def _streaming(rng: random.Random, ts: float, ctx: LogContext) -> str:
    stamp = _clock(ts, "%Y-%m-%dT%H:%M:%SZ")
    level = "warning" if ctx.timeline.active("pressure", ts) else "info"
    msg = "segment served slowly" if level == "warning" else "segment served"
    return (
        f'time="{stamp}" level={level} msg="{msg}" session=s{rng.getrandbits(32):08x} '
        f"bitrate={rng.choice(('800k', '2500k', '5000k'))} segment={rng.randint(1, 900)}"
    )


def _video(rng: random.Random, ts: float, ctx: LogContext) -> str:
    stamp = _clock(ts, "%Y/%m/%d %H:%M:%S")
    job = f"job_{rng.getrandbits(24):06x}"
    return (
        f"{stamp} [worker-{rng.randint(1, 4)}] transcode {job} preset="
        f"{rng.choice(('360p', '720p', '1080p'))} progress={rng.randint(0, 100)}%"
    )


def _coredns(rng: random.Random, ts: float, ctx: LogContext) -> str:
    name = rng.choice(("backend", "payment-service", "streaming-service", "frontend"))
    return (
        f"[INFO] 10.244.{rng.randint(1, 2)}.{rng.randint(2, 40)}:{rng.randint(30000, 60000)} "
        f'- {rng.randint(1, 65535)} "A IN {name}.platform.svc.cluster.local. udp 64 false 512" '
        f"NOERROR qr,aa,rd 118 0.000{rng.randint(100, 999)}s"
    )


def _generic(rng: random.Random, ts: float, ctx: LogContext) -> str:
    return f'level=info msg="heartbeat" pod={ctx.pod} requests={rng.randint(0, 50)}'


LINE: dict[str, Callable[[random.Random, float, LogContext], str]] = {
    "nginx": _nginx,
    "backend": _backend,
    "payment-service": _payment,
    "frontend": _frontend,
    "streaming-service": _streaming,
    "video-processor": _video,
    "coredns": _coredns,
}

BANNER: dict[str, list[str]] = {
    "nginx": [
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
        'nginx: [notice] using the "epoll" event method',
        "nginx: [notice] start worker processes",
    ],
    "backend": [
        "Starting PlatformApiApplication using Java 21.0.5 with PID 1",
        "Tomcat initialized with port 8080 (http)",
        "HikariPool-1 - Start completed.",
        "Started PlatformApiApplication in 4.113 seconds",
    ],
    "payment-service": [
        "INFO  payment-service starting",
        "INFO  primary processor={PRIMARY_PROCESSOR} backup processor={BACKUP_PROCESSOR}",
        "INFO  listening on :8081",
    ],
    "coredns": [
        ".:53",
        "[INFO] plugin/reload: Running configuration SHA512 = 591cf328",
        "CoreDNS-1.11.3",
    ],
}

CRASH: dict[str, list[str]] = {
    "backend": [
        "Application run failed",
        "java.lang.IllegalStateException: Failed to load ApplicationContext",
        "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:335)",
        "\tat com.platform.api.PlatformApiApplication.main(PlatformApiApplication.java:12)",
        "Caused by: java.lang.NoSuchFieldError: VIDEO_CACHE_TTL",
    ],
}
DEFAULT_CRASH = [
    "Traceback (most recent call last):",
    '  File "/app/server.py", line 88, in <module>',
    "    main()",
    '  File "/app/server.py", line 61, in main',
    "    config = load_config(os.environ)",
    '  File "/app/config.py", line 27, in load_config',
    '    raise KeyError(f"required setting {name} is missing")',
    "KeyError: 'required setting FEATURE_FLAGS_URL is missing'",
]


def app_of(pod: dict[str, Any], container: str) -> str:
    labels = pod["metadata"].get("labels") or {}
    for candidate in (container, labels.get("app"), labels.get("k8s-app")):
        if candidate in LINE:
            return candidate
    if labels.get("k8s-app") == "kube-dns":
        return "coredns"
    return container


def _env(pod: dict[str, Any]) -> dict[str, Any]:
    try:
        env = json.loads((pod["metadata"].get("annotations") or {}).get(ENV_ANNOTATION, "{}"))
    except ValueError:
        return {}
    return env if isinstance(env, dict) else {}


def _select_container(pod: dict[str, Any], container: str | None) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    containers = pod["spec"].get("containers") or []
    names = [c["name"] for c in containers]
    if not container:
        default = (pod["metadata"].get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container"
        )
        if default in names:
            container = default
        elif len(names) == 1:
            container = names[0]
        else:
            raise BadRequest(
                f"a container name must be specified for pod {name}, "
                f"choose one of: [{' '.join(names)}]"
            )
    statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    if container not in names:
        raise BadRequest(f"container {container} is not valid for pod {name}")
    return statuses.get(container) or {"name": container, "state": {"waiting": {}}}


def pod_logs(
    pod: dict[str, Any],
    container: str | None,
    tail_lines: int | None,
    since_seconds: int | None,
    timestamps: bool,
    previous: bool,
    timeline: Timeline,
    now: float | None = None,
) -> str:
    now = time.time() if now is None else now
    name = pod["metadata"]["name"]
    cstatus = _select_container(pod, container)
    cname = cstatus["name"]
    app = app_of(pod, cname)
    ctx = LogContext(name, app, (pod.get("status") or {}).get("podIP", ""), _env(pod), timeline)
    terminated = (cstatus.get("lastState") or {}).get("terminated")
    running = (cstatus.get("state") or {}).get("running")
    if previous:
        if not terminated:
            raise BadRequest(f'previous terminated container "{cname}" in pod "{name}" not found')
        lines = _crash_lines(pod, cname, app, terminated, ctx)
    elif running:
        start = parse_time(running.get("startedAt")) or now
        lines = _running_lines(pod, cname, app, start, now, ctx, since_seconds, tail_lines)
    elif terminated:
        lines = _crash_lines(pod, cname, app, terminated, ctx)
    else:
        reason = (cstatus.get("state", {}).get("waiting") or {}).get("reason") or "PodInitializing"
        raise BadRequest(f'container "{cname}" in pod "{name}" is waiting to start: {reason}')
    if since_seconds is not None:
        lines = [(ts, text) for ts, text in lines if ts >= now - since_seconds]
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    out = []
    for ts, text in lines:
        out.append(f"{rfc3339_nano(ts)} {text}" if timestamps else text)
    return "".join(line + "\n" for line in out)


def _seeded(pod: dict[str, Any], cname: str, k: int) -> random.Random:
    return random.Random(fnv32a(f"{pod['metadata']['name']}/{cname}/{k}".encode()))


def _banner(app: str, env: dict[str, Any]) -> list[str]:
    lines = BANNER.get(app, [f"starting {app}", "listening on :8080"])
    fields = {k: (v if v is not None else "") for k, v in env.items()}
    fields.setdefault("PRIMARY_PROCESSOR", "")
    fields.setdefault("BACKUP_PROCESSOR", "")
    return [line.format(**fields) if "{" in line else line for line in lines]


def _running_lines(
    pod: dict[str, Any],
    cname: str,
    app: str,
    start: float,
    now: float,
    ctx: LogContext,
    since_seconds: int | None,
    tail_lines: int | None,
) -> list[tuple[float, str]]:
    last = int(now - start)
    first = max(1, last - MAX_LINES)
    if since_seconds is not None:
        first = max(first, int(now - since_seconds - start))
    if tail_lines is not None:
        first = max(first, last - tail_lines)
    lines: list[tuple[float, str]] = []
    if first <= 1:
        for i, text in enumerate(_banner(app, ctx.env)):
            lines.append((start + 0.01 * (i + 1), text))
    make = LINE.get(app, _generic)
    for k in range(max(first, 1), last + 1):
        rng = _seeded(pod, cname, k)
        ts = start + k + rng.random() * 0.9
        if ts > now:
            break
        lines.append((ts, make(rng, ts, ctx)))
    return lines


def _crash_lines(
    pod: dict[str, Any], cname: str, app: str, terminated: dict[str, Any], ctx: LogContext
) -> list[tuple[float, str]]:
    started = parse_time(terminated.get("startedAt")) or time.time()
    banner = _banner(app, ctx.env)[:2]
    crash = CRASH.get(app, DEFAULT_CRASH)
    return [(started + 0.05 * i, text) for i, text in enumerate(banner + crash)]
