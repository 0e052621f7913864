"""``rpa conformance --node URL``: check any node against the executor protocol (protocol.md)."""

from __future__ import annotations

import json
import sys

import click

from conformance.runner import Result, run_conformance, select_rules

COLOURS = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}


@click.command("conformance")
@click.option("--node", "node_url", required=True, help="base URL of the node, e.g. http://127.0.0.1:8000")
@click.option("--supplier", help="code of an existing supplier the checker may register robots under")
@click.option("--secret", help="that supplier's raw secret")
@click.option(
    "--admin-user", default=None, help="administrator (the checker creates its own supplier and runs)"
)
@click.option(
    "--admin-password", envvar="RPA_CONFORMANCE_ADMIN_PASSWORD", default=None, help="administrator's password"
)
@click.option("--rule", "only", multiple=True, help="only rules whose id starts with this (repeatable)")
@click.option("--timeout", default=5.0, show_default=True, type=float, help="seconds to wait for an answer")
@click.option("--json", "as_json", is_flag=True, help="print one JSON report instead of lines")
@click.option("--list", "list_rules", is_flag=True, help="list the rules and exit")
def conformance_command(
    node_url: str,
    supplier: str | None,
    secret: str | None,
    admin_user: str | None,
    admin_password: str | None,
    only: tuple[str, ...],
    timeout: float,
    as_json: bool,
    list_rules: bool,
) -> None:
    """Check a node's executor hub against protocol.md; exit 1 if any rule fails.

    Run rules (Execute delivery, ReportFinish, Stop, logs, video, long poll) need --admin-user and
    --admin-password (or RPA_CONFORMANCE_ADMIN_PASSWORD); without them they are skipped.

    The checker leaves robots named conf-<random>-* behind and, with admin credentials, a supplier
    and package conformance-<random> whose engine no real executor declares, so no real run is
    ever routed to them.
    """
    if list_rules:
        for rule in select_rules(only):
            click.echo(f"{rule.id} {rule.description}{'  [needs --admin-*]' if rule.needs_admin else ''}")
        return
    if bool(supplier) != bool(secret):
        raise click.UsageError("--supplier and --secret go together")
    if admin_user and not admin_password:
        raise click.UsageError("--admin-user needs --admin-password or RPA_CONFORMANCE_ADMIN_PASSWORD")
    if not supplier and not admin_user:
        raise click.UsageError("give --supplier and --secret, or --admin-user and --admin-password")

    def show(result: Result) -> None:
        if not as_json:
            word = click.style(result.outcome, fg=COLOURS[result.outcome])
            click.echo(word + result.line()[len(result.outcome) :])

    report = run_conformance(
        node_url,
        supplier=supplier,
        secret=secret,
        admin_user=admin_user,
        admin_password=admin_password,
        only=only,
        timeout=timeout,
        on_result=show,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary())
    sys.exit(0 if report.ok else 1)
