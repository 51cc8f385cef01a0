"""The simulated platform's HTTP endpoints, served by labd on port base + 2.

- ``app``: routing, the ``/_lab`` control API and its reset; ``server``: the app over HTTP;
- ``probes``: ``/health`` and the payments and processor health; ``dbcheck``: the database
  check, logging in as the running backend pods; ``cluster``: the workloads they look at;
- ``cdn`` and ``origin``: the CDN edges and the object behind them; ``streaming``: its health
  and video storage; ``cache``: the application cache and ``/_admin/cache``;
- ``faults``: the faults that live in labd; ``web``: requests and answers; ``util``: helpers.
"""
