"""A reusable hostile API server for tests (see ``server.py``) and its fixtures (``conftest.py``)."""
