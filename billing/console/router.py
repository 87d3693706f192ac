"""The operator console at /console: server-rendered pages, forms with CSRF tokens.

Routes are plain sync functions (the thread pool runs them); reads use the
read-only sessions, actions one write transaction through the same service
functions the API calls, so every action lands in the ledger the same way.
Nothing here is in the OpenAPI document: it is not an API.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any, ParamSpec
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from billing import actors, money
from billing.api.config_version import pinned_snapshot
from billing.balances import service as balances
from billing.catalog.router import get_fetcher
from billing.console import auth, formatting, pages, queries
from billing.errors import BillingError, InvalidRequest
from billing.group_commit import run_transaction
from billing.runtime import ConfigSnapshot, Runtime

router = APIRouter(include_in_schema=False)
P = ParamSpec("P")

_templates = Environment(
    loader=PackageLoader("billing.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(
    credits=formatting.credits, tokens=formatting.tokens, when=formatting.when, iso=formatting.iso
)
_STATIC = {"console.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
_SECURITY_HEADERS = {
    # Nothing but this origin's stylesheet: no script runs on any console page.
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "cache-control": "no-store",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
_create_lock = threading.Lock()


class Console:
    """Per-app console state: session signing and the spend ranking."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.sessions = auth.Sessions(settings, runtime.api_keys)
        self.ranking = queries.SpendRanking(
            runtime.read_sessions, lambda: runtime.clock(), settings.console_ranking_seconds
        )


def warm_up(app: Any) -> None:
    """At start: begin the first spend ranking in the background, so the first
    console page after a (re)start need not wait for it (~0.5 s at 100,000 users)."""
    _console_of(app.state).ranking.warm()


def _console(request: Request) -> Console:
    return _console_of(request.app.state)


def _console_of(state: Any) -> Console:
    console: Console | None = getattr(state, "console", None)
    if console is None:
        with _create_lock:
            console = getattr(state, "console", None)
            if console is None:
                console = state.console = Console(state.runtime)
    return console


class _Answer(Exception):
    """Stop handling and send this response (a redirect or a refusal page)."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class Visit:
    request: Request
    runtime: Runtime
    console: Console
    session: auth.Session
    snapshot: ConfigSnapshot  # the request's config, pinned by billing/api/front.py
    new_cookie: bool = False
    notice: str | None = None

    @property
    def can_act(self) -> bool:
        return self.session.can_act

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        config = self.snapshot.config
        body = _templates.get_template(template).render(
            operator=self.session,
            keyless=self.console.sessions.keyless,
            csrf_token=self.console.sessions.csrf_token(self.session),
            currency=pages.currency_of(config),
            notice=self.notice,
            path=self.request.url.path,
            **context,
        )
        response = HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)
        if self.new_cookie:
            _set_cookie(response, self)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303, headers=_SECURITY_HEADERS)
        if self.new_cookie:
            _set_cookie(response, self)
        return response


def _set_cookie(response: Response, visit: Visit) -> None:
    sessions = visit.console.sessions
    response.set_cookie(
        auth.COOKIE,
        sessions.dump(visit.session),
        max_age=sessions.lifetime_seconds,
        path=auth.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=visit.request.url.scheme == "https",
    )


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else None
    if host is None:
        return True  # test clients and unix sockets have no address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # e.g. "testclient": not a network peer


def _visit(request: Request, *, signed_in: bool = True) -> Visit:
    """The request's session; with ``signed_in``, a signed-in one or a redirect to sign in."""
    runtime: Runtime = request.app.state.runtime
    console = _console(request)
    sessions = console.sessions
    session, ended = sessions.load(request.cookies.get(auth.COOKIE), runtime.clock())
    new_cookie = session is None or ended is not None
    if session is None:
        session = auth.new_session()
    if sessions.keyless:
        # As for the API: with no key configured only loopback callers are served,
        # and they may act (there is nobody to sign in as).
        if not _is_loopback(request):
            raise _Answer(
                _refusal(401, "No API key is configured: only loopback clients are served.")
            )
        if not session.signed_in:
            session = auth.Session(session.nonce, actors.LOOPBACK, auth.ADMIN, 0)
    snapshot = pinned_snapshot(request.scope, runtime)
    visit = Visit(request, runtime, console, session, snapshot, new_cookie)
    if signed_in and not session.signed_in:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": target}
        if ended:
            query["ended"] = "1"
        raise _Answer(visit.redirect(f"/console/login?{urlencode(query)}"))
    return visit


def _refusal(status: int, message: str, back: str = "/console") -> HTMLResponse:
    body = _templates.get_template("refused.html").render(status=status, message=message, back=back)
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind the console's forms send)."""
    raw = await request.body()
    parsed = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in parsed.items()}


