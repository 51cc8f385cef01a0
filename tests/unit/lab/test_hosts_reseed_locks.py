"""A lab reset frees the runs' host lock files, as it drops the cluster's Leases."""

from __future__ import annotations

import json
from pathlib import Path

from irdrive_lab.hosts import hostdata


def test_reseed_drops_the_hosts_lock_files_and_keeps_the_seeded_files(tmp_path: Path) -> None:
    root = tmp_path / "web"
    paths = {
        "access_log": str(root / "var/log/nginx/access.log"),
        "error_log": str(root / "var/log/nginx/error.log"),
        "nginx_conf_dir": str(root / "etc/nginx/conf.d"),
        "storage": str(root / "var/www/uploads"),
        "locks": str(root / "var/lib/irdrive/locks"),
    }
    locks = Path(paths["locks"])
    locks.mkdir(parents=True)
    (locks / "web.json").write_text(json.dumps({"holder": "a killed run", "duration": 600}))
    (locks / "web.json.flock").write_text("")
    hostdata.reseed_host("web", paths)
    assert not locks.exists()
    assert Path(paths["access_log"]).read_text()
    # A host record from before the lock folder existed reseeds as it did.
    hostdata.reseed_host("web", {k: v for k, v in paths.items() if k != "locks"})
