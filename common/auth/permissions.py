"""The permission catalogue and the roles that bundle permissions."""

from __future__ import annotations

# Every endpoint names one of these; a role is a set of them.
PERMISSIONS: dict[str, str] = {
    "robot.read": "see executors and their state",
    "robot.manage": "approve, enable, disable executors; bind licenses",
    "supplier.manage": "add, change and disable suppliers (vendors)",
    "license.manage": "load licenses",
    "app.read": "see applications and packages",
    "app.publish": "upload process packages",
    "run.read": "see runs, their transitions and logs",
    "run.start": "start and stop runs",
    "file.upload": "upload files",
    "audit.read": "read the audit log",
    "user.manage": "create users and change roles",
}

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "operator": frozenset({"robot.read", "app.read", "app.publish", "run.read", "run.start", "file.upload"}),
    "viewer": frozenset({"robot.read", "app.read", "run.read"}),
    "auditor": frozenset({"robot.read", "app.read", "run.read", "audit.read"}),
}


def role_allows(role: str, permission: str) -> bool:
    """Whether ``role`` carries ``permission`` (an unknown permission is a programming error)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in ROLES.get(role, frozenset())
