"""What lives on the lab's hosts: seeded access logs, storage, nginx config, and host faults.

Access logs are in nginx's combined format and cover the 24 hours before seeding: mostly 200s
from varied client addresses (10.0.0.0/8, 100.64.0.0/10 and 192.0.2.0/24), some 304/301 and
a few 404s. The intrusion fault's addresses come from 203.0.113.0/24 and 198.51.100.0/24,
which seeded traffic never uses. They are text in a log file, never contacted.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irdrive_lab.control.config import host_kind
from irdrive_lab.control.errors import LabError

VIDEO_TMPFS_BYTES = 64 * 1024 * 1024
SPARSE_TMP_BYTES = 512 * 1024 * 1024  # apparent size of one *.tmp file on a plain folder
FILL_TARGET = 0.97  # disk-full leaves the tmpfs this full
OLD_AGE_S = 2 * 3600
SEED_LINES = {"web": 2400, "db": 288, "streaming": 1200}
VIDEOS = ("intro", "launch-keynote", "tutorial-01", "tutorial-02", "trailer-s02", "test")
INTRUSION_IPS = ("203.0.113.45", "203.0.113.99", "198.51.100.23")
INTRUSION_NETS = (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("198.51.100.0/24"))

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "okhttp/4.12.0",
)
ATTACK_REQUESTS = (
    ("POST", "/api/v1/session", 401),
    ("POST", "/login", 401),
    ("GET", "/admin", 403),
    ("GET", "/api/v1/admin/users", 403),
    ("GET", "/.env", 403),
    ("POST", "/api/v1/payments/refund", 401),
)
ATTACK_AGENTS = ("python-requests/2.31.0", "curl/8.5.0", "sqlmap/1.8#stable (https://sqlmap.org)")


# ---- access logs ------------------------------------------------------------------------
def _client_ips(rng: random.Random, n: int) -> list[str]:
    nets = ("10.{}.{}.{}", "100.{}.{}.{}", "192.0.2.{2}")
    out = []
    for _ in range(n):
        pattern = rng.choice(nets)
        first = rng.randint(64, 127) if pattern.startswith("100.") else rng.randint(0, 255)
        out.append(pattern.format(first, rng.randint(0, 255), rng.randint(1, 254)))
    return out


def _request(host: str, rng: random.Random) -> tuple[str, str, int]:
    vid = rng.choice(VIDEOS)
    if host == "db":
        return "GET", rng.choice(("/healthz", "/metrics")), 200
    if host == "streaming":
        path = rng.choice(
            (f"/hls/{vid}/index.m3u8", f"/hls/{vid}/seg-{rng.randint(1, 240):05d}.ts",
             f"/thumbs/{vid}.jpg", f"/videos/{vid}.mp4")
        )  # fmt: skip
        return "GET", path, 200 if rng.random() > 0.01 else 404
    roll = rng.random()
    if roll < 0.03:
        return (
            "GET",
            rng.choice(("/favicon.png", "/old-page", f"/videos/{vid}-old", "/robots")),
            404,
        )
    if roll < 0.08:
        return "GET", rng.choice(("/static/js/app.3f9c1e.js", "/static/css/main.8a1b2c.css")), 304
    if roll < 0.10:
        return "GET", "/home", 301
    if roll < 0.16:
        return "POST", rng.choice(("/api/v1/session", "/api/v1/payments/checkout")), 200
    path = rng.choice(("/", "/browse", f"/videos/{vid}", "/api/v1/feed", f"/api/v1/videos/{vid}",
                       "/static/js/app.3f9c1e.js", "/account"))  # fmt: skip
    return "GET", path, 200


def log_line(ip: str, ts: float, method: str, path: str, status: int, size: int, ua: str) -> str:
    when = datetime.fromtimestamp(ts, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    ref = "-" if method != "GET" or status != 200 else "https://platform.com/"
    return f'{ip} - - [{when}] "{method} {path} HTTP/1.1" {status} {size} "{ref}" "{ua}"'


def seeded_access_log(host: str, now: float | None = None) -> str:
    """The seeded access log of ``host``: the same requests every time, ending at ``now``.

    web-2 .. web-N get a web host's log, each with its own (seeded) clients and times.
    """
    now = time.time() if now is None else now
    kind = host_kind(host)
    rng = random.Random(f"irdrive-lab-{host}")
    n = SEED_LINES[kind]
    ips = ["10.20.0.15"] if kind == "db" else _client_ips(rng, 150)
    times = sorted(now - rng.uniform(0, 86400) for _ in range(n))
    lines = []
    for ts in times:
        method, path, status = _request(kind, rng)
        size = {200: rng.randint(300, 90000), 304: 0, 301: 162, 404: 153}.get(status, 0)
        ua = "Prometheus/2.51.0" if kind == "db" else rng.choice(USER_AGENTS)
        lines.append(log_line(rng.choice(ips), ts, method, path, status, size, ua))
    return "\n".join(lines) + "\n"


# ---- storage and config -----------------------------------------------------------------
def video_storage_fs(path: Path, source: str) -> dict[str, Any]:
    """Mount a small tmpfs on the video storage when allowed; describe what backs it."""
    if not os.path.ismount(path):
        res = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={VIDEO_TMPFS_BYTES},mode=0755",
                source,
                str(path),
            ],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            return {"type": "directory", "note": f"tmpfs not mounted: {res.stderr.strip()}"}
    return {"type": "tmpfs", "size_bytes": VIDEO_TMPFS_BYTES}


def _seed_storage(host: str, storage: Path) -> None:
    storage.mkdir(parents=True, exist_ok=True)
    for child in storage.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    rng = random.Random(f"irdrive-lab-storage-{host}")
    kind = host_kind(host)
    if kind == "streaming":
        for name in VIDEOS:
            header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
            (storage / f"{name}.mp4").write_bytes(header + rng.randbytes(rng.randint(2048, 8192)))
    elif kind == "web":
        for i in range(3):
            (storage / f"avatar-{i:03d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(512))
    else:
        (storage / "README").write_text(
            "The db host's PostgreSQL data directory is recorded in lab.json (postgres).\n"
        )


def reseed_host(host: str, paths: dict[str, str]) -> None:
    """Write the seeded access log and storage of ``host``, empty its nginx conf.d, and drop the
    runs' lock files (a reset frees every lock, as it drops the cluster's Leases)."""
    if paths.get("locks"):
        shutil.rmtree(paths["locks"], ignore_errors=True)
    access = Path(paths["access_log"])
    access.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(access, seeded_access_log(host))
    Path(paths["error_log"]).write_text("")
    conf_d = Path(paths["nginx_conf_dir"])
    conf_d.mkdir(parents=True, exist_ok=True)
    for child in conf_d.iterdir():
        child.unlink()
    _seed_storage(host, Path(paths["storage"]))


def write_nginx_conf(root: Path, paths: dict[str, str]) -> None:
    """A minimal nginx.conf that includes conf.d, so ``nginx -t -c`` can check deny rules."""
    (root / "run").mkdir(exist_ok=True)
    Path(paths["nginx_conf"]).write_text(
        f"pid {root}/run/nginx.pid;\n"
        f"error_log {paths['error_log']};\n"
        "events {}\n"
        "http {\n"
        f"    access_log {paths['access_log']} combined;\n"
        f"    include {paths['nginx_conf_dir']}/*.conf;\n"
        "    server {\n"
        "        listen 127.0.0.1:8080;\n"
        "        location / { return 200 'ok'; }\n"
        "    }\n"
        "}\n"
    )


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".seed")
    tmp.write_text(text)
    tmp.replace(path)


# ---- faults -----------------------------------------------------------------------------
def fill_disk(storage: Path, count: int = 200) -> dict[str, Any]:
    """Write ``count`` ``*.tmp`` files into ``storage``; two in three older than two hours.

    On a tmpfs the files hold real pages and fill it to 97% (``df`` shows it); on a plain
    folder they are sparse, 512 MiB apparent size each, a few KB on disk.
    """
    if count < 1:
        raise LabError("disk-full needs a file count of at least 1")
    if not storage.is_dir():
        raise LabError(f"video storage {storage} does not exist; is the lab up?")
    on_tmpfs = os.path.ismount(storage)
    per_file = SPARSE_TMP_BYTES
    if on_tmpfs:
        st = os.statvfs(storage)
        total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        need = int(total * FILL_TARGET) - (total - free)
        per_file = max(need // count // 4096 * 4096, 4096)
    rng = random.Random(f"disk-full-{count}")
    now = time.time()
    old = fresh = 0
    for i in range(count):
        path = storage / f"transcode-{i:04d}.mp4.tmp"
        try:
            with open(path, "wb") as fh:
                if on_tmpfs:
                    os.posix_fallocate(fh.fileno(), 0, per_file)
                else:
                    fh.truncate(per_file)
        except OSError as exc:  # full before the last file: that is the point
            path.unlink(missing_ok=True)
            if exc.errno != 28:
                raise LabError(f"disk-full: cannot write {path}: {exc.strerror}") from exc
            break
        if i % 3:
            age = OLD_AGE_S + rng.uniform(600, 46 * 3600)
            old += 1
        else:
            age = rng.uniform(0, 1800)
            fresh += 1
        os.utime(path, (now - age, now - age))
    return {
        "path": str(storage),
        "files": old + fresh,
        "older_than_2h": old,
        "fresh": fresh,
        "apparent_bytes": (old + fresh) * per_file,
        "backing": "tmpfs" if on_tmpfs else "sparse files",
        "used_percent": used_percent(storage),
    }


def clear_disk_full(storage: Path) -> dict[str, Any]:
    removed = 0
    for path in storage.rglob("*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return {"path": str(storage), "removed": removed, "used_percent": used_percent(storage)}


def used_percent(path: Path) -> float:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return round(100.0 * (total - st.f_bavail * st.f_frsize) / total, 1) if total else 0.0


def _checked_ips(ips: list[str] | tuple[str, ...] | None) -> list[str]:
    out = []
    for ip in ips or INTRUSION_IPS:
        try:
            out.append(str(ipaddress.ip_address(ip)))
        except ValueError as exc:
            raise LabError(f"intrusion: {ip!r} is not an IP address") from exc
    return out


def write_intrusion(
    access_log: Path, ips: list[str] | None = None, per_ip: int = 60
) -> dict[str, Any]:
    """Append bursts of 401/403 (from ``ips``) spread over the last ten minutes."""
    chosen = _checked_ips(ips)
    if not access_log.exists():
        raise LabError(f"access log {access_log} does not exist; is the lab up?")
    rng = random.Random("intrusion")
    now = time.time()
    events = []
    for ip in chosen:
        agent = rng.choice(ATTACK_AGENTS)
        for _ in range(per_ip):
            method, path, status = rng.choice(ATTACK_REQUESTS)
            events.append((now - rng.uniform(0, 600), ip, method, path, status, agent))
    events.sort()
    text = "".join(
        log_line(ip, ts, method, path, status, rng.randint(140, 220), agent) + "\n"
        for ts, ip, method, path, status, agent in events
    )
    with access_log.open("a") as fh:
        fh.write(text)
    return {"access_log": str(access_log), "ips": chosen, "lines": len(events)}


def clear_intrusion(access_log: Path, ips: list[str] | None = None) -> dict[str, Any]:
    """Drop the lines of ``ips`` (default: any address in the fault's documentation ranges)."""
    wanted = set(_checked_ips(ips)) if ips else None

    def suspicious(line: str) -> bool:
        first = line.split(" ", 1)[0]
        if wanted is not None:
            return first in wanted
        try:
            addr = ipaddress.ip_address(first)
        except ValueError:
            return False
        return any(addr in net for net in INTRUSION_NETS)

    try:
        lines = access_log.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return {"access_log": str(access_log), "removed": 0}
    kept = [line for line in lines if not suspicious(line)]
    _atomic_write(access_log, "".join(kept))
    return {"access_log": str(access_log), "removed": len(lines) - len(kept)}
