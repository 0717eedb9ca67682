"""The provider's built-in reference page, the target of Admin > Providers' "Documentation" link.

No documentation site is published, so the link leads here: a page served by the provider's own
sub-app, built from the installed package itself (its version, the connection form's fields, the
docstrings of every operator and the sensor), so it always describes the code that is running.

How the link reaches it (Airflow 3.3.2): the providers manager reads the distribution's
``Project-URL: Documentation`` (``_shared/providers_discovery/providers_discovery.py``, overwriting
anything provider info says) and the Providers page renders it as a plain ``<a href target=_blank>``
(``ui/dist`` assets, the ``package_name`` column). The UI's ``index.html`` sets ``<base
href="{backend_server_base_url}">``, the API server's root path, so the relative URL
:data:`DOCS_LINK` resolves to this page whatever root path Airflow is served under; an absolute
``/gemini-batch/docs/`` would break under ``[api] base_url`` with a path.

The page keeps the plugin's promises (``app.py``): a logged-in user with access to the Providers
view only (Airflow's ``requires_access_view``; a browser without a login gets the login page),
every value escaped (:mod:`.markup`), no script, a strict CSP, no secret (it reads no connection).
"""

from __future__ import annotations

import inspect
from typing import Any

from airflow_provider_gemini_batch import __version__
from airflow_provider_gemini_batch.plugins.markup import Markup, html, join

#: The route under the plugin's prefix (``/gemini-batch``).
DOCS_ROUTE = "/docs/"
#: ``Project-URL: Documentation`` (pyproject.toml): relative, resolved against the UI's ``<base>``.
DOCS_LINK = "gemini-batch/docs/"

#: Public classes documented on the page, in pipeline order (import path, class name).
DOCUMENTED: tuple[tuple[str, str], ...] = (
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiUploadFileOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiCreateBatchOperator"),
    ("airflow_provider_gemini_batch.sensors.gemini_batch", "GeminiBatchSensor"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiBatchResultsOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiDeleteFileOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiDeleteBatchOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiCancelBatchOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiUpdateBatchPriorityOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiSplitInputOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiMergeShardsOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiBuildResubmissionOperator"),
    ("airflow_provider_gemini_batch.operators.gemini_batch", "GeminiMergeResubmissionOperator"),
)

_STYLE = html(
    """
body{{font:14px/1.5 system-ui,sans-serif;margin:16px auto;max-width:960px;color:#1a202c}}
h1{{font-size:20px}}h2{{font-size:17px;margin-top:28px}}h3{{font-size:15px;margin-bottom:4px}}
.muted{{color:#5a6473}}code{{font-size:13px}}table{{border-collapse:collapse}}
td,th{{padding:3px 12px 3px 0;text-align:left;vertical-align:top}}th{{color:#5a6473;font-weight:500}}
pre{{background:#f7fafc;padding:8px 10px;overflow-x:auto;font-size:12.5px;white-space:pre-wrap}}
"""
)


def _connection_section() -> Markup:
    from airflow_provider_gemini_batch.connection_fields import CONN_FIELDS, DEFAULT_HOST, UI_FIELD_BEHAVIOUR

    labels = UI_FIELD_BEHAVIOUR.get("relabeling", {})
    standard = [
        (labels.get("host", "Host"), "host", f"API root; default {DEFAULT_HOST} (or the emulator's URL)"),
        (labels.get("password", "Password"), "password", "the Gemini API key (or leave empty, see below)"),
        ("Port", "port", "optional: 443 for Google, the emulator's port locally (see the Test note)"),
    ]
    rows = [html("<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", *row) for row in standard]
    for name, field in CONN_FIELDS.items():
        default = field.get("schema", {}).get("default")
        text = str(field.get("description", ""))
        rows.append(
            html(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}{}</td></tr>",
                field.get("label", name),
                f"extra.{name}",
                text,
                f" Default: {default}." if default not in (None, "") else "",
            )
        )
    return html(
        "<h2 id=connection>Connection <code>gemini_batch</code></h2>"
        "<p>Create it in Admin &gt; Connections (type <em>Google Gemini Batch</em>) or as "
        "<code>AIRFLOW_CONN_GEMINI_BATCH_DEFAULT</code> JSON. Operators use the id "
        "<code>gemini_batch_default</code> unless given <code>gemini_conn_id</code>.</p>"
        "<p><strong>Test:</strong> Airflow 3.3's Test button refuses a connection saved with Port "
        "empty (it sends port 0, which differs from the stored none). Fill Port, or open "
        "<code>gemini-batch/connections/&lt;connection id&gt;/test</code> under Airflow's address: "
        "this provider's page tests the stored connection (needs edit access to it and "
        "<code>[core] test_connection = Enabled</code>).</p>"
        "<table><tr><th>Field</th><th>Stored as</th><th>Meaning</th></tr>{}</table>",
        join(rows),
    )


