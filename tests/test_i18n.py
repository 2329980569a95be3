"""The one message catalog: every message in both languages with the same placeholders."""

from __future__ import annotations

import pytest

from iplos_tui.core import i18n


def test_every_message_has_both_languages_and_same_placeholders():
    for key, texts in i18n.catalog().items():
        assert set(texts) >= {"nb", "en"}, key
        assert texts["nb"].strip() and texts["en"].strip(), key
        assert i18n.placeholders(texts["nb"]) == i18n.placeholders(texts["en"]), key


def test_switching_language():
    assert i18n.t("app.mode_config") == "Profil"
    i18n.set_language("en")
    assert i18n.t("app.mode_config") == "Profile"
    assert i18n.t("config.saved", path="/x") == "Profile saved to /x."


def test_missing_key_and_bad_values_never_raise():
    assert i18n.t("no.such.key") == "no.such.key"
    assert i18n.t("config.saved") == "Profilen er lagret i {path}."
    with pytest.raises(ValueError):
        i18n.set_language("sv")
