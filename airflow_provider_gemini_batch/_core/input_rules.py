"""The rules of one input line, checked the slow way: every rule applied, the problem named.

:class:`LineRules` holds the state the rules read and write (keys seen, the batch kind and the
line that set it, a pending blank line, fields the service only echoes) and refuses a line with a
:class:`~airflow_provider_gemini_batch.exceptions.GeminiInputFileError` naming the file, line,
key and field, and the fix. :class:`~._core.input_check.InputValidator` builds on it: its fast
paths accept the common valid line and hand every other line here.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from airflow_provider_gemini_batch._core import request_fields
from airflow_provider_gemini_batch._core.input_fast import REQUEST_MEMBER
from airflow_provider_gemini_batch._core.keyset import KeySet
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

_decode = msgspec.json.Decoder().decode

#: A UTF-8 byte order mark: some editors (Windows Notepad, Excel's "CSV UTF-8") start a file
#: with it. It is not JSON; the check skips it before the first line.
BOM = b"\xef\xbb\xbf"


def without_bom(raw: bytes | str) -> bytes | str:
    """``raw`` without a leading byte order mark (bytes or str)."""
    if isinstance(raw, bytes):
        return raw[len(BOM) :] if raw.startswith(BOM) else raw
    return raw[1:] if raw.startswith("\ufeff") else raw


class LineRules:
    """The slow, complete check of one line at a time, and the state of the pass it keeps.

    :param path: the file's name for messages.
    :param kind: the request kind when known (``request_fields.GENERATE``/``EMBED``); None: the
        first line decides.
    :param keys: where the keys seen are remembered (its ``window`` is the exact recent part).
    """

    __slots__ = (
        "_echoed",
        "_keys",
        "_kind",
        "_kind_line",
        "_pending_blank",
        "_seen",
        "count",
        "keyed",
        "number",
        "path",
    )

    def __init__(self, path: str, kind: str | None, keys: KeySet) -> None:
        self.path = path
        self.count = 0
        self.number = 0  # lines seen so far (1-based number of the last one)
        self.keyed: bool | None = None
        self._keys = keys
        #: The exact window of recent keys (key -> line); the hot loops update it directly and
        #: spill it (``_keys.spill_if_full``) once per slice or region, not per line.
        self._seen: dict[str, int] = keys.window
        self._echoed: dict[str, int] = {}
        self._kind = kind
        self._kind_line = 0
        self._pending_blank: int | None = None

    def _check(self, raw: bytes | str, number: int) -> None:
        """Every rule, on a line that is not blank; names the problem."""
        try:
            obj = _decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            if self._unicode_blank(raw):
                self._pending_blank = self._pending_blank or number
                return
            self._blank_before(number)
            raise GeminiInputFileError(
                f"not valid JSON ({exc}).", path=self.path, line_number=number
            ) from None
        self._blank_before(number)
        self._check_object(obj, number)
        self._check_members(raw, number)
        self.count += 1

    def _check_members(self, raw: bytes | str, number: int) -> None:
        """Refuse a line whose object has two ``request`` members (a JSON decoder keeps the last;
        which one the service reads is not documented). Only lines holding ``"request"`` more than
        once are parsed again to look."""
        member = REQUEST_MEMBER if isinstance(raw, bytes) else '"request"'
        if raw.count(member) <= 1:  # type: ignore[arg-type]
            return
        names: list[str] = []

        def keep_top(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            names[:] = [name for name, _ in pairs]  # the outermost object is built last
            return dict(pairs)

        json.loads(raw, object_pairs_hook=keep_top)
        if names.count("request") > 1:
            raise GeminiInputFileError(
                'the line has two "request" members; a JSON reader keeps only one of them. Write one '
                'request per line: {"key": "...", "request": {...}}.',
                path=self.path,
                line_number=number,
                field="request",
            )

    def _unicode_blank(self, raw: bytes | str) -> bool:
        """True for a line of Unicode-only whitespace (blank to ``str.strip``, not to JSON).

        :raises GeminiInputFileError: the line is not UTF-8 at all.
        """
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise GeminiInputFileError(
                    f"not UTF-8 text ({exc.reason}).", path=self.path, line_number=self.number
                ) from None
        return not raw.strip()

    def _blank_before(self, number: int) -> None:
        if self._pending_blank is not None:
            raise GeminiInputFileError(
                "empty line; every line must hold one request.",
                path=self.path,
                line_number=self._pending_blank,
            )

    def _check_object(self, obj: object, number: int) -> None:
        path = self.path
        if type(obj) is not dict:
            raise GeminiInputFileError("a line must be a JSON object.", path=path, line_number=number)
        key = obj.get("key")
        shown_key = key if isinstance(key, str) else None
        if "request" not in obj:
            raise GeminiInputFileError(
                'the line has no "request"; write each line as {"key": "...", "request": {...}}.',
                path=path,
                line_number=number,
                key=shown_key,
            )
        request = obj["request"]
        if type(request) is not dict:
            raise GeminiInputFileError(
                '"request" must be a JSON object.', path=path, line_number=number, key=shown_key
            )
        has_key = "key" in obj
        if not has_key and "custom_id" in obj:
            raise GeminiInputFileError(custom_id_message(), path=path, line_number=number, field="custom_id")
        if self.keyed is None:
            self.keyed = has_key
        elif self.keyed != has_key:
            raise GeminiInputFileError(
                'some lines have a "key" and others not; give every line a key (or none).',
                path=path,
                line_number=number,
            )
        if has_key:
            if not isinstance(key, str) or not key:
                raise GeminiInputFileError('"key" must be a non-empty string.', path=path, line_number=number)
            seen = self._seen
            if key in seen:
                raise GeminiInputFileError(
                    f"duplicate key {key!r} (first used on line {seen[key]}).", path=path, line_number=number
                )
            seen[key] = number
            self._keys.spill_if_full()
        if len(obj) > 1 + has_key:
            for name in obj:
                if name in request_fields.LINE_FIELDS:
                    continue
                line_problem = request_fields.check_line_field(name)
                if line_problem is not None:
                    raise GeminiInputFileError(
                        line_problem.message, path=path, line_number=number, key=shown_key, field=name
                    )
                self._echoed.setdefault(name, number)
        kind = self._kind
        if kind is None:
            kind = self._kind = request_fields.kind_of(request)
            self._kind_line = number
        elif self._kind_line and request_fields.kind_of(request) != kind:
            raise GeminiInputFileError(
                f"this request is not a {kind} like the one on line {self._kind_line}; one batch holds one "
                "kind of request (generateContent or embeddings).",
                path=path,
                line_number=number,
                key=shown_key,
            )
        problem = request_fields.check_request(request, kind)
        if problem is not None:
            raise GeminiInputFileError(
                problem.message,
                path=path,
                line_number=number,
                key=shown_key,
                field=f"request.{problem.field}",
            )


def custom_id_message(where: str = "line") -> str:
    """The refusal of an OpenAI-style ``custom_id`` without ``key``, with the fix.

    The service returns each result under the line's ``key``; without one the results come back
    numbered and the user's ids would be lost. A file is uploaded byte for byte (its sha256 is the
    upload's integrity check and the reuse fingerprint), so the provider does not rename the field
    itself; inline requests follow the same rule, so both inputs read alike.
    """
    return (
        f'the {where} has "custom_id" (OpenAI\'s batch format) but no "key"; Gemini returns each result '
        'under "key", so your ids would be lost: rename "custom_id" to "key" (for a file, e.g. '
        'sed -i \'s/"custom_id":/"key":/\' FILE).'
    )
