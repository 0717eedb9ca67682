"""Airflow discovers the provider through its entry point, with everything it declares importable."""

from __future__ import annotations

import importlib
from importlib.metadata import distribution

from airflow_provider_gemini_batch.connection_fields import CONN_FIELDS
from airflow_provider_gemini_batch.get_provider_info import get_provider_info
from airflow_provider_gemini_batch.plugins.docs_page import DOCS_LINK

DIST = "airflow-provider-gemini-batch"


def test_package_name_is_the_distribution_name_and_entry_point_resolves() -> None:
    info = get_provider_info()
    assert info["package-name"] == DIST
    entry_points = [ep for ep in distribution(DIST).entry_points if ep.group == "apache_airflow_provider"]
    assert len(entry_points) == 1
    assert entry_points[0].load()() == info


def test_every_declared_module_and_class_imports() -> None:
    info = get_provider_info()
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for e in info[kind]
        for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for path in [*info["extra-links"], info["connection-types"][0]["hook-class-name"]]:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)


def test_providers_manager_lists_the_provider_hook_and_form_fields() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert DIST in manager.providers
    hooks = manager.hooks  # the connection-type registry (deprecated alias on 3.3, still authoritative)
    assert hooks["gemini_batch"].hook_class_name.endswith("GeminiBatchHook")
    widgets = manager.connection_form_widgets
    for field in CONN_FIELDS:
        assert f"extra__gemini_batch__{field}" in widgets
    assert widgets["extra__gemini_batch__keyfile_dict"].is_sensitive
    behaviour = manager.field_behaviours["gemini_batch"]
    assert behaviour["relabeling"]["password"] == "API key"


def test_admin_providers_page_gets_a_documentation_url_and_the_plugin_is_not_listed_twice() -> None:
    """Airflow reads ``Project-URL: Documentation`` for Admin > Providers (3.3.2 providers_discovery);
    the plugin comes from the ``airflow.plugins`` entry point only (listing it in provider info too
    would register it twice with lazy discovery off)."""
    urls = dict(entry.split(", ", 1) for entry in distribution(DIST).metadata.get_all("Project-URL") or [])
    assert urls["Documentation"] == DOCS_LINK
    assert "plugins" not in get_provider_info()


def test_admin_providers_row_links_this_providers_page_and_no_guess() -> None:
    """Admin > Providers links this provider's own reference page (the plugin's ``/docs/`` route,
    served test in tests/plugins/test_docs_page.py), not Google's API page and not the guess the UI
    makes when ``documentation_url`` is None (an airflow.apache.org page that does not exist for a
    third-party provider). The integration's ``external-doc-url`` describes the external service,
    as in Airflow's own providers (smtp: the RFC, openlineage: openlineage.io); nothing in
    Airflow 3.3's UI shows it."""
    from airflow.api_fastapi.core_api.services.public.providers import _provider_mapper
    from airflow.providers_manager import ProvidersManager

    row = _provider_mapper(ProvidersManager().providers[DIST])
    assert row.documentation_url == DOCS_LINK
    (integration,) = get_provider_info()["integrations"]
    assert integration["external-doc-url"] == "https://ai.google.dev/gemini-api/docs/batch-api"
