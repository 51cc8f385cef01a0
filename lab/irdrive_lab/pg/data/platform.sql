-- The lab's `platform` database: schema and seed rows.
-- Run by irdrive_lab.pg.postgres as role platform_app (the owner) in database platform, after the
-- roles platform_app and irdrive exist. Deterministic: every value comes from the row number
-- or from random() after setseed(); only the timestamps move with now().

SELECT setseed(0.4242);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    username      text NOT NULL UNIQUE,
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'locked')),
    country       char(2) NOT NULL,
    is_creator    boolean NOT NULL DEFAULT false,
    mfa_enabled   boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    last_login_at timestamptz
);

CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    token_hash   text NOT NULL UNIQUE,
    user_id      bigint NOT NULL REFERENCES users (id),
    ip           inet NOT NULL,
    user_agent   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_active_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    amount_cents integer NOT NULL CHECK (amount_cents > 0),
    currency     char(3) NOT NULL,
    processor    text NOT NULL CHECK (processor IN ('ccbill', 'segpay')),
    status       text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    external_ref text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL
);
CREATE INDEX payments_created_at_idx ON payments (created_at);
CREATE INDEX payments_processor_status_idx ON payments (processor, status);

CREATE TABLE auth_logs (
    id         bigserial PRIMARY KEY,
    user_id    bigint REFERENCES users (id),
    ip         inet NOT NULL,
    event      text NOT NULL CHECK (event IN ('login_success', 'login_failed', 'mfa_failed')),
    user_agent text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_logs_created_at_idx ON auth_logs (created_at);
CREATE INDEX auth_logs_ip_idx ON auth_logs (ip);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    actor      text NOT NULL,
    action     text NOT NULL CHECK (action IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')),
    table_name text NOT NULL,
    row_id     bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);

-- 200 users, joined over the last year; every 40th suspended.
INSERT INTO users (email, username, status, country, is_creator, mfa_enabled, created_at,
                   last_login_at)
SELECT format('user%s@example.com', g),
       format('user%s', g),
       CASE WHEN g % 40 = 0 THEN 'suspended' ELSE 'active' END,
       (ARRAY['US', 'GB', 'DE', 'FR', 'BR', 'CA', 'NL', 'ES'])[1 + g % 8],
       g % 10 = 0,
       g % 3 = 0,
       now() - make_interval(days => 365 - g, hours => g % 24),
       now() - make_interval(mins => (random() * 2880)::int)
FROM generate_series(1, 200) AS g;

-- 300 sessions, none revoked; addresses from the documentation ranges.
INSERT INTO sessions (token_hash, user_id, ip, user_agent, created_at, last_seen_at)
SELECT encode(sha256(convert_to(format('lab-session-%s', g), 'UTF8')), 'hex'),
       1 + (g * 7) % 200,
       format('%s.%s', (ARRAY['192.0.2', '198.51.100', '203.0.113'])[1 + g % 3],
              1 + g % 250)::inet,
       (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15',
              'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148',
              'Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile'])[1 + g % 4],
       c.created_at,
       c.created_at + make_interval(mins => (random() * 240)::int)
FROM generate_series(1, 300) AS g,
     LATERAL (SELECT now() - make_interval(mins => (random() * 10080)::int) AS created_at) AS c;

-- 1000 payments over the last 3.5 days: mostly ccbill, a few failures and refunds.
INSERT INTO payments (user_id, amount_cents, currency, processor, status, external_ref,
                      created_at)
SELECT 1 + (g * 13) % 200,
       (ARRAY[499, 999, 1499, 1999, 2499, 4999, 9999])[1 + (random() * 6)::int],
       (ARRAY['USD', 'USD', 'USD', 'EUR', 'GBP'])[1 + g % 5],
       CASE WHEN g % 10 < 7 THEN 'ccbill' ELSE 'segpay' END,
       CASE WHEN g % 50 = 0 THEN 'refunded'
            WHEN g % 17 = 0 THEN 'failed'
            WHEN g <= 5 THEN 'pending'
            ELSE 'succeeded' END,
       format('%s-%s', CASE WHEN g % 10 < 7 THEN 'cc' ELSE 'sp' END, lpad(g::text, 8, '0')),
       now() - make_interval(mins => g * 5)
FROM generate_series(1, 1000) AS g;

-- 500 authentication events spread over the last 48 hours.
INSERT INTO auth_logs (user_id, ip, event, user_agent, created_at)
SELECT 1 + (g * 11) % 200,
       format('%s.%s', (ARRAY['192.0.2', '198.51.100', '203.0.113'])[1 + g % 3],
              1 + (g * 3) % 250)::inet,
       CASE WHEN g % 9 = 0 THEN 'login_failed'
            WHEN g % 23 = 0 THEN 'mfa_failed'
            ELSE 'login_success' END,
       (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15',
              'okhttp/4.12.0'])[1 + g % 3],
       now() - make_interval(secs => g * 345.6)
FROM generate_series(1, 500) AS g;

-- 500 audit entries over the last 48 hours.
INSERT INTO audit_log (actor, action, table_name, row_id, created_at)
SELECT (ARRAY['platform_app', 'svc-payments', 'admin@platform.com', 'support@platform.com'])
           [1 + g % 4],
       (ARRAY['SELECT', 'SELECT', 'UPDATE', 'INSERT', 'DELETE'])[1 + g % 5],
       (ARRAY['users', 'payments', 'sessions'])[1 + g % 3],
       1 + (g * 17) % 1000,
       now() - make_interval(secs => g * 345.6)
FROM generate_series(1, 500) AS g;

-- The runbooks' lock rows (irdrive.ops.pg_lock), created once by the database's owner, as a
-- production DBA would for a responder that may not create tables.
CREATE TABLE irdrive_locks (
    key text PRIMARY KEY,
    holder text NOT NULL DEFAULT '',
    duration_seconds integer NOT NULL,
    acquire_time timestamptz,
    renew_time timestamptz,
    transitions integer NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 1
);
GRANT SELECT, INSERT, UPDATE ON irdrive_locks TO irdrive;

-- The responder role: read everything, revoke sessions, lock users, write audit entries.
GRANT USAGE ON SCHEMA public TO irdrive;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO irdrive;
GRANT UPDATE (revoked_at) ON sessions TO irdrive;
GRANT UPDATE (status) ON users TO irdrive;
GRANT INSERT ON audit_log TO irdrive;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO irdrive;

ANALYZE;