def _class_section(module: str, name: str) -> Markup:
    cls: Any = getattr(__import__(module, fromlist=[name]), name)
    doc = inspect.getdoc(cls) or "(no docstring)"
    return html(
        "<section><h3 id={}>{}</h3><p class=muted><code>from {} import {}</code></p><pre>{}</pre></section>",
        name,
        name,
        module,
        name,
        doc,
    )


def render_docs(nonce: str) -> str:
    """The reference page (HTML). Every value escaped; the one style block carries ``nonce``."""
    toc = join(html('<li><a href="#{}">{}</a></li>', name, name) for _, name in DOCUMENTED)
    body = html(
        "<h1>Google Gemini Batch provider <code>{}</code></h1>"
        "<p>Run Google Gemini Batch API jobs as Airflow tasks: upload a JSONL file of requests, "
        "create the batch, wait for it in the triggerer, land the results, clean up. This page is "
        "served by the installed provider and describes exactly this version. The full user guide "
        "(examples, results, large batches, troubleshooting, security) is the <code>docs/</code> "
        "folder of the provider's source distribution (<code>make docs</code> builds it as HTML). "
        'The API itself: <a href="https://ai.google.dev/gemini-api/docs/batch-api" '
        'rel="noopener noreferrer">Google\'s Batch API documentation</a>.</p>'
        "<h2>A pipeline</h2><pre>{}</pre>{}<h2>Operators and sensor</h2><ul>{}</ul>{}",
        __version__,
        _PIPELINE,
        _connection_section(),
        toc,
        join(_class_section(module, name) for module, name in DOCUMENTED),
    )
    return str(
        html(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<title>Google Gemini Batch provider {}</title><style nonce="{}">{}</style></head>'
            "<body>{}</body></html>",
            __version__,
            nonce,
            _STYLE,
            body,
        )
    )


_PIPELINE = """\
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator, GeminiCreateBatchOperator, GeminiDeleteFileOperator,
    GeminiUploadFileOperator,
)
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

upload = GeminiUploadFileOperator(task_id="upload", path="/data/requests.jsonl")
create = GeminiCreateBatchOperator(task_id="create", model="gemini-2.5-flash",
                                   input_file=upload.output)
wait = GeminiBatchSensor(task_id="wait", batch_name=create.output, deferrable=True)
results = GeminiBatchResultsOperator(task_id="results", batch_name=create.output,
                                     destination="/data/results/{{ run_id }}.jsonl")
cleanup = GeminiDeleteFileOperator(task_id="cleanup", file_name=upload.output)
upload >> create >> wait >> results >> cleanup  # cleanup operators are teardowns
"""


def register(app: Any) -> None:
    """Add the page's route to the plugin's FastAPI ``app`` (Providers-view access required)."""
    import secrets

    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view
    from fastapi import Depends
    from fastapi.responses import HTMLResponse

    from airflow_provider_gemini_batch.plugins.app import security_headers

    can_see_providers = Depends(requires_access_view(AccessView.PROVIDERS))

    @app.get(DOCS_ROUTE, response_class=HTMLResponse, dependencies=[can_see_providers])
    def provider_docs() -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(render_docs(nonce), headers=security_headers(nonce))
