"""irdrive's benchmarks (not tests): ``python -m bench`` (``make bench``) runs them all.

payments_failover  irdrive vs a shell script vs direct API calls, fault to verified recovery
fleet              block-ips on 3 and on 30 hosts, and a serial shell loop on 30
runbooks           each incident runbook, fault to verified recovery, its five slowest steps
api_step           one API step above an ``ansible.builtin.debug`` task
"""

from __future__ import annotations
