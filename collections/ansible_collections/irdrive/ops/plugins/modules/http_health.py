# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_health
short_description: Check an HTTP health endpoint, with retries and backoff
version_added: 0.1.0
description:
  - Sends a C(GET) or C(HEAD) request and calls the endpoint healthy when the status is one of
    O(expected_status) and, if O(body_match) is set, the body matches it.
  - An unhealthy answer, a refused connection or a timeout is retried up to O(retries) times
    with jittered exponential backoff, within O(deadline) seconds in all. A TLS failure is not
    retried.
  - Read-only; never reports a change.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.read_only
options:
  url:
    description: URL of the health endpoint. Either O(url) or O(urls) is required.
    type: str
  urls:
    description:
      - Several endpoints by name, checked at the same time with the same settings; the
        results are in RV(checks) and RV(healthy) is true only when every one is healthy.
      - One task instead of one per endpoint keeps a runbook fast.
    type: dict
  method:
    description: HTTP method.
    type: str
    choices: [GET, HEAD]
    default: GET
  expected_status:
    description: Statuses that count as healthy.
    type: list
    elements: int
    default: [200]
  body_match:
    description:
      - Regular expression (Python C(re.search)) the body must match to count as healthy.
    type: str
  expected_headers:
    description:
      - Response headers that must be present with exactly these values to count as healthy,
        for example which CDN edge served the answer. Header names are case-insensitive.
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for each request.
    type: float
    default: 5.0
  retries:
    description: How many times to try again after an unhealthy answer (0 means one attempt).
    type: int
    default: 3
  backoff:
    description: Delays between attempts; each delay is drawn at random below the current cap.
    type: dict
    default: {}
    suboptions:
      delay:
        description: Cap of the first delay, in seconds.
        type: float
        default: 0.5
      factor:
        description: Factor the cap grows by after each attempt.
        type: float
        default: 2.0
      max_delay:
        description: Largest cap, in seconds.
        type: float
        default: 5.0
      jitter:
        description:
          - Draw each delay at random below its cap (spreads the load of many callers).
          - With V(false) each delay is the cap itself, so the probes of a confirmation (is
            this endpoint really down?) are evenly apart.
        type: bool
        default: true
  deadline:
    description: Seconds after which no further attempt starts.
    type: float
    default: 60.0
  headers:
    description:
      - Extra request headers. Their values are logged like any option; put a token in
        O(bearer_token) instead.
    type: dict
    default: {}
  bearer_token:
    description: "Token sent as C(Authorization: Bearer <token>)."
    type: str
  validate_certs:
    description: Whether to verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle used to verify the server's certificate.
    type: path
  body_limit:
    description: Characters of the body to return in RV(body).
    type: int
    default: 2048
  fail_on_unhealthy:
    description:
      - Fail the task when the endpoint is unhealthy. With V(false) the task succeeds and
        reports RV(healthy=false), so that a play can branch on it.
    type: bool
    default: true
notes:
  - Transient faults counted as retryable are an unhealthy answer, a refused or dropped connection
    and a timeout.
"""

EXAMPLES = r"""
- name: Check that payments are healthy
  irdrive.ops.http_health:
    url: http://127.0.0.1:7002/payments/health
    body_match: '"status":\s*"ok"'
    retries: 5

- name: Ask a processor for its health without failing, to branch on the answer
  irdrive.ops.http_health:
    url: "http://127.0.0.1:7002/processors/{{ backup_processor }}/health"
    fail_on_unhealthy: false
    retries: 2
    backoff:
      delay: 1
      max_delay: 4
  register: backup_health

- name: Refuse the failover when the backup is down too
  ansible.builtin.fail:
    msg: "backup processor is unhealthy: {{ backup_health.reason }}"
  when: not backup_health.healthy

- name: Check payments and both processors at once
  irdrive.ops.http_health:
    urls:
      payments: http://127.0.0.1:7002/payments/health
      ccbill: http://127.0.0.1:7002/processors/ccbill/health
      segpay: http://127.0.0.1:7002/processors/segpay/health
    fail_on_unhealthy: false
  register: health

- name: Check an authenticated endpoint
  irdrive.ops.http_health:
    url: https://status.example.com/internal/health
    bearer_token: "{{ status_api_token }}"
    expected_status: [200, 204]
"""

RETURN = r"""
healthy:
  description: Whether the last answer was healthy.
  returned: always
  type: bool
  sample: true
url:
  description: The URL checked.
  returned: always
  type: str
  sample: http://127.0.0.1:7002/payments/health
status:
  description: HTTP status of the last answer; null when no answer came.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Milliseconds the last attempt took.
  returned: always
  type: float
  sample: 12.5
attempts:
  description: How many requests were made.
  returned: always
  type: int
  sample: 1
reason:
  description: Why the endpoint counts as unhealthy; empty when healthy.
  returned: always
  type: str
  sample: status 503 not in [200]
error_kind:
  description:
    - V(unhealthy) when an answer came and was wrong, V(unreachable) when no answer came,
      V(tls) for a TLS failure, V(transient) for a dropped connection. Empty when healthy.
  returned: always
  type: str
  sample: unreachable
body:
  description: The start of the body (up to O(body_limit) characters).
  returned: when an answer came
  type: str
  sample: '{"status": "ok", "processor": "segpay"}'
json:
  description: The body parsed as JSON, when the answer says it is JSON.
  returned: when the content type is JSON and the body parses
  type: dict
  sample: {"status": "ok", "processor": "segpay"}
