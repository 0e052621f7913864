"""Executor SDK: a typed client for the node's executor protocol (protocol.md)."""

from executor.sdk.secret import build_supplier_secret

__all__ = ["build_supplier_secret"]
