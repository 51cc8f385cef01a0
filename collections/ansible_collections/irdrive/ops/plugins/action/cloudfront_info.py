# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``cloudfront_info``: in-process on the controller, the module elsewhere.

See ``plugin_utils/in_process.py``; ``irdrive_in_process: false`` forces the module.
"""

from __future__ import annotations

from ansible_collections.irdrive.ops.plugins.plugin_utils.in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    MODULE = "cloudfront_info"
