"""The status page at ``/`` in a real browser: sign in through the form, then see the executors and
runs the node really has, Chinese first."""

from __future__ import annotations

import re

from tests.support import ADMIN_PASSWORD, connect_ws, seeded

CJK = re.compile(r"[\u4e00-\u9fff]")


def finished_run(node, robot, app_id: str, robot_id: str, status: int, **finish) -> str:
    """Start a run on ``robot_id`` and let the protocol client report it finished."""
    run_id = node.start_run(app_id, robotId=robot_id)
    assert robot.expect("Execute")["body"]["runInstanceId"] == run_id
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": status, **finish})
    node.wait_status(run_id, "succeeded" if status == 0 else "failed")
    return run_id


def cells(row) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_sign_in_then_status_shows_executors_and_recent_runs_chinese_first(tab, live_node):
    """``/`` sends a stranger to the sign-in form; the admin signs in there and the status page shows the
    online WebSocket executor and both runs it finished (ids, supplier, status, cause); every heading,
    column and label starts in Chinese with English second, though the browser asks for English."""
    node, secret, app_id = seeded(live_node)
    robot = connect_ws(node, "web-bot-1", secret)
    try:
        ok = finished_run(node, robot, app_id, "web-bot-1", 0)
        bad = finished_run(node, robot, app_id, "web-bot-1", 2, errorCode=7)
        page = tab.page

        page.goto(node.url + "/")
        assert page.url == node.url + "/login?next=%2F"
        assert page.get_by_role("heading", name="登录 Sign in").is_visible()
        page.get_by_label("用户名 Username").fill("admin")
        page.get_by_label("密码 Password").fill(ADMIN_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="登录 Sign in").click()
        assert page.url == node.url + "/"

        # Executors: the counter and the row of the robot connected over WebSocket.
        assert page.locator("#robots-online").inner_text() == "1"
        online_card = page.locator(".card", has=page.locator("#robots-online"))
        assert re.fullmatch(r"1\s*在线执行器 executors online / 1", online_card.inner_text().strip())
        assert page.locator(".card").nth(1).inner_text().startswith("1\n本进程 WebSocket 连接")
        robot_rows = page.locator("table").nth(0).locator("tr").filter(has=page.locator("td"))
        assert robot_rows.count() == 1
        robot_cells = cells(robot_rows.first)
        assert robot_cells[:5] == ["web-bot-1", "acme", "已启用 enabled", "是", "ws"]
        assert robot_cells[5].startswith("20")  # last seen: a real timestamp
        assert robot_cells[6] == ""  # idle after both runs

        # Recent runs: newest first, each with its app, status, robot, attempt and cause.
        runs_table = page.locator("table").nth(1)
        rows = runs_table.locator("tr").filter(has=page.locator("td"))
        assert rows.count() == 2
        newest, oldest = cells(rows.nth(0)), cells(rows.nth(1))
        assert newest[:5] == [bad, app_id, "失败 failed", "web-bot-1", "1"]
        assert "errorCode 7" in newest[6]
        assert oldest[:5] == [ok, app_id, "成功 succeeded", "web-bot-1", "1"]

        # Chinese first: the document says so, and every label leads with Chinese.
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert page.title() == "RPA 通用组件 · 省级节点"
        assert page.locator("header > span").first.inner_text() == "RPA 通用组件 · 省级节点 Province node"
        labels = page.locator("h3, th, .card, label, button").all_inner_texts()
        labels = [t.lstrip("0123456789 \n") for t in labels]  # a card leads with its figure
        assert len(labels) >= 17, labels
        not_chinese_first = [t for t in labels if not CJK.match(t.strip())]
        assert not_chinese_first == []
        assert page.locator("h3").all_inner_texts() == ["执行器 Executors", "最近运行 Recent runs"]
        assert page.get_by_role("link", name="API docs").get_attribute("href") == "/api/docs"

        # Nothing failed in the page, nothing left the machine.
        assert tab.errors == []
        assert tab.foreign == []
        assert all(status < 400 for status, _, _ in tab.responses), tab.responses

        # Signing out ends the session: the status page asks for the form again.
        with page.expect_navigation():
            page.get_by_role("button", name="退出 Sign out").click()
        assert page.url == node.url + "/login"
        page.goto(node.url + "/")
        assert page.url.startswith(node.url + "/login")
    finally:
        robot.close()
