"""The supplier secret (protocol.md §1), kept here for SDK users: it lives in ``protocol.secret``."""

from protocol.secret import build_supplier_secret, sign

__all__ = ["build_supplier_secret", "sign"]
