"""Is end-to-end encryption support (matrix-nio's `e2e` extra) installed? Answered without importing nio.

The web processes never load nio (only the worker talks to Matrix), yet `/healthz` says when the
support is missing; finding the modules is enough for that. The worker asks nio itself
(`nio.crypto.ENCRYPTION_ENABLED`, adapters.matrix.crypto_state).
"""

from __future__ import annotations

import importlib.util

E2EE_MODULES = ("vodozemac", "peewee", "cachetools", "atomicwrites")  # matrix-nio 0.26's e2e extra
E2EE_MISSING = (
    "end-to-end encryption support is not installed (install matrix-nio's e2e extra: "
    "pip install 'matrix-nio[e2e]', which refdesk normally brings along)"
)


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in E2EE_MODULES)
