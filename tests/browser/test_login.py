"""The sign-in form in a real browser: a wrong password or an empty field is answered on the form,
never with an error page, and grants no session."""

from __future__ import annotations

from tests.support import ADMIN_PASSWORD


def test_wrong_password_shows_a_message_on_the_form(tab, shared_node):
    """A wrong password re-shows the form (401, not 5xx) with a Chinese-first alert inside it, the user
    name kept and the password cleared; the status page still asks for the form."""
    page = tab.page
    page.goto(shared_node.url + "/login")
    page.get_by_label("用户名 Username").fill("admin")
    page.get_by_label("密码 Password").fill(ADMIN_PASSWORD + "-wrong")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="登录 Sign in").click()
    assert posted.value.status == 401
    page.wait_for_load_state()

    alert = page.locator("form.login [role=alert]")
    assert alert.inner_text() == "用户名或密码错误 (wrong username or password)"
    assert alert.is_visible()
    assert page.url == shared_node.url + "/login"
    assert page.get_by_label("用户名 Username").input_value() == "admin"
    assert page.get_by_label("密码 Password").input_value() == ""
    assert page.get_by_role("button", name="退出 Sign out").count() == 0
    assert all(status < 500 for status, _, _ in tab.responses), tab.responses

    page.goto(shared_node.url + "/")
    assert page.url.startswith(shared_node.url + "/login")


def test_empty_password_is_named_next_to_its_field(tab, shared_node):
    """Submitting without a password puts "请输入密码" right after the password field (the form is
    ``novalidate``, so the server's check is what the user sees), and no alert about credentials."""
    page = tab.page
    page.goto(shared_node.url + "/login")
    page.get_by_label("用户名 Username").fill("admin")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="登录 Sign in").click()
    assert posted.value.status == 200
    page.wait_for_load_state()

    assert page.locator("#password + .err").inner_text() == "请输入密码"
    assert page.locator("#username + .err").count() == 0
    assert page.locator("form.login [role=alert]").count() == 0
    assert page.url == shared_node.url + "/login"
    assert tab.errors == []
