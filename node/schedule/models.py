"""Scheduling center data: suppliers (vendors), robots (executors), licenses, run instances,
their transitions and logs, and each robot's command inbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import UTCDateTime, db
from common.timeutil import utcnow

BIGID = BigInteger().with_variant(Integer, "sqlite")


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


class RunInstance(db.Model):
    """One run (运行记录) of an application version; ``attempt`` grows on failover."""

    __tablename__ = "run_instance"
    __table_args__ = (Index("ix_run_instance_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(40), index=True)
    app_version_id: Mapped[int] = mapped_column(Integer)
    engine: Mapped[str] = mapped_column(String(64), default="robotframework")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    requested_robot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    robot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    arguments: Mapped[list] = mapped_column(JSON, default=list)  # secret values sealed
    user_id: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(128))
    video_record_required: Mapped[bool] = mapped_column(Boolean, default=False)
    video_record_mode: Mapped[int] = mapped_column(Integer, default=0)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    video_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cause: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RunTransition(db.Model):
    """A recorded change of a run's status, with its time and cause."""

    __tablename__ = "run_transition"

    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    run_instance_id: Mapped[str] = mapped_column(ForeignKey("run_instance.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunInstanceLog(db.Model):
    """A log line reported by the executor (RunInstanceLog of appendix A.3.1)."""

    __tablename__ = "run_instance_log"
    __table_args__ = (Index("ix_run_instance_log_run_at", "run_instance_id", "log_at", "id"),)

    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    run_instance_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    robot_id: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    screenshot: Mapped[str | None] = mapped_column(String(40), nullable=True)
    log_at: Mapped[datetime] = mapped_column(UTCDateTime)
    log_level: Mapped[int] = mapped_column(Integer)


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
