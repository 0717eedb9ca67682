"""The Gemini Developer API surface of the emulator (Files API, Models, Batches).

Laid out like the Vertex and Cloud Storage surfaces (routes -> request parsing and rendering ->
models):

* :mod:`.routes`: the path table and the handlers of files, models and batches;
* :mod:`.uploads`: the Files API's resumable upload protocol;
* :mod:`.auth`: the API-key check the request gate applies to these routes;
* :mod:`.responses`: request parsing and rendering (paging, ``fields``, create and update bodies);
* :mod:`.models`: the state (files, upload sessions, batches) and the operations on it.

The records and their wire shapes are shared with the other surfaces and stay beside them:
``emulator/files.py`` (file records, upload sessions), ``emulator/batches.py`` (the batch
timeline, also Vertex's) and ``emulator/models.py`` (the model catalogue).
"""
