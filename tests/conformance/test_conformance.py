"""The conformance checker (``rpa conformance``) against a real node, and against a broken target."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from conformance.cli import conformance_command
from conformance.runner import all_rules, run_conformance
from tests.support import ADMIN_PASSWORD, ROOT

KNOWN_NODE_BUGS: dict[str, str] = {}  # rule id → a word of the reason, while a node bug is open


def unexpected(results) -> list[str]:
    return [
        r.line()
        for r in results
        if r.outcome != "PASS" and not (r.outcome == "FAIL" and KNOWN_NODE_BUGS.get(r.id, "\0") in r.reason)
    ]


@pytest.mark.slow
def test_every_rule_passes_against_a_live_node(live_node):
    """With admin credentials the checker runs every rule, and a conforming node passes them all."""
    report = run_conformance(live_node.url, admin_user="admin", admin_password=ADMIN_PASSWORD)
    assert [r.id for r in report.results] == [r.id for r in all_rules()]
    assert not unexpected(report.results), "\n".join(unexpected(report.results))


@pytest.mark.slow
def test_cli_with_supplier_credentials_passes_and_can_run_again(live_node):
    """``python -m rpa conformance`` with a supplier's secret: run rules skipped, the rest pass (exit 0,
    or 1 only for known node bugs); a second run against the same node works too (fresh robot ids)."""
    secret = live_node.add_supplier("conf-vendor")
    cmd = [
        sys.executable,
        "-m",
        "rpa",
        "conformance",
        "--node",
        live_node.url,
        "--supplier",
        "conf-vendor",
        "--secret",
        secret,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    lines = proc.stdout.splitlines()
    fails = [line for line in lines if line.startswith("FAIL ")]
    assert not [line for line in fails if KNOWN_NODE_BUGS.get(line.split()[1], "\0") not in line], proc.stdout
    assert proc.returncode == (1 if fails else 0), proc.stdout + proc.stderr
    assert any(
        line.startswith("PASS WS-REG-01 Register with a valid supplierSecret is accepted") for line in lines
    )
    assert "SKIP RUN-STOP-01" in proc.stdout and "skipped: needs --admin-*" in proc.stdout
    assert lines[-1].startswith(f"{len(all_rules())} rules:") and f" {len(fails)} failed" in lines[-1]

    again = subprocess.run(
        [*cmd, "--json", "--rule", "WS-REG", "--rule", "HTTP-AUTH"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    data = json.loads(again.stdout)
    assert data["ok"] is True and data["failed"] == 0 and data["passed"] == len(data["results"]) > 10
    assert {r["id"][:6] for r in data["results"]} == {"WS-REG", "HTTP-A"}


class _BrokenHandler(BaseHTTPRequestHandler):
    """Answers everything with a 500 HTML page (what a misconfigured proxy in front of a node does)."""

    def _broken(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _broken

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def broken_target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_checker_fails_a_broken_target_and_exits_1(broken_target):
    """Against a server answering 500/HTML the checker reports FAIL lines and exits 1."""
    result = CliRunner().invoke(
        conformance_command,
        ["--node", broken_target, "--supplier", "s", "--secret", "x", "--timeout", "2"],
    )
    assert result.exit_code == 1, result.output
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL ")]
    assert len(fails) >= len([r for r in all_rules() if not r.needs_admin])
    assert any("HTTP-ENV-01" in line and ("5xx" in line or "not JSON" in line) for line in fails)
    assert " 0 passed" in result.output.splitlines()[-1]


def test_admin_rules_fail_when_sign_in_fails(broken_target):
    """Admin credentials the node refuses make every rule that needs them FAIL, not pass or skip."""
    report = run_conformance(
        broken_target, admin_user="admin", admin_password="wrong", only=["RUN-EXE", "WS-REG-01"], timeout=2
    )
    assert [r.outcome for r in report.results] == ["FAIL"] * 3
    assert all("admin sign-in failed" in r.reason for r in report.results)
    assert not report.ok


def test_cli_needs_credentials():
    """Without a supplier or admin credentials the command refuses to start (usage error)."""
    result = CliRunner().invoke(conformance_command, ["--node", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--supplier" in result.output


def test_rule_ids_are_unique_and_cite_the_protocol():
    """Every rule has a unique id and a description citing a section of protocol.md."""
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids)) > 40
    assert all("(§" in r.description and r.description.endswith(")") for r in all_rules())
