"""Runs kernel data: run instances, their recorded transitions and their log lines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import BIGID, UTCDateTime, db
from common.timeutil import utcnow


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
