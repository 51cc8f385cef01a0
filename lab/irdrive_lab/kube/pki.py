"""The lab cluster's credentials: a CA, a server certificate for 127.0.0.1, a bearer token,
and the kubeconfig that ties them together for kubectl, the Python client and Ansible.

Files live in ``cfg.pki_dir`` and are reused across restarts of the lab, so a kubeconfig
handed out once keeps working; ``ensure_pki`` creates only what is missing.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from irdrive_lab.control.config import LabConfig

CLUSTER_NAME = "irdrive-lab"
USER_NAME = "irdrive-lab-admin"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    token_file: Path

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    is_ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650 if is_ca else 825))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                critical=True,
            )
        )
        assert issuer_cert is not None
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def ensure_pki(cfg: LabConfig) -> Pki:
    """Create the CA, the server certificate and the token if they do not exist yet."""
    d = cfg.pki_dir
    d.mkdir(parents=True, exist_ok=True)
    pki = Pki(d / "ca.crt", d / "apiserver.crt", d / "apiserver.key", d / "token")
    ca_key_path = d / "ca.key"
    if not (pki.ca_cert.exists() and ca_key_path.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _issue("irdrive-lab-ca", ca_key, None, ca_key, is_ca=True)
        _write_private(ca_key_path, _key_pem(ca_key))
        pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        pki.server_cert.unlink(missing_ok=True)
    if not (pki.server_cert.exists() and pki.server_key.exists()):
        loaded_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        assert isinstance(loaded_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("kube-apiserver", key, ca_cert, loaded_key, is_ca=False)
        _write_private(pki.server_key, _key_pem(key))
        pki.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if not pki.token_file.exists():
        _write_private(pki.token_file, secrets.token_urlsafe(32).encode())
    return pki


def kubeconfig_dict(cfg: LabConfig, pki: Pki) -> dict[str, object]:
    ca_data = base64.b64encode(pki.ca_cert.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {
                    "server": f"https://127.0.0.1:{cfg.port('kubernetes')}",
                    "certificate-authority-data": ca_data,
                },
            }
        ],
        "users": [{"name": USER_NAME, "user": {"token": pki.token}}],
        "contexts": [
            {"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": USER_NAME}}
        ],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }


def write_kubeconfig(cfg: LabConfig, pki: Pki) -> Path:
    """Write ``cfg.kubeconfig`` (mode 0600: it holds the token) and return its path."""
    cfg.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig_dict(cfg, pki), sort_keys=False)
    _write_private(cfg.kubeconfig, text.encode())
    return cfg.kubeconfig
