"""Run the conformance rules against a node and collect a report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from conformance import checks_data, checks_http, checks_runs, checks_ws  # noqa: F401 (register rules)
from conformance.checks import RULES, Rule
from conformance.client import AdminApi, Failed, Skipped, Target

log = logging.getLogger(__name__)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass(frozen=True)
class Result:
    """The outcome of one rule."""

    id: str
    description: str
    outcome: str  # PASS, FAIL or SKIP
    reason: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        text = f"{self.outcome} {self.id} {self.description}"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class Report:
    """Every rule's result for one node."""

    node: str
    results: list[Result] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return self.count(FAIL) == 0

    def summary(self) -> str:
        return (
            f"{len(self.results)} rules: {self.count(PASS)} passed, {self.count(FAIL)} failed, "
            f"{self.count(SKIP)} skipped ({self.node})"
        )

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "ok": self.ok,
            "passed": self.count(PASS),
            "failed": self.count(FAIL),
            "skipped": self.count(SKIP),
            "results": [asdict(r) for r in self.results],
        }


SECTION_ORDER = ("WS-", "HTTP-", "LOG-", "FILE-", "RUN-")


def all_rules() -> list[Rule]:
    """The registered rules by section (WebSocket, HTTP, data, files, runs), in written order within one."""

    def section(r: Rule) -> int:
        return next((i for i, p in enumerate(SECTION_ORDER) if r.id.startswith(p)), len(SECTION_ORDER))

    return sorted(RULES, key=section)


def select_rules(only: Iterable[str] | None) -> list[Rule]:
    """Rules whose id starts with one of ``only`` (all if empty)."""
    prefixes = tuple(p.upper() for p in only or ())
    return [r for r in all_rules() if not prefixes or r.id.startswith(prefixes)]


def _run_one(rule: Rule, target: Target) -> Result:
    start = time.monotonic()
    try:
        rule.fn(target)
    except Skipped as exc:
        outcome, reason = SKIP, f"skipped: {exc}"
    except Failed as exc:
        outcome, reason = FAIL, str(exc)
    except Exception as exc:  # a node that breaks the checker's expectations in any other way fails
        log.debug("Rule %s: %s", rule.id, exc, exc_info=True)
        outcome, reason = FAIL, f"{type(exc).__name__}: {exc}"
    else:
        outcome, reason = PASS, ""
    finally:
        target.close_opened()
    return Result(rule.id, rule.description, outcome, reason, round(time.monotonic() - start, 3))


def run_conformance(
    node_url: str,
    *,
    supplier: str | None = None,
    secret: str | None = None,
    admin_user: str | None = None,
    admin_password: str | None = None,
    only: Iterable[str] | None = None,
    timeout: float = 5.0,
    on_result: Callable[[Result], None] | None = None,
) -> Report:
    """Check ``node_url`` against protocol.md; every rule gets a PASS, FAIL or SKIP.

    Give a supplier's code and raw secret, or admin credentials (the checker then creates a
    throwaway supplier, package and runs; run rules are skipped without them). Robot ids carry a
    random prefix so the checker can run again and again against the same node.
    """
    if not (supplier and secret) and not (admin_user and admin_password):
        raise ValueError("give --supplier and --secret, or --admin-user and --admin-password")
    target = Target(node_url, supplier=supplier, secret=secret, timeout=timeout)
    admin_error = ""
    if admin_user and admin_password:
        try:
            target.admin = AdminApi(node_url, admin_user, admin_password, timeout=max(timeout, 30))
        except Exception as exc:
            admin_error = f"admin sign-in failed: {exc}"
    report = Report(target.url)
    for rule in select_rules(only):
        if admin_error and (rule.needs_admin or not supplier):
            result = Result(rule.id, rule.description, FAIL, admin_error)
        else:
            result = _run_one(rule, target)
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    if target.admin is not None:
        target.admin.close()
    return report
