"""Whether a host is this machine's loopback: the S3 store defaults to TLS elsewhere, the dashboard needs
a token elsewhere."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (a host name other than localhost is never taken for loopback)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