checks:
  description: With O(urls), the result of each endpoint by name (the keys above, each).
  returned: when O(urls) is given
  type: dict
  sample: {"payments": {"healthy": false, "status": 503, "reason": "status 503 not in [200]"},
           "segpay": {"healthy": true, "status": 200, "reason": ""}}
"""

import contextlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    IrdriveOpsError,
    TransientError,
    UnhealthyError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.http import HttpResponse, request
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

RETRYABLE = (UnhealthyError, UnreachableError, TransientError)


def argument_spec() -> dict[str, Any]:
    return {
        "url": {"type": "str"},
        "urls": {"type": "dict"},
        "method": {"type": "str", "choices": ["GET", "HEAD"], "default": "GET"},
        "expected_status": {"type": "list", "elements": "int", "default": [200]},
        "body_match": {"type": "str"},
        "timeout": {"type": "float", "default": 5.0},
        "retries": {"type": "int", "default": 3},
        "backoff": {
            "type": "dict",
            "default": {},
            "options": {
                "delay": {"type": "float", "default": 0.5},
                "factor": {"type": "float", "default": 2.0},
                "max_delay": {"type": "float", "default": 5.0},
                "jitter": {"type": "bool", "default": True},
            },
        },
        "deadline": {"type": "float", "default": 60.0},
        "headers": {"type": "dict", "default": {}},
        "expected_headers": {"type": "dict", "default": {}},
        "bearer_token": {"type": "str", "no_log": True},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "body_limit": {"type": "int", "default": 2048},
        "fail_on_unhealthy": {"type": "bool", "default": True},
    }


def judge(
    response: HttpResponse,
    expected: list[int],
    pattern: re.Pattern[str] | None,
    expected_headers: dict[str, Any] | None = None,
) -> str:
    """Why ``response`` is unhealthy, or '' when it is healthy."""
    if response.status not in expected:
        return f"status {response.status} not in {expected}"
    if pattern is not None and not pattern.search(response.text()):
        return f"body does not match {pattern.pattern!r}"
    for name, want in (expected_headers or {}).items():
        have = response.headers.get(str(name).lower())
        if have != str(want):
            got = "missing" if have is None else repr(have)
            return f"header {name} is {got}, expected {str(want)!r}"
    return ""


def describe(response: HttpResponse | None, body_limit: int) -> dict[str, Any]:
    if response is None:
        return {"status": None}
    described: dict[str, Any] = {
        "status": response.status,
        "latency_ms": response.latency_ms,
        "body": response.text(body_limit),
    }
    if response.content_type.endswith("json"):
        with contextlib.suppress(ValueError):
            described["json"] = json.loads(response.text())
    return described


def check(params: dict[str, Any], url: str, pattern: re.Pattern[str] | None) -> dict[str, Any]:
    """Probe ``url`` with retries; the result keys of RETURN, never raising."""
    headers = {str(k): str(v) for k, v in params["headers"].items()}
    if params["bearer_token"]:
        headers["Authorization"] = f"Bearer {params['bearer_token']}"
    attempts = 0
    last: dict[str, HttpResponse | None] = {"response": None}

    def probe() -> HttpResponse:
        nonlocal attempts
        attempts += 1
        response = request(
            url,
            method=params["method"],
            headers=headers,
            timeout=params["timeout"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
        )
        last["response"] = response
        reason = judge(response, params["expected_status"], pattern, params["expected_headers"])
        if reason:
            raise UnhealthyError(reason)
        return response

    result: dict[str, Any] = {"url": url, "latency_ms": None}
    backoff = params["backoff"]
    try:
        response = retry(
            probe,
            transient=RETRYABLE,
            attempts=max(1, params["retries"] + 1),
            deadline=params["deadline"],
            base_delay=backoff["delay"],
            factor=backoff["factor"],
            max_delay=backoff["max_delay"],
            jitter=backoff["jitter"],
        )
    except IrdriveOpsError as error:
        if not isinstance(error, UnhealthyError):
            last["response"] = None
        result.update(describe(last["response"], params["body_limit"]))
        result.update(healthy=False, attempts=attempts, reason=str(error), error_kind=error.kind)
        return result
    result.update(describe(response, params["body_limit"]))
    result.update(healthy=True, attempts=attempts, reason="", error_kind="")
    return result


def run_module(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    try:
        pattern = re.compile(params["body_match"]) if params["body_match"] else None
    except re.error as error:
        module.fail_json(msg=f"body_match is not a valid regular expression: {error}")
    if params["url"]:
        return {"changed": False, **check(params, params["url"], pattern)}
    urls = {str(name): str(url) for name, url in params["urls"].items()}
    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        futures = {name: pool.submit(check, params, url, pattern) for name, url in urls.items()}
        checks = {name: future.result() for name, future in futures.items()}
    unhealthy = [name for name, c in checks.items() if not c["healthy"]]
    return {
        "changed": False,
        "checks": checks,
        "healthy": not unhealthy,
        "url": ", ".join(urls.values()),
        "attempts": sum(c["attempts"] for c in checks.values()),
        "reason": "; ".join(f"{name}: {checks[name]['reason']}" for name in unhealthy),
        "error_kind": next((checks[name]["error_kind"] for name in unhealthy), ""),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("url", "urls")],
        required_one_of=[("url", "urls")],
        supports_check_mode=True,
    )
    if module.params["urls"] is not None and not module.params["urls"]:
        module.fail_json(msg="urls must name at least one endpoint")
    result = run_module(module)
    if not result["healthy"] and module.params["fail_on_unhealthy"]:
        module.fail_json(
            msg=f"{result['url']} is unhealthy after {result['attempts']} attempt(s): "
            f"{result['reason']}",
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
