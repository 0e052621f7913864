"""Robots kernel data: suppliers (vendors), robots (executors), licenses, and each robot's command
inbox. Every center and the hub use these through the kernel's services."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import BIGID, UTCDateTime, db
from common.timeutil import utcnow


class Supplier(db.Model):
    """A vendor (厂商) whose executors may register with the node."""

    __tablename__ = "supplier"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_sealed: Mapped[str] = mapped_column(Text)
    engines: Mapped[list] = mapped_column(JSON, default=lambda: ["robotframework"])
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Robot(db.Model):
    """An executor identity (robotId). Never a user account."""

    __tablename__ = "robot"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    supplier_code: Mapped[str] = mapped_column(ForeignKey("supplier.code"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="enabled")  # enabled | pending | disabled
    online: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    transport: Mapped[str] = mapped_column(String(8), default="")  # ws | http
    connect_id: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_dispatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    current_run_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    metrics: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class License(db.Model):
    """A license (许可证) loaded by an admin; bound to at most one robot."""

    __tablename__ = "license"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    content_sealed: Mapped[str] = mapped_column(Text)
    robot_id: Mapped[str | None] = mapped_column(ForeignKey("robot.id"), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RobotCommand(db.Model):
    """A command waiting for (or handed to) a robot: the durable inbox behind the bus."""

    __tablename__ = "robot_command"
    __table_args__ = (
        Index("ix_robot_command_pending", "robot_id", "delivered_at", "id"),
        Index("ix_robot_command_delivered_at", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    robot_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # Execute | Stop | SendLicense | Error
    run_instance_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    body: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
