"""The Preflight pane: the IT checklist as a table with a text mark per row, the selected row's
result, hint and evidence below, the whole check on Enter (every evidence line wrapped, the
commands to run by hand), run all (r), re-run one (e), cancel (c), tick a manual item (x), save the
report for IT (s). Checks run in a thread worker; rows update as each check finishes and
keep their age until they are run again."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from iplos_tui.core import preflight as pf
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text
from iplos_tui.screens.base import PaneScreen
from iplos_tui.screens.preflight_detail import CheckDetailScreen, check_detail

STATUS_STYLE = {
    pf.PASS: "bold green",
    pf.WARN: "bold yellow",
    pf.FAIL: "bold red",
    pf.SKIP: "dim",
    pf.MANUAL: "bold cyan",
    "running": "bold",
    "pending": "dim",
}
MARK_WIDTH, TITLE_WIDTH, AGE_WIDTH = 6, 20, 12
CELL_PADDING = 1  # DataTable's default, on each side of every column
MIN_DETAIL_WIDTH = 20


def age_text(delta: dt.timedelta) -> str:
    seconds = max(delta.total_seconds(), 0)
    if seconds < 5:
        return t("preflight.pane.age_now")
    if seconds < 60:
        return t("preflight.pane.age_seconds", n=int(seconds))
    if seconds < 3600:
        return t("preflight.pane.age_minutes", n=int(seconds // 60))
    if seconds < 86400:
        return t("preflight.pane.age_hours", n=int(seconds // 3600))
    return t("preflight.pane.age_days", n=int(seconds // 86400))


class PreflightScreen(PaneScreen):
    AUTO_FOCUS = "#preflight-table"
    DEFAULT_CSS = """
    #preflight-status {
        height: 1;
        padding: 0 1;
        text-style: bold;
    }
    #preflight-table {
        height: auto;
    }
    #preflight-detail-box {
        height: 1fr;
        border-top: solid $primary;
        border-title-color: $text;
        padding: 0 1;
    }
    #preflight-detail-box:focus-within {
        border-top: solid $accent;
    }
    #preflight-detail-box .check-line {
        padding-left: 2;
    }
    """
    BINDINGS = [
        Binding("r", "run_all", t("preflight.pane.run_all"), id="preflight.run_all"),
        Binding("f5", "run_all", t("preflight.pane.run_all"), show=False, id="preflight.run_all_alt"),
        Binding("e", "run_one", t("preflight.pane.run_one"), id="preflight.run_one"),
        Binding("c", "cancel", t("preflight.pane.cancel"), id="preflight.cancel"),
        Binding("x", "tick", t("preflight.pane.tick"), id="preflight.tick"),
        Binding("s", "report", t("preflight.pane.report"), id="preflight.report"),
    ]

    class CheckDone(Message):
        def __init__(self, result: pf.CheckResult) -> None:
            super().__init__()
            self.result = result

    class RunDone(Message):
        def __init__(self, ids: list[str], cancelled: bool, error: str = "") -> None:
            super().__init__()
            self.ids = ids
            self.cancelled = cancelled
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, pf.CheckResult] = {i: pf.pending_result(i) for i in pf.CHECK_IDS}
        self.finished_at: dict[str, dt.datetime | None] = dict.fromkeys(pf.CHECK_IDS)
        self.running: set[str] = set()
        self.last_run_at: dt.datetime | None = None
        self._cancel: threading.Event | None = None
        self._cancelling = False
        self._detail_width = 0

    # --- layout -------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="preflight-status")
        yield DataTable(id="preflight-table", cursor_type="row", zebra_stripes=False)
        yield VerticalScroll(id="preflight-detail-box")

    def on_mount(self) -> None:
        self._build_table()
        self._refresh_status()
        self._refresh_detail()
        self.set_interval(5, self._tick_ages)

    def on_resize(self) -> None:
        if self._wanted_detail_width() != self._detail_width:
            self._build_table()

    def _wanted_detail_width(self) -> int:
        fixed = MARK_WIDTH + TITLE_WIDTH + AGE_WIDTH + 4 * 2 * CELL_PADDING + 1
        return max(self.size.width - fixed, MIN_DETAIL_WIDTH)

    @property
    def table(self) -> DataTable:
        return self.query_one("#preflight-table", DataTable)

    def _build_table(self) -> None:
        table = self.table
        cursor = table.cursor_row if table.row_count else 0
        table.clear(columns=True)
        self._detail_width = self._wanted_detail_width()
        table.add_column(t("preflight.pane.col_status"), width=MARK_WIDTH, key="mark")
        table.add_column(t("preflight.pane.col_check"), width=TITLE_WIDTH, key="title")
        table.add_column(t("preflight.pane.col_result"), width=self._detail_width, key="detail")
        table.add_column(t("preflight.pane.col_age"), width=AGE_WIDTH, key="age")
        for check_id in pf.CHECK_IDS:
            table.add_row(*self._cells(check_id), key=check_id)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def _state(self, check_id: str) -> str:
        if check_id in self.running:
            return "running"
        if self.finished_at[check_id] is None:
            return "pending"
        return self.results[check_id].status

    def _cells(self, check_id: str) -> tuple[Text, Text, Text, Text]:
        result = self.results[check_id]
        state = self._state(check_id)
        mark = t(f"preflight.mark.{state}")
        style = STATUS_STYLE.get(state, "")
        detail = safe_text(result.detail, one_line=True, limit=self._detail_width or None)
        return (
            Text(mark, style=style, no_wrap=True),
            Text(safe_text(result.title, one_line=True, limit=TITLE_WIDTH), no_wrap=True),
            Text(detail, no_wrap=True, style="dim" if state in ("pending", "running") else ""),
            Text(self._age(check_id), style="dim", no_wrap=True),
        )

    def _age(self, check_id: str) -> str:
        finished = self.finished_at[check_id]
        if finished is None:
            return ""
        return age_text(self.app.now() - finished)  # type: ignore[attr-defined]

    def _update_row(self, check_id: str) -> None:
        table = self.table
        for key, cell in zip(("mark", "title", "detail", "age"), self._cells(check_id)):
            table.update_cell(check_id, key, cell)

    def _tick_ages(self) -> None:
        for check_id in pf.CHECK_IDS:
            if self.finished_at[check_id] is not None:
                self.table.update_cell(check_id, "age", Text(self._age(check_id), style="dim", no_wrap=True))
        self._refresh_status()

    def selected_id(self) -> str:
        table = self.table
        row = table.cursor_row if table.row_count else 0
        return pf.CHECK_IDS[max(0, min(row, len(pf.CHECK_IDS) - 1))]

    def _refresh_status(self) -> None:
        status = self.query_one("#preflight-status", Static)
        if self.running:
            text = t("preflight.pane.cancelling") if self._cancelling else t(
                "preflight.pane.running", count=len(self.running), seconds=pf.seconds_text(self._timeout())
            )
            status.update(Content(text))
            return
        if self.last_run_at is None:
            status.update(Content(t("preflight.pane.never_run")))
            return
        done = [self.results[i] for i in pf.CHECK_IDS if self.finished_at[i] is not None]
        counts = pf.summary_counts(done)
        text = t(
            "preflight.pane.summary",
            ok=counts[pf.PASS],
            warn=counts[pf.WARN],
            fail=counts[pf.FAIL],
            manual=counts[pf.MANUAL],
            age=age_text(self.app.now() - self.last_run_at),  # type: ignore[attr-defined]
        )
        style = "red" if counts[pf.FAIL] else "yellow" if counts[pf.WARN] or counts[pf.MANUAL] else "green"
        status.update(Content.styled(text, style))

    def _state_line(self, check_id: str) -> str:
        if self.finished_at[check_id] is None:
            return ""
        result = self.results[check_id]
        return f"{t(f'preflight.status_name.{result.status}')} · {result.elapsed_ms:.0f} ms · {self._age(check_id)}"

    def _refresh_detail(self) -> None:
        check_id = self.selected_id()
        result = self.results[check_id]
        state = self._state(check_id)
        box = self.query_one("#preflight-detail-box", VerticalScroll)
        box.border_title = Content(f"{t(f'preflight.mark.{state}')} {safe_text(result.title, one_line=True)}")
        parts = check_detail(result, self._state_line(check_id), in_pane=True)
        if state == "pending":
            parts.append(Static(Content(t("preflight.pane.intro"))))
        box.remove_children()
        box.mount_all(parts)
        box.scroll_home(animate=False)

    @on(DataTable.RowHighlighted, "#preflight-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._refresh_detail()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows what can be done now: cancel while running, tick on a manual row."""
        if action == "cancel":
            return bool(self.running)
        if action in ("run_all", "run_one"):
            return not self.running
        if action == "tick":
            return self.table.row_count > 0 and self.selected_id() in pf.MANUAL_CHECKS
        return True

    @on(DataTable.RowSelected, "#preflight-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def action_details(self) -> None:
        """Enter: the selected check in full, wrapped, with the commands to run by hand."""
        check_id = self.selected_id()
        self.app.push_screen(CheckDetailScreen(self.results[check_id], self._state_line(check_id)))

    # --- results from outside (tests, snapshots) and from the worker --------------------------

    def show_results(self, results: Iterable[pf.CheckResult], finished_at: dt.datetime, *, as_run: bool = True) -> None:
        """Put finished results into the table as if a run had ended at ``finished_at``."""
        for result in results:
            self.results[result.id] = result
            self.finished_at[result.id] = finished_at
            self._update_row(result.id)
        if as_run or self.last_run_at is None:
            self.last_run_at = finished_at
        self._refresh_status()
        self._refresh_detail()

    @on(CheckDone)
    def _check_done(self, message: CheckDone) -> None:
        result = message.result
        if result.id not in self.running:
            return  # a late answer from a cancelled run
        self.running.discard(result.id)
        self.results[result.id] = result
        self.finished_at[result.id] = self.app.now()  # type: ignore[attr-defined]
        self._update_row(result.id)
        if result.id == self.selected_id():
            self._refresh_detail()
        self._refresh_status()

    @on(RunDone)
    def _run_done(self, message: RunDone) -> None:
        for check_id in list(self.running):
            self.running.discard(check_id)
            self._update_row(check_id)
        self._cancel = None
        self._cancelling = False
        self.last_run_at = self.app.now()  # type: ignore[attr-defined]
        if message.error:
            self.notify(message.error, severity="error", markup=False)
        self._refresh_status()
        self._refresh_detail()
        self.refresh_bindings()

    # --- actions ------------------------------------------------------------------------------

    def _timeout(self) -> float:
        options = self._options()
        return float(options.get("timeout") or self.app.profile.preflight_timeout)  # type: ignore[attr-defined]

    def _options(self) -> dict[str, Any]:
        return dict(self.app.services.get("preflight", {}))  # type: ignore[attr-defined]

    def start(self, ids: list[str]) -> bool:
        if self.running:
            self.notify(t("preflight.pane.busy"), severity="warning", markup=False)
            return False
        self._cancel = threading.Event()
        self._cancelling = False
        self.running = set(ids)
        for check_id in ids:
            self._update_row(check_id)
        self._refresh_status()
        self._refresh_detail()
        self._run_worker(ids, self.app.profile, self._cancel)  # type: ignore[attr-defined]
        self.refresh_bindings()
        return True

    @work(thread=True, exclusive=True, group="preflight", exit_on_error=False)
    def _run_worker(self, ids: list[str], profile, cancel: threading.Event) -> None:
        error = ""
        try:
            results = pf.run_checks(
                profile,
                only=ids,
                cancel=cancel,
                progress=lambda result: self.post_message(self.CheckDone(result)),
                **self._options(),
            )
            if not cancel.is_set() and set(ids) == set(pf.CHECK_IDS):  # the fleet's board shows it
                from iplos_tui.core.fleet.seen import remember_preflight

                remember_preflight(profile.secure_dir, results, self.app.now())  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - shown, never a crash of the pane
            error = safe_text(f"{type(exc).__name__}: {exc}", one_line=True, limit=200)
        self.post_message(self.RunDone(ids, cancel.is_set(), error))

    def action_run_all(self) -> None:
        self.start(list(pf.CHECK_IDS))

    def action_run_one(self) -> None:
        self.start([self.selected_id()])

    def action_cancel(self) -> None:
        if self._cancel is not None and self.running:
            self._cancel.set()
            self._cancelling = True
            self._refresh_status()

    def action_tick(self) -> None:
        from iplos_tui.core import config as cfg
        from iplos_tui.core.profiles import save_checked

        check_id = self.selected_id()
        attr = pf.MANUAL_CHECKS.get(check_id)
        if attr is None:
            self.notify(t("preflight.pane.not_manual"), severity="warning", markup=False)
            return
        app = self.app
        profile = app.profile.replace(**{attr: not getattr(app.profile, attr)})  # type: ignore[attr-defined]
        path = app.config_path  # type: ignore[attr-defined]
        try:
            if path is None:
                path, _ = cfg.resolve_config_path(None)
            save_checked(profile, path)
        except (cfg.ConfigError, OSError) as exc:
            self.notify(t("preflight.pane.tick_not_saved", error=safe_text(str(exc), one_line=True)), severity="error", markup=False)
        else:
            app.config_path = path  # type: ignore[attr-defined]
            self.notify(t("preflight.pane.ticked" if getattr(profile, attr) else "preflight.pane.unticked"), markup=False)
        app.set_profile(profile)  # type: ignore[attr-defined]
        # The manual items are local and instant: judge them at once, without a worker.
        result = pf.run_checks(profile, only=[check_id])[0]
        self.show_results([result], self.app.now(), as_run=False)  # type: ignore[attr-defined]

    def action_report(self) -> None:
        if all(self.finished_at[i] is None for i in pf.CHECK_IDS):
            self.notify(t("preflight.pane.nothing_to_report"), severity="warning", markup=False)
            return
        results = [self.results[i] for i in pf.CHECK_IDS]
        self._report_worker(results, self.app.profile, self.app.config_path, self.app.now())  # type: ignore[attr-defined]

    @work(thread=True, group="preflight-report", exit_on_error=False)
    def _report_worker(self, results, profile, config_path, when: dt.datetime) -> None:
        try:
            path = pf.write_report(results, profile, generated_at=when, config_path=config_path)
        except pf.ReportError as exc:
            message, severity = t("preflight.pane.report_failed", error=str(exc)), "error"
        else:
            message, severity = t("preflight.report.saved", path=safe_text(str(path))), "information"
        self.app.call_from_thread(self.notify, safe_text(message), severity=severity, markup=False, timeout=15)

    async def demo_state(self, pilot: Any) -> None:
        """For the README picture (scripts/make_screens.py): a typical first run, tcp selected."""
        self.show_results(demo_results(), self.app.now() - dt.timedelta(minutes=2))  # type: ignore[attr-defined]
        self.table.move_cursor(row=pf.CHECK_IDS.index("tcp"))
        await pilot.pause()

    def palette_commands(self) -> Iterable[SystemCommand]:
        for action, key in (
            (self.action_run_all, "run_all"),
            (self.action_run_one, "run_one"),
            (self.action_details, "details"),
            (self.action_cancel, "cancel"),
            (self.action_tick, "tick"),
            (self.action_report, "report"),
        ):
            yield SystemCommand(t(f"preflight.pane.{key}"), t(f"preflight.pane.{key}_help"), action)


def demo_results() -> list[pf.CheckResult]:
    """Fixed results for pictures and snapshots: the usual story of a closed firewall."""
    host, address, source = "iplos.nhn.no", "91.186.94.110", "10.20.1.15"
    where = f"{address}:443"
    no_tcp = t("preflight.tcp_timeout", where=where, seconds="5")
    servers = ("10.20.0.53", "10.20.0.54")
    ns = t("preflight.ns_source.system")

    def result(check_id: str, status: str, detail: str, evidence=(), hint: str = "", ms: float = 1, commands=()) -> pf.CheckResult:
        return pf.CheckResult(check_id, pf.title_of(check_id), status, detail, list(evidence), hint, ms, list(commands))

    resolver_rows = []
    for server, took in zip(servers, ("2.1", "2.4")):
        resolver_rows.append(f"{server} A: {address} · TTL 3600 · {t('preflight.ev.ns_not_authoritative')} · {took} ms")
        resolver_rows.append(f"{server} AAAA: {t('preflight.ev.ns_nodata', qtype='AAAA')} · {t('preflight.ev.ns_not_authoritative')} · {took} ms")
    dns_evidence = [
        t("preflight.ev.lookup_system"), t("preflight.ev.name", host=host), t("preflight.ev.address", address=address),
        t("preflight.ev.dns_time", ms="2.6"), t("preflight.ev.expected_found", address=address),
        t("preflight.ev.ns_header", servers=", ".join(f"{s} ({ns})" for s in servers)), *resolver_rows,
    ]
    dns_commands = [f"getent ahosts {host}"] + [c for s in servers for c in (f"dig @{s} {host} A", f"nslookup {host} {s}")]
    tcp_commands = [f"ip route get {address}", f"nc -zv -w 5 {address} 443", f"tracepath -n {address}", f"mtr -T -P 443 {address}"]
    tcp_hint = t("preflight.hint.tcp_timeout", address=address, port=443) + " " + t("preflight.hint.tcp_next", seconds="5")
    return [
        result("dns", pf.PASS, t("preflight.dns_ok", host=host, addresses=address), dns_evidence, ms=3, commands=dns_commands),
        result("proxy", pf.SKIP, t("preflight.proxy_none"), ms=0),
        result("tcp", pf.FAIL, no_tcp,
               [t("preflight.ev.source_dns", host=host), t("preflight.ev.tcp_timeout", where=where, ms="5000.0"),
                t("preflight.ev.route_via", address=address, gateway="10.20.1.1", interface="ens192", source=source)],
               tcp_hint, 5001, tcp_commands),
        result("tls", pf.SKIP, t("preflight.not_tested", reason=no_tcp), hint=t("preflight.hint.see_tcp"), ms=5001),
        result("http", pf.SKIP, t("preflight.not_tested", reason=no_tcp), hint=t("preflight.hint.see_tcp"), ms=5001),
        result("clock", pf.SKIP, t("preflight.clock_no_answer"), hint=t("preflight.hint.see_http"), ms=5001),
        result("ssb_certificate", pf.PASS, t("preflight.cert_ok", key="RSA 4096", until="2019-01-31", year=2017), ms=12),
        result("tpf_certificate", pf.WARN, t("preflight.cert_fetched_early", when="2017-11-20", year=2017), hint=t("preflight.hint.cert_refetch", year=2017), ms=11),
        result("secure_dir", pf.PASS, t("preflight.dir_ok", mode="0700", gib="41.2")),
        result("profile", pf.PASS, t("preflight.profile_ok")),
        result("feedback_gateway", pf.PASS, t("preflight.gateway_moveit", name="Statistisk sentralbyrå"),
               [t("preflight.ev.moveit_org", name="Statistisk sentralbyrå", short="SSB", org_id="5281")], ms=48),
        result("spam_allowlist", pf.MANUAL, t("preflight.manual.spam_allowlist"), hint=t("preflight.hint.manual"), ms=0),
        result("postmottak_routing", pf.PASS, t("preflight.manual_confirmed"), [t("preflight.manual.postmottak_routing")], ms=0),
    ]
