# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""PostgreSQL password verifiers computed on the client, and password generation.

``ALTER ROLE r PASSWORD 'SCRAM-SHA-256$...'`` stores a verifier the server cannot tell from one
it made itself, so the cleartext password never reaches the server, its statement log or
``pg_stat_statements`` (RFC 5802/7677, as libpq's ``PQencryptPasswordConn`` computes it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16
#: Characters of generated passwords: safe in a DSN, a shell and a JSON string alike.
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_"


def scram_sha256_verifier(
    password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """The ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` verifier of ``password``.

    Passwords are used as UTF-8 without SASLprep, which is the identity for the ASCII
    passwords ``generate_password`` makes.
    """
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = salt if salt is not None else secrets.token_bytes(SCRAM_SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def generate_password(length: int = 40, alphabet: str = PASSWORD_ALPHABET) -> str:
    """A random password from the OS's CSPRNG."""
    if length < 16:
        raise ValueError("generated secrets must be at least 16 characters long")
    return "".join(secrets.choice(alphabet) for _ in range(length))
