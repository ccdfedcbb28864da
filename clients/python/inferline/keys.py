"""The key contract between this SDK and the servers it calls.

Clients send a key as ``authorization: Bearer <key>`` (``api_key=`` on Client and AsyncClient);
the servers that accept such keys (inferline's core, and its REST bridge for HTTP clients)
check it with ``matches``, so both sides of the contract live in one light module.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence


def matches(offered: str, keys: Sequence[str]) -> bool:
    """Whether ``offered`` is one of ``keys``, comparing every key in constant time."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(offered.encode(), key.encode())
    return found
