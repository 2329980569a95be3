"""The https row (the Sendemodul's answer to one GET: status, Date, time to first byte; redirects
never followed) and the clock row (the local clock against the server's Date)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import HttpAnswer, http_get
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.endpoint import EndpointError, sendemodul_endpoint
from iplos_tui.core.preflight.evidence import connection_failure, http_evidence, http_failure, tls_failure
from iplos_tui.core.preflight.model import FAIL, PASS, SKIP, WARN, CheckResult, ms, result, show, utc

CLOCK_WARN_SECONDS = 180


def sendemodul_http(ctx: Context) -> HttpAnswer | EndpointError:
    """The Sendemodul's answer to one GET, shared by the http and clock checks."""

    def compute() -> HttpAnswer | EndpointError:
        try:
            endpoint = sendemodul_endpoint(ctx.profile)
        except EndpointError as exc:
            return exc
        return http_get(ctx, endpoint, ctx.deadline("http"))

    answer: HttpAnswer | EndpointError = ctx.memo("http:sendemodul", compute)
    return answer


def check_http(ctx: Context) -> CheckResult:
    answer = sendemodul_http(ctx)
    if isinstance(answer, EndpointError):
        return result("http", FAIL, str(answer), hint=t("preflight.hint.url"))
    conn = answer.conn
    timeout = ctx.timeouts["http"]
    if conn.stage in ("address", "tcp", "proxy"):
        _, detail, _ = connection_failure(conn, "http", timeout)
        return result("http", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tcp"))
    if conn.stage in ("tls", "pin"):
        detail, _ = tls_failure(conn, ctx.now(), {}, timeout)
        return result("http", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tls"))
    evidence = http_evidence(answer)
    if not answer.ok:
        status, detail, hint = http_failure(answer, timeout)
        return result("http", status, detail, evidence, hint)
    code = answer.status
    detail = t("preflight.http_status", status=code, reason=answer.reason, ms=ms(answer.ttfb))
    if 200 <= code < 300 or code == 401:
        return result("http", PASS, detail, evidence)
    if 300 <= code < 400:
        location = answer.headers.get("location", "-")
        return result("http", WARN, t("preflight.http_redirect", status=code, location=location), evidence, t("preflight.hint.http_redirect"))
    if code == 403:
        return result("http", WARN, detail, evidence, t("preflight.hint.http_403"))
    if 400 <= code < 500:
        return result("http", WARN, detail, evidence, t("preflight.hint.http_4xx"))
    return result("http", FAIL, detail, evidence, t("preflight.hint.http_5xx"))


def check_clock(ctx: Context) -> CheckResult:
    answer = sendemodul_http(ctx)
    if isinstance(answer, EndpointError) or not answer.ok or answer.received_at is None:
        return result("clock", SKIP, t("preflight.clock_no_answer"), hint=t("preflight.hint.see_http"))
    raw = answer.headers.get("date")
    if not raw:
        return result("clock", SKIP, t("preflight.clock_no_date"))
    try:
        server = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        server = None
    if server is None or server.tzinfo is None:
        return result("clock", SKIP, t("preflight.clock_bad_date", date=show(raw, 80)))
    local = answer.received_at
    offset = (local - server).total_seconds()
    evidence = [
        t("preflight.ev.server_date", date=show(raw, 80)),
        t("preflight.ev.local_clock", now=utc(local)),
        t("preflight.ev.offset", seconds=f"{offset:+.0f}"),
    ]
    if abs(offset) > CLOCK_WARN_SECONDS:
        direction = t("preflight.clock_ahead" if offset > 0 else "preflight.clock_behind")
        return result(
            "clock",
            WARN,
            t("preflight.clock_off", amount=duration(abs(offset)), direction=direction),
            evidence,
            t("preflight.hint.clock", minutes=CLOCK_WARN_SECONDS // 60),
        )
    return result("clock", PASS, t("preflight.clock_ok", seconds=f"{offset:+.0f}"), evidence)


def duration(seconds: float) -> str:
    if seconds < 120:
        return t("preflight.unit.seconds", n=int(seconds))
    if seconds < 7200:
        return t("preflight.unit.minutes", n=int(seconds // 60))
    if seconds < 172800:
        return t("preflight.unit.hours", n=int(seconds // 3600))
    return t("preflight.unit.days", n=int(seconds // 86400))


