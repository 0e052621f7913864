"""The hash-chained audit log and the CLI that verifies it."""

import subprocess
import sys

from sqlalchemy import update

from tests.support import ROOT


def test_changes_are_audited_and_chain_verifies(app, client, admin_headers):
    """Supplier creation, package publication and run start each leave a chained audit event."""
    from common.audit import AuditEvent, verify_chain
    from common.db import db

    client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"})
    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.seq)]
        assert "supplier.add" in actions and "user.create" in actions
        report = verify_chain()
        assert report.ok and report.events == len(actions)


def test_tampering_is_detected(app, client, admin_headers):
    """Editing an event's content breaks the chain at that event."""
    from common.audit import AuditEvent, verify_chain
    from common.db import db

    client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"})
    client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "beta"})
    with app.app_context():
        target = db.session.query(AuditEvent).filter_by(action="supplier.add").first()
        db.session.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(actor="user:mallory"))
        db.session.commit()
        report = verify_chain()
        assert not report.ok and report.first_bad_seq == target.seq


def test_deleting_the_last_event_is_detected(app, client, admin_headers):
    """Removing the newest event no longer matches the chain head."""
    from common.audit import AuditEvent, verify_chain
    from common.db import db

    client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"})
    with app.app_context():
        last = db.session.query(AuditEvent).order_by(AuditEvent.seq.desc()).first()
        db.session.delete(last)
        db.session.commit()
        assert not verify_chain().ok


def test_cli_supplier_add_and_audit_verify(tmp_path):
    """`rpa supplier add` prints the secret once; `rpa audit verify` exits 0 on an intact chain."""
    data = str(tmp_path / "d")
    env_run = dict(cwd=ROOT, capture_output=True, text=True, timeout=60)
    up = subprocess.run([sys.executable, "-m", "rpa", "db", "upgrade", "--data-dir", data], **env_run)
    assert up.returncode == 0, up.stderr
    assert "password" in up.stdout  # a generated admin password, shown once
    out = subprocess.run(
        [sys.executable, "-m", "rpa", "supplier", "add", "acme", "--name", "Acme", "--data-dir", data],
        **env_run,
    )
    assert out.returncode == 0 and "Secret (shown once):" in out.stdout
    dup = subprocess.run(
        [sys.executable, "-m", "rpa", "supplier", "add", "acme", "--data-dir", data], **env_run
    )
    assert dup.returncode != 0 and "already exists" in dup.stderr
    ok = subprocess.run([sys.executable, "-m", "rpa", "audit", "verify", "--data-dir", data], **env_run)
    assert ok.returncode == 0 and "intact" in ok.stdout
