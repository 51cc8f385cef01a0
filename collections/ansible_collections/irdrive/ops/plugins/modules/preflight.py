# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight
short_description: Refuse a run before its first write, as bad input
version_added: 0.1.0
description:
  - Fails when O(problems) is not empty, with every problem in one message and
    RV(error_kind=invalid_input), so that a role's own input checks (ceilings, addresses that
    must not be blocked) count as bad input, like an argument-spec failure.
  - Succeeds with O(summary) as its message otherwise. Changes nothing.
  - Runs on the controller (an action plugin); this file only documents it.
author:
  - irdrive maintainers (@irdrive)
options:
  problems:
    description: What must refuse the run, one line each; empty for none.
    type: list
    elements: str
    required: true
  summary:
    description: The message when nothing refuses the run.
    type: str
    default: ""
attributes:
  check_mode:
    description: Refuses the same in check mode; writes nothing either way.
    support: full
  diff_mode:
    description: No diff; nothing changes.
    support: none
"""

EXAMPLES = r"""
- name: Check the addresses before changing anything
  irdrive.ops.preflight:
    problems: "{{ plan.problems }}"
    summary: "Blocking {{ plan.networks | join(', ') }}"
"""

RETURN = r"""
problems:
  description: The problems that refused the run (empty when none).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.0/8 is a private range (10.0.0.0/8): run with --force"]
error_kind:
  description: V(invalid_input) when the run was refused.
  returned: failure
  type: str
  sample: invalid_input
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "problems": {"type": "list", "elements": "str", "required": True},
            "summary": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    problems = [p for p in module.params["problems"] if p]
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems, error_kind="invalid_input")
    module.exit_json(changed=False, msg=module.params["summary"], problems=[])


if __name__ == "__main__":
    main()
