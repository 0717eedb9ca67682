"""The Airflow UI plugin of the provider: a "Gemini batch" page per task instance.

``batch_page.GeminiBatchPlugin`` is registered through the ``airflow.plugins`` entry point
(pyproject.toml). Modules: ``records`` (what the task instance's XComs say about its batch),
``live`` (one read of the batch through the sync hook), ``page`` (the escaped HTML) and ``app``
(the FastAPI sub-app with its authorisation).
"""
