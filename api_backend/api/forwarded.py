"""The client's address: the TCP peer, unless the peer is one of TRUSTED_PROXIES; then the
nearest address in X-Forwarded-For that is not a trusted proxy itself.

With TRUSTED_PROXIES empty (the default) X-Forwarded-For is ignored: anyone could write it,
and throttling and the audit log would believe a forged address. Start uvicorn with
`--no-proxy-headers`, so that it does not rewrite the peer before the API sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

Networks = Sequence[IPv4Network | IPv6Network]


def _trusted(host: str, networks: Networks) -> bool:
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], networks: Networks) -> str:
    """`forwarded_for` holds the X-Forwarded-For header values in the order received."""
    if peer is None:
        return "unknown"
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    # Right to left: each trusted proxy appended the address it received from.
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, networks):
            return hop if _is_address(hop) else peer
    return peer


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True
