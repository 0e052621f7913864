"""Model → API dict conversions (camelCase on the wire)."""

from __future__ import annotations

from common.timeutil import iso
from node.schedule.arguments import for_display
from node.schedule.models import License, Robot, RunInstance, RunInstanceLog, RunTransition
from node.share.models import App, AppVersion


def robot(r: Robot) -> dict:
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


def run(r: RunInstance) -> dict:
    return {
        "runInstanceId": r.id,
        "appId": r.app_id,
        "status": r.status,
        "robotId": r.robot_id,
        "attempt": r.attempt,
        "arguments": for_display(r.arguments or []),
        "createdAt": iso(r.created_at),
        "dispatchedAt": iso(r.dispatched_at),
        "startedAt": iso(r.started_at),
        "finishedAt": iso(r.finished_at),
        "errorCode": r.error_code,
        "cause": r.cause,
        "videoId": r.video_file_id,
        "checkpointId": r.checkpoint_file_id,
        "userName": r.user_name,
    }


def transition(t: RunTransition) -> dict:
    return {
        "fromStatus": t.from_status,
        "toStatus": t.to_status,
        "attempt": t.attempt,
        "cause": t.cause,
        "at": iso(t.at),
    }


def log_line(line: RunInstanceLog) -> dict:
    return {
        "content": line.content,
        "screenshot": line.screenshot,
        "logAt": iso(line.log_at),
        "logLevel": line.log_level,
        "attempt": line.attempt,
        "robotId": line.robot_id,
    }


def app(a: App, versions: list[AppVersion]) -> dict:
    return {
        "appId": a.id,
        "name": a.name,
        "description": a.description,
        "category": a.category,
        "businessDomain": a.business_domain,
        "scenario": a.scenario,
        "tags": a.tags or [],
        "versions": [
            {
                "version": v.version,
                "engine": v.engine,
                "entry": v.entry,
                "sha256": v.sha256,
                "arguments": v.manifest.get("arguments", []),
                "createdAt": iso(v.created_at),
            }
            for v in versions
        ],
    }


def license_(lic: License) -> dict:
    return {"licenseId": lic.id, "name": lic.name, "robotId": lic.robot_id}
