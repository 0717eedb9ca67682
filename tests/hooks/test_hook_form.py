"""The hook's connection-form methods (Airflow 3.0/3.1) come from connection_fields.py."""

from __future__ import annotations

import importlib.util

from airflow_provider_gemini_batch.connection_fields import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_gemini_batch.get_provider_info import get_provider_info
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


def test_ui_field_behaviour_matches_the_provider_info() -> None:
    behaviour = GeminiBatchHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"]
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL"}
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["ui-field-behaviour"] == UI_FIELD_BEHAVIOUR
    assert conn_type["hook-class-name"].endswith(".GeminiBatchHook")


def test_form_widgets_cover_every_extra_when_the_fab_ui_is_installed() -> None:
    widgets = GeminiBatchHook.get_connection_form_widgets()
    if importlib.util.find_spec("flask_appbuilder") is None:
        # Airflow >= 3.2 without the FAB UI reads conn-fields from the provider info instead.
        assert widgets == {}
    else:
        assert set(widgets) == set(CONN_FIELDS)


def test_hook_identity_attributes() -> None:
    assert GeminiBatchHook.conn_name_attr == "gemini_conn_id"
    assert GeminiBatchHook.default_conn_name == "gemini_batch_default"
    assert GeminiBatchHook.conn_type == "gemini_batch"
    assert GeminiBatchHook(gemini_conn_id="x").gemini_conn_id == "x"
