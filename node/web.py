"""The node's plain pages until the portal lands: sign-in, status page, API docs; and the health
probes (``probes``, answered with the envelope)."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_login import LoginManager, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from common.auth import services as auth
from common.auth.guard import require
from common.auth.models import User
from common.auth.throttle import Throttled
from common.db import db
from common.envelope import envelope, error_envelope
from common.errors import html_errors, json_errors
from node.hub.runtime import hub_runtime
from node.operations.services import status_overview
from node.runtime import runtime
from protocol.codes import UNKNOWN_ERROR

bp = html_errors(Blueprint("web", __name__))
probes = json_errors(Blueprint("probes", __name__))  # load balancers and operators read the envelope

# Chinese names of run statuses and robot states, shown before the code (the API keeps the code).
RUN_STATUS_NAMES = {
    "pending": "排队中",
    "dispatched": "已下发",
    "running": "运行中",
    "stopping": "停止中",
    "succeeded": "成功",
    "failed": "失败",
    "cancelled": "已取消",
    "interrupted": "已中断",
    "timed_out": "已超时",
}
ROBOT_STATE_NAMES = {"pending": "待审批", "enabled": "已启用", "disabled": "已停用"}


def _named(names: dict[str, str], code: str) -> str:
    name = names.get(code)
    return f"{name} {code}" if name else code


@bp.app_template_filter("run_status_zh")
def run_status_zh(code: str) -> str:
    """``成功 succeeded``: a run status's Chinese name, then its code."""
    return _named(RUN_STATUS_NAMES, code)


@bp.app_template_filter("robot_state_zh")
def robot_state_zh(code: str) -> str:
    """``已启用 enabled``: a robot state's Chinese name, then its code."""
    return _named(ROBOT_STATE_NAMES, code)


login_manager = LoginManager()
login_manager.login_view = "web.login"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


class LoginForm(FlaskForm):
    username = StringField("用户名 Username", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码 Password", validators=[DataRequired("请输入密码"), Length(max=256)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = auth.authenticate(form.username.data, form.password.data, request.remote_addr or "unknown")
        except Throttled as exc:
            error = f"登录失败次数过多，请 {exc.retry_after} 秒后再试 (too many failed sign-ins; try again in {exc.retry_after} s)"
            page = render_template("login.html", form=form, error=error)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        except auth.AuthError:
            error = "用户名或密码错误 (wrong username or password)"
        else:
            login_user(user)
            return redirect(url_for("web.status"))
    return render_template("login.html", form=form, error=error), (401 if error else 200)


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError):
    """A form without a valid CSRF token is shown again with a message, never an error page."""
    return render_template(
        "login.html", form=LoginForm(), error="页面已过期，请重新提交 (form expired, submit again)"
    ), 400


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("web.login"))


@bp.get("/")
@login_required
def status():
    """Executors online, recent runs, links."""
    require("run.read")
    overview = status_overview()
    return render_template(
        "status.html",
        online=overview.robots_online,
        total=overview.robots_total,
        recent=overview.recent_runs,
        robots=overview.robots,
        connections=len(hub_runtime().connections),
    )


@bp.get("/api/docs")
def api_docs():
    return render_template("api_docs.html")


@probes.get("/healthz")
def healthz():
    """Alive: the process answers."""
    return envelope({"status": "alive"})


@probes.get("/readyz")
def readyz():
    """Ready: the database and Redis answer (a load balancer stops sending traffic otherwise)."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise: this endpoint must answer
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        runtime().redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    if hub_runtime().connections.draining:
        checks["draining"] = "yes"
    if all(v == "ok" for v in checks.values()):
        return envelope(checks)
    resp = error_envelope(
        UNKNOWN_ERROR, "not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()), 503
    )
    return resp


def init_app(app: Flask) -> None:
    """Bind the portal's sign-in (CSRF is bound by the factory for every blueprint)."""
    login_manager.init_app(app)
