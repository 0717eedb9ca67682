"""Real result lines, ids and list order from Google's cookbook, held against the emulator.

Source: google-gemini/cookbook ``quickstarts/Batch_mode.ipynb`` saved cell outputs (the mirror's
commit f1e7e3de6004e6ca604b174684ecf89d628ac6c4; runs of 2025-07-01 and 2025-09-10). Cell 25 prints
each result-file line with ``json.dumps(..., indent=2)`` of the parsed line, so the raw JSON and its
key order are the service's; cell 48 prints the embedding lines verbatim.
"""

from __future__ import annotations

from typing import Any

from tests.real_service.captures_rows import COOKBOOK_TEXT_RESPONSE_1

#: Cell 25 output, first line of ``files/batch-o08hk76gv328ihxcssjsgwt3g6omtfysxi46`` (text batch),
#: in the order the service wrote it (``response`` before ``key``); the payload is kept once, in
#: ``captures_rows``.
COOKBOOK_RESULT_LINE: dict[str, Any] = {"response": COOKBOOK_TEXT_RESPONSE_1, "key": "request_1"}

#: Cell 48 output, verbatim: the embeddings batch's result file (``response`` before ``key``).
COOKBOOK_EMBEDDING_LINES = (
    '{"response":{"tokenCount":"1","embedding":{"values":[-0.034119852,0.0025719088,0.017325249]}},'
    '"key":"request_1"}',
    '{"response":{"tokenCount":"1","embedding":{"values":[0.020208105,-0.016668973,-0.011120025,'
    '-0.063684635]}},"key":"request_2"}',
)

#: Cells 19, 28, 34, 44 outputs: batch ids (36 chars) and cells 17, 42, 51 outputs: file ids (12).
COOKBOOK_BATCH_NAMES = (
    "batches/o08hk76gv328ihxcssjsgwt3g6omtfysxi46",
    "batches/mqnrj9gul3irzwwy4vgawrv9w40vxbvou6x2",
    "batches/2icf9ky95pieco1jwucta7drijo5k8hjllzj",
)
COOKBOOK_FILE_NAMES = ("files/p1mds9fl15bs", "files/t5snrshrqff1", "files/sm3dyq4g4zqy")
#: Cell 25 / 34 outputs: a file batch's output file is ``files/batch-<batch id>``.
COOKBOOK_OUTPUT_FILE = "files/batch-o08hk76gv328ihxcssjsgwt3g6omtfysxi46"

#: Cell 34 output: ``batches.list(page_size=10)`` create times, in the order listed (newest first).
COOKBOOK_LIST_CREATE_TIMES = (
    "2025-07-01 21:24:08",
    "2025-07-01 21:19:34",
    "2025-07-01 20:50:48",
    "2025-07-01 20:50:43",
    "2025-07-01 20:45:32",
    "2025-07-01 20:45:26",
    "2025-07-01 20:32:16",
    "2025-07-01 20:29:19",
    "2025-06-20 15:16:33",
    "2025-06-20 15:13:17",
)
