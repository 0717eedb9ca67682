"""Gemini for ``apache-airflow-providers-common-ai``'s ``@task.llm_batch`` / ``LLMBatchOperator``.

:class:`~airflow_provider_gemini_batch.common_ai.adapter.GeminiBatchAdapter` is registered in the
``airflow.providers.common.ai.batch_adapters`` entry-point group under the ``google`` model prefix
(``model_id="google:gemini-2.5-flash"``). Install with the ``common-ai`` extra. Nothing in the rest
of this provider imports this package, so it never requires common.ai.
"""
