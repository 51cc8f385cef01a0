# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# Matches POSTGRES_ARG_SPEC in plugins/module_utils/args_common.py.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server.
      - Can also be set with the E(PGHOST) environment variable.
      - When neither O(login_host) nor O(login_unix_socket) is set, libpq's default unix socket
        is used.
    type: str
  login_port:
    description:
      - Port of the PostgreSQL server (also the number of the unix socket file).
      - Can also be set with the E(PGPORT) environment variable.
    type: int
    default: 5432
  login_user:
    description:
      - User to connect as.
      - Can also be set with the E(PGUSER) environment variable.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user).
      - Can also be set with the E(PGPASSWORD) environment variable.
    type: str
  login_db:
    description:
      - Database to connect to.
      - Can also be set with the E(PGDATABASE) environment variable.
    type: str
    default: postgres
  login_unix_socket:
    description:
      - Directory holding the server's unix socket. Takes precedence over O(login_host).
    type: path
  ssl_mode:
    description:
      - libpq C(sslmode).
      - Can also be set with the E(PGSSLMODE) environment variable.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate used to verify the server (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for the connection to be made.
      - Can also be set with the E(PGCONNECT_TIMEOUT) environment variable.
    type: int
    default: 5
  statement_timeout:
    description:
      - C(statement_timeout) of the session, in milliseconds. Statements running longer are
        cancelled by the server.
    type: int
    default: 30000
  lock_timeout:
    description:
      - C(lock_timeout) of the session, in milliseconds. A statement waiting longer for a lock
        is cancelled instead of queueing behind it.
    type: int
    default: 5000
requirements:
  - psycopg2 (Python library, C(psycopg2-binary) will do)
"""