def _checked(visit: Visit, form: dict[str, str], *, act: bool) -> None:
    """Refuse a form without this session's CSRF token, or an action by a read key."""
    if not visit.console.sessions.csrf_ok(visit.session, form.get("csrf_token")):
        raise _Answer(
            _refusal(
                403,
                "This form's security token is missing or out of date: go back, "
                "reload the page and submit it again.",
            )
        )
    if act and not visit.can_act:
        raise _Answer(_refusal(403, "Your API key has the read scope: it can look, not act."))


def _page(handler: Callable[P, Any]) -> Callable[P, Any]:
    """Turn _Answer into its response and domain errors into an error page."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await handler(*args, **kwargs)
        except _Answer as answer:
            return answer.response
        except BillingError as exc:
            return _refusal(exc.status_code, exc.detail)

    return wrapper


def _read(runtime: Runtime, work: Callable[..., Any], *args: Any) -> Any:
    with runtime.read_sessions() as session:
        return work(session, *args)


async def _in_thread(work: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(work, *args)


# --- static files -------------------------------------------------------------------------


@router.get("/console/static/{name}")
def static_file(name: str) -> Response:
    media_type = _STATIC.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("billing.console").joinpath("static", name).read_bytes()
    return Response(data, media_type=media_type, headers={"cache-control": "max-age=3600"})


# --- sign-in ----------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


@router.get("/console/login")
@_page
async def login_form(request: Request) -> Response:
    visit = _visit(request, signed_in=False)
    if visit.session.signed_in:
        return visit.redirect(_safe_next(request.query_params.get("next")))
    visit.console.ranking.warm()
    notice = None
    if request.query_params.get("ended"):
        notice = "Your session ended: sign in again."
    elif request.query_params.get("signed_out"):
        notice = "You are signed out."
    visit.notice = notice
    return visit.render("login.html", next=_safe_next(request.query_params.get("next")), error=None)


@router.post("/console/login")
@_page
async def login(request: Request) -> Response:
    visit = _visit(request, signed_in=False)
    form = await _form(request)
    _checked(visit, form, act=False)
    target = _safe_next(form.get("next"))
    found = visit.console.sessions.authenticate(form.get("api_key", "").strip())
    if found is None:
        return visit.render(
            "login.html", status=401, next=target, error="That API key is not valid."
        )
    ident, role = found
    if role is None:
        error = "That API key has neither the read nor the admin scope: it cannot sign in."
        return visit.render("login.html", status=403, next=target, error=error)
    visit.session = visit.console.sessions.sign_in(ident, role, visit.runtime.clock())
    visit.new_cookie = True
    return visit.redirect(target)


@router.post("/console/logout")
@_page
async def logout(request: Request) -> Response:
    visit = _visit(request, signed_in=False)
    form = await _form(request)
    _checked(visit, form, act=False)
    visit.session = auth.new_session()
    visit.new_cookie = True
    return visit.redirect("/console/login?signed_out=1")


# --- pages ------------------------------------------------------------------------------------


@router.get("/console")
@_page
async def overview(request: Request) -> Response:
    visit = _visit(request)
    runtime, snapshot = visit.runtime, visit.snapshot
    ranking = await _in_thread(visit.console.ranking.get)
    data = await _in_thread(
        _read, runtime, pages.overview, snapshot.config, snapshot.prices, ranking, runtime.clock()
    )
    return visit.render("overview.html", **data)


@router.get("/console/users")
@_page
async def users(request: Request) -> Response:
    visit = _visit(request)
    params = request.query_params
    prefix = params.get("q", "").strip()[:200]
    sort = params.get("sort", "user")
    if sort not in queries.SORTS:
        sort = "user"
    cursor = params.get("cursor") or None
    ranking = await _in_thread(visit.console.ranking.get)
    page = await _in_thread(
        _read,
        visit.runtime,
        lambda session: queries.list_users(
            session, ranking, prefix=prefix, sort=sort, cursor=cursor
        ),
    )
    currency = pages.currency_of(visit.snapshot.config)
    rows = [
        {
            "row": row,
            "balance": pages.amount(row.amount_micro, currency),
            "spend": pages.amount(ranking.spend.get(row.user_id, 0), currency),
        }
        for row in page.rows
    ]
    next_url = None
    if page.next_cursor is not None:
        next_url = "/console/users?" + urlencode(
            {"q": prefix, "sort": sort, "cursor": page.next_cursor}
        )
    return visit.render(
        "users.html",
        rows=rows,
        q=prefix,
        sort=sort,
        sorts=queries.SORTS,
        next_url=next_url,
        first_page=cursor is None,
        ranking_at=ranking.computed_at,
        ranking_days=queries.RANKING_DAYS,
    )


def user_url(user_id: str, **extra: str) -> str:
    return "/console/user?" + urlencode({"id": user_id, **extra})


_templates.globals.update(
    user_url=user_url,
    conversation_url=lambda conversation_id: (
        "/console/conversation?" + urlencode({"id": conversation_id})
    ),
)


_NOTICES = {
    "granted": "Credits granted: the grant is in the ledger below.",
    "set": "Balance set: the difference is in the ledger below.",
    "unchanged": "The balance already had that value: no ledger row was written.",
}


@router.get("/console/user")
@_page
async def user(request: Request) -> Response:
    visit = _visit(request)
    user_id = request.query_params.get("id", "")
    if not user_id:
        raise InvalidRequest("Name a user: /console/user?id=<user id>.")
    cursor_text = request.query_params.get("ledger", "")
    cursor = int(cursor_text) if cursor_text.isdigit() and len(cursor_text) <= 18 else None
    runtime = visit.runtime
    data = await _in_thread(
        _read, runtime, pages.user, visit.snapshot.config, user_id, runtime.clock(), cursor
    )
    visit.notice = _NOTICES.get(request.query_params.get("done", ""))
    return visit.render("user.html", **data)


@router.get("/console/conversation")
@_page
async def conversation(request: Request) -> Response:
    visit = _visit(request)
    conversation_id = request.query_params.get("id", "")
    if not conversation_id:
        raise InvalidRequest("Name a conversation: /console/conversation?id=<conversation id>.")
    runtime = visit.runtime
    data = await _in_thread(
        _read, runtime, pages.conversation, visit.snapshot.config, conversation_id
    )
    return visit.render("conversation.html", **data)


@router.get("/console/pricing")
@_page
async def pricing(request: Request) -> Response:
    visit = _visit(request)
    runtime = visit.runtime
    fetcher = get_fetcher(request, runtime)
    data = await _in_thread(pages.pricing, visit.snapshot.prices, fetcher)
    return visit.render("pricing.html", **data)


# --- actions (admin) --------------------------------------------------------------------------

_ACTIONS = {
    "grant": (
        "amount",
        "Grant credits",
        "a positive amount adds credits, a negative one removes them",
    ),
    "set-balance": ("credits", "Set the balance", "the new balance in credits"),
}


def _amount(form: dict[str, str], name: str) -> Decimal:
    text = form.get(name, "").strip().replace(",", "")
    try:
        value = money.to_decimal(text)
    except money.MoneyError:
        raise InvalidRequest(f"{name}: enter a number of credits such as 1000 or 12.5") from None
    if abs(value) >= Decimal(10) ** 13:
        raise InvalidRequest(f"{name}: that is more credits than a balance can hold")
    return value


@router.post("/console/user/{action}")
@_page
async def act(action: str, request: Request) -> Response:
    """Two steps: ``review`` shows what will happen; ``confirm`` does it."""
    visit = _visit(request)
    form = await _form(request)
    _checked(visit, form, act=True)
    if action not in _ACTIONS:
        return _refusal(404, "No such action.")
    field, title, _ = _ACTIONS[action]
    user_id = form.get("user_id", "")
    runtime = visit.runtime
    config = visit.snapshot.config
    currency = pages.currency_of(config)
    try:
        value = _amount(form, field)
        if action == "grant" and money.micro_from_credits(value) == 0:
            raise InvalidRequest("amount: must not be zero (nor round to zero micro-credits)")
    except InvalidRequest as exc:
        return _refusal(422, exc.detail, back=user_url(user_id))
    reason = form.get("reason", "").strip()[:500] or None
    current = await _in_thread(_read, runtime, balances.get_balance, user_id, runtime.clock())
    micro = money.micro_from_credits(value)
    after = current.amount_micro + micro if action == "grant" else micro
    if form.get("step") != "confirm":
        return visit.render(
            "confirm.html",
            action=action,
            title=title,
            field=field,
            value=money.format_decimal(value),
            user_id=user_id,
            reason=reason or "",
            before=pages.amount(current.amount_micro, currency),
            after=pages.amount(after, currency),
            change=pages.amount(after - current.amount_micro, currency),
            # A double-submitted confirmation grants once (the API's idempotency key).
            idempotency_key=secrets.token_urlsafe(18),
        )
    now = runtime.clock()
    if action == "grant":
        key = form.get("idempotency_key") or None
        await _in_thread(
            run_transaction,
            runtime.sessions,
            lambda session: balances.grant(
                session,
                config,
                user_id,
                value,
                reason=reason,
                idempotency_key=key and f"console:{key}",
                now=now,
                actor=visit.session.key,
            ),
        )
        done = "granted"
    else:
        before = current.amount_micro
        await _in_thread(
            run_transaction,
            runtime.sessions,
            lambda session: balances.set_balance(
                session, config, user_id, value, reason=reason, now=now, actor=visit.session.key
            ),
        )
        done = "set" if micro != before else "unchanged"
    return visit.redirect(user_url(user_id, done=done))
