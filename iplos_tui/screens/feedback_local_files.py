"""The Feedback pane's local half: export an opened zip's tables into a new folder in the secure
directory, and delete a fetched zip (with its exports, when asked). A mixin of ``FeedbackScreen``
like ``GatewayFetching``; the flows are core's ``export_entries`` and ``delete_local``, run in
thread workers; the messages are handled by name (``on_local_file_actions_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message

from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text
from iplos_tui.dialogs.confirm import Choice, ConfirmDialog
from iplos_tui.dialogs.export import ExportDialog
from iplos_tui.screens.feedback_fetching import failure
from iplos_tui.widgets.feedback_format import shown_path, tilde, tn


class LocalFileActions:
    """``e`` exports, ``d`` deletes. Expects the pane's ``app``, ``archive``, ``secure_dir``,
    ``files``, ``status``, ``selected_row``, ``refresh_local`` and ``post_message``."""

    @dataclass
    class Exported(Message):
        paths: list[Path]
        target: Path
        error: str

    @dataclass
    class Deleted(Message):
        path: Path
        error: str

    # --- export ------------------------------------------------------------------------------

    def action_export(self) -> None:
        from iplos_tui.core.feedback.store import default_export_dir

        archive = self.archive
        if archive is None:
            return
        names = ", ".join(entry.display_name for entry in archive.entries)
        lines = [
            tn("feedback_screen.export_body", len(archive.entries), names=safe_text(names, one_line=True, limit=120)),
            t("feedback_screen.export_inside", secure=shown_path(self.secure_dir)),
        ]

        def answer(value: str | None) -> None:
            if value is None:
                self.status(t("feedback_screen.not_exported"))
                return
            target = Path(os.path.expanduser(value))
            self.status(t("feedback_screen.exporting", path=shown_path(target)))
            self._export_worker(archive, target, self.secure_dir)

        self.app.push_screen(ExportDialog(lines, tilde(default_export_dir(archive.source, self.secure_dir))), answer)

    @work(thread=True, exclusive=True, group="feedback-export", exit_on_error=False)
    def _export_worker(self, archive: Any, target: Path, secure: Path) -> None:
        from iplos_tui.core.feedback.store import OutsideSecureDir, export_entries
        from iplos_tui.core.fsutil import UnsafePathError

        try:
            paths, error = export_entries(archive, target, secure), ""
        except OutsideSecureDir:
            paths, error = [], t("feedback_screen.export_outside", path=shown_path(target), secure=shown_path(secure))
        except (OSError, UnsafePathError) as exc:
            paths, error = [], t("feedback_screen.export_failed", detail=safe_text(str(exc), one_line=True, limit=200))
        except Exception as exc:  # noqa: BLE001 - the core's refusals, said in words
            paths, error = [], failure(exc)
        self.post_message(self.Exported(paths, target, error))

    def on_local_file_actions_exported(self, message: LocalFileActions.Exported) -> None:
        if message.error:
            self.status(message.error, error=True)
            return
        self.status(tn("feedback_screen.exported", len(message.paths), path=shown_path(message.target)))

    # --- delete ------------------------------------------------------------------------------

    def action_delete(self) -> None:
        from iplos_tui.core.feedback.store import exports_of

        if self.archive is not None:
            return
        row = self.selected_row()
        if row is None or row.kind != "local" or row.path is None:
            self.status(t("feedback_screen.delete_local_only"), error=True)
            return
        path = row.path
        exports = exports_of(path.name, self.secure_dir)
        lines = [
            t("feedback_screen.delete_body", name=safe_text(row.name, one_line=True, limit=80)),
            t("feedback_screen.delete_where", path=shown_path(path.parent)),
        ]
        choices = [Choice("yes", t("feedback_screen.delete_yes"), key="j", danger=True)]
        if exports:
            lines.append(tn("feedback_screen.delete_exports_body", len(exports), paths=", ".join(shown_path(p) for p in exports)))
            choices = [
                Choice("yes", t("feedback_screen.delete_zip_only"), key="j", danger=True),
                Choice("all", t("feedback_screen.delete_with_exports"), key="a", danger=True),
            ]

        def answer(choice: str | None) -> None:
            if choice in ("yes", "all"):
                self._delete_worker(path, self.secure_dir, exports if choice == "all" else [])
            else:
                self.status(t("feedback_screen.not_deleted"))

        self.app.push_screen(ConfirmDialog(t("feedback_screen.delete_confirm_title"), lines, choices), answer)

    @work(thread=True, exclusive=True, group="feedback-delete", exit_on_error=False)
    def _delete_worker(self, path: Path, secure: Path, exports: list[Path]) -> None:
        from iplos_tui.core.feedback.store import delete_local

        try:
            delete_local(path, secure, exports=exports)
            error = ""
        except OSError as exc:
            error = t("feedback_screen.delete_failed", detail=safe_text(exc.strerror or str(exc), one_line=True))
        except Exception as exc:  # noqa: BLE001
            error = failure(exc)
        self.post_message(self.Deleted(path, error))

    def on_local_file_actions_deleted(self, message: LocalFileActions.Deleted) -> None:
        if message.error:
            self.status(message.error, error=True)
        else:
            self.files.fresh.discard(message.path.name)
            self.status(t("feedback_screen.deleted", name=safe_text(message.path.name, one_line=True, limit=80)))
        self.refresh_local()
