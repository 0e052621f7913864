"""Suppliers, robots and licenses over the management API (architecture.md, Management API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from common.api.registry import api_blueprint, api_route
from common.api.schemas import In, ListOut, Page
from common.auth.services import Principal
from common.envelope import envelope
from common.timeutil import iso
from node.robots import licenses, management, suppliers
from node.robots.models import License, Robot

bp = api_blueprint("robots_api", __name__)


class SupplierCreate(In):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(default="", max_length=128)
    engines: list[str] | None = Field(default=None, max_length=20)


class SupplierCreated(BaseModel):
    code: str
    secret: str = Field(description="shown once; store it in the executor's settings")


class RobotOut(BaseModel):
    robotId: str
    supplierCode: str
    state: str
    online: bool
    transport: str
    version: str
    lastSeenAt: str | None
    runInstanceId: str | None
    metrics: dict | None = None


class RobotStateChange(In):
    state: Literal["enabled", "disabled"]


class LicenseCreate(In):
    name: str = Field(default="license", max_length=128)
    content: str = Field(min_length=1, max_length=64 * 1024)
    robotId: str | None = Field(default=None, max_length=64)


class LicenseBind(In):
    robotId: str = Field(min_length=1, max_length=64)


class LicenseOut(BaseModel):
    licenseId: int
    name: str
    robotId: str | None


def robot_out(r: Robot) -> dict:
    """A robot as the API shows it."""
    return {
        "robotId": r.id,
        "supplierCode": r.supplier_code,
        "state": r.state,
        "online": r.online,
        "transport": r.transport,
        "version": r.version,
        "lastSeenAt": iso(r.last_seen_at),
        "runInstanceId": r.current_run_id,
        "metrics": r.metrics,
    }


def license_out(lic: License) -> dict:
    """A license as the API shows it (never its content)."""
    return {"licenseId": lic.id, "name": lic.name, "robotId": lic.robot_id}


@api_route(
    bp,
    "/suppliers",
    "POST",
    summary="Add a supplier (vendor); its secret is shown once",
    permission="supplier.manage",
    body=SupplierCreate,
    response=SupplierCreated,
    tag="robots",
    status=201,
)
def add_supplier(body: SupplierCreate, user: Principal):
    sup, secret = suppliers.add_supplier(body.code, body.name, body.engines, actor=f"user:{user.username}")
    return envelope({"code": sup.code, "secret": secret}, status=201)


@api_route(bp, "/suppliers", "GET", summary="List suppliers", permission="robot.read", tag="robots")
def list_suppliers(user: Principal):
    items = [
        {"code": x.code, "name": x.name, "engines": x.engines, "enabled": x.enabled}
        for x in suppliers.list_suppliers()
    ]
    return envelope({"items": items, "total": len(items)})


@api_route(
    bp,
    "/robots",
    "GET",
    summary="List robots (executors)",
    permission="robot.read",
    query=Page,
    response=ListOut,
    tag="robots",
)
def list_robots(query: Page, user: Principal):
    rows, total = management.list_robots(query.limit, query.offset)
    return envelope({"items": [robot_out(r) for r in rows], "total": total})


@api_route(
    bp,
    "/robots/<robot_id>",
    "GET",
    summary="One robot",
    permission="robot.read",
    response=RobotOut,
    tag="robots",
)
def get_robot(robot_id: str, user: Principal):
    return envelope(robot_out(management.get_robot(robot_id)))


@api_route(
    bp,
    "/robots/<robot_id>/state",
    "POST",
    summary="Approve/enable or disable a robot",
    permission="robot.manage",
    body=RobotStateChange,
    response=RobotOut,
    tag="robots",
)
def set_robot_state(robot_id: str, body: RobotStateChange, user: Principal):
    return envelope(robot_out(management.set_state(robot_id, body.state, f"user:{user.username}")))


@api_route(
    bp,
    "/licenses",
    "POST",
    summary="Load a license, optionally bound to a robot",
    permission="license.manage",
    body=LicenseCreate,
    response=LicenseOut,
    tag="robots",
    status=201,
)
def add_license(body: LicenseCreate, user: Principal):
    lic = licenses.add_license(body.name, body.content, body.robotId, f"user:{user.username}")
    return envelope(license_out(lic), status=201)


@api_route(
    bp,
    "/licenses",
    "GET",
    summary="List licenses (contents are never shown)",
    permission="license.manage",
    tag="robots",
)
def list_licenses(user: Principal):
    items = [license_out(x) for x in licenses.list_licenses()]
    return envelope({"items": items, "total": len(items)})


@api_route(
    bp,
    "/licenses/<int(max=2147483647):license_id>/bind",
    "POST",
    summary="Bind a license to a robot",
    permission="license.manage",
    body=LicenseBind,
    response=LicenseOut,
    tag="robots",
)
def bind_license(license_id: int, body: LicenseBind, user: Principal):
    return envelope(license_out(licenses.bind_license(license_id, body.robotId, f"user:{user.username}")))
