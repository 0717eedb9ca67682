"""A cost estimate of a batch before anything is sent: tokens counted from the requests, priced.

Used by the create operator's ``max_cost``: the estimate is made while the input is validated
(the same read of the file, :class:`BatchEstimator` behaves like a ``hashlib`` object fed the same
blocks), so a budget refusal happens before any upload or create request.

How tokens are counted (documented figures, not the model's tokenizer):

* **Input text**: the characters of every ``text`` part of ``contents`` and ``systemInstruction``
  (``content`` and ``title`` for embeddings) divided by 4, rounded up over the whole batch.
  Google's token page (https://ai.google.dev/gemini-api/docs/tokens): "For Gemini models, a token
  is equivalent to about 4 characters. 100 tokens is equal to about 60-80 English words."
  Characters are counted as the text's bytes as written in the JSON, with its two quotes: the
  same number (plus 2) for plain ASCII text, more for the rest (an accented letter is 2 UTF-8 bytes, a Chinese
  character 3, an escape such as ``\n`` 2 and ``\u00e9`` 6), which leans the estimate up where
  the 4-characters rule is too low (scripts such as Chinese or Japanese take more tokens per
  character than English). Not decoding the strings keeps the scan cheap (see ``_Part``). The
  real ``usageMetadata`` is in the results manifest's ``cost``.
* **Function calls/responses and tools**: their JSON bytes divided by 4, per request.
* **Media parts** (``inlineData``, ``fileData``): their size in tokens depends on the image
  dimensions or the media length (the token page above: an image up to 384 px in both dimensions
  is 258 tokens, larger ones 258 per 768x768 tile; video and audio by the second), which a scan of
  the JSON cannot know. They are counted at ``tokens_per_media_part`` each when the user gives
  that figure; otherwise the estimate is refused with a message saying so.
* **Output**: per request, ``generationConfig.maxOutputTokens`` times ``candidateCount`` (default
  1) plus ``thinkingConfig.thinkingBudget`` when set (an upper bound for that request); a request
  without ``maxOutputTokens`` counts ``assumed_output_tokens`` (default
  :data:`DEFAULT_ASSUMED_OUTPUT_TOKENS`), an assumption, not a bound. Embeddings have no output.
  Output is priced at the higher of the table's ``output`` and ``thinking`` prices.

Pricing the counts and refusing an estimate above ``max_cost`` is
:mod:`~._core.budget`'s job.

Memory: a few integers and one partial line, whatever the input size; each line is decoded into a
small typed value that is dropped before the next (media bytes are not decoded at all).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

#: Characters per token of text, from https://ai.google.dev/gemini-api/docs/tokens.
CHARS_PER_TOKEN = 4
#: Output tokens counted for a request without ``generationConfig.maxOutputTokens``: the output
#: limit of gemini-2.0-flash (about 8,000 per the token page above; 8,192 in ``models.get``).
DEFAULT_ASSUMED_OUTPUT_TOKENS = 8192
_BOM = b"\xef\xbb\xbf"
#: About the most bytes of whole lines decoded in one call (a longer line is decoded alone).
#: Small on purpose: the decoded lines' lists are tracked by the garbage collector, and 256 KiB of
#: 88-byte lines at once set off ~1,600 collections per 52 MB (36 s/GB); 16 KiB set off none
#: (8.9 s/GB), and costs nothing on 590-byte lines (2.8-3.2 s/GB either way).
REGION = 1 << 14
TOKENS_PAGE = "https://ai.google.dev/gemini-api/docs/tokens"


#: An absent raw field (``msgspec.Raw`` cannot be in a union with None): empty, so ``len`` is 0.
_NONE = msgspec.Raw()


# Typed shapes of the few fields the estimate reads; every other field is skipped by the decoder.
# Both spellings are read: the REST JSON accepts camelCase and snake_case field names.
class _Part(msgspec.Struct, gc=False):
    # The JSON string as written (quotes included), not decoded: building a Python str of every
    # text was measured at about three times the cost of the whole rest of the decode.
    text: msgspec.Raw = _NONE
    inlineData: msgspec.Raw = _NONE
    inline_data: msgspec.Raw = _NONE
    fileData: msgspec.Raw = _NONE
    file_data: msgspec.Raw = _NONE
    functionCall: msgspec.Raw = _NONE
    function_call: msgspec.Raw = _NONE
    functionResponse: msgspec.Raw = _NONE
    function_response: msgspec.Raw = _NONE


class _Content(msgspec.Struct, gc=False):
    parts: list[_Part] = []


class _Thinking(msgspec.Struct, gc=False):
    thinkingBudget: int | None = None
    thinking_budget: int | None = None


class _Config(msgspec.Struct, gc=False):
    maxOutputTokens: int | None = None
    max_output_tokens: int | None = None
    candidateCount: int | None = None
    candidate_count: int | None = None
    thinkingConfig: _Thinking | None = None
    thinking_config: _Thinking | None = None


class _Request(msgspec.Struct, gc=False):
    contents: list[_Content] = []
    systemInstruction: _Content | None = None
    system_instruction: _Content | None = None
    tools: msgspec.Raw = _NONE
    generationConfig: _Config | None = None
    generation_config: _Config | None = None
    content: _Content | None = None  # embeddings
    title: msgspec.Raw = _NONE  # embeddings


class _Line(msgspec.Struct, gc=False):
    request: _Request | None = None


class _LeanPart(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    # Any other part field (media, function call, ...) fails the lean decode, and the region is
    # decoded again with the full types: detection at no cost for the common text-only input.
    text: msgspec.Raw = _NONE
    thought: bool | None = None
    thoughtSignature: str | None = None


class _LeanContent(msgspec.Struct, gc=False):
    parts: list[_LeanPart] = []


class _LeanRequest(msgspec.Struct, gc=False):
    contents: list[_LeanContent] = []
    systemInstruction: _LeanContent | None = None
    system_instruction: _LeanContent | None = None
    tools: msgspec.Raw = _NONE
    generationConfig: _Config | None = None
    generation_config: _Config | None = None
    content: _LeanContent | None = None
    title: msgspec.Raw = _NONE


class _LeanLine(msgspec.Struct, gc=False):
    """The shape of lines without media or function parts (the common case): parts with only
    ``text`` (no eight rare fields to fill with defaults) decode faster."""

    request: _LeanRequest | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_lines = msgspec.json.Decoder(_Line).decode_lines
_decode_lean_lines = msgspec.json.Decoder(_LeanLine).decode_lines
_decode_request = msgspec.json.Decoder(_Request).decode
_encode = msgspec.json.encode


class BatchEstimator:
    """Token counts of a batch's requests, fed the input's bytes block by block (or inline requests).

    Feed consecutive blocks of a JSONL file with :meth:`update` (the ``hashlib`` interface, so it
    can ride along a content hash) or inline request bodies with :meth:`add_request`, then read the
    counters or call :func:`price_estimate`.

    :param embeddings: the batch embeds (no output tokens).
    :param assumed_output_tokens: output tokens of a request without ``maxOutputTokens``.
    :param tokens_per_media_part: tokens counted per ``inlineData``/``fileData`` part, or None
        (the estimate is then refused when the input holds any).
    """

    __slots__ = (
        "_tail",
        "assumed_output_tokens",
        "bounded_output",
        "embeddings",
        "first_media_line",
        "first_unread_line",
        "media_parts",
        "number",
        "raw_bytes",
        "requests",
        "rows_assumed",
        "rows_bounded",
        "text_bytes",
        "tokens_per_media_part",
    )

    def __init__(
        self,
        *,
        embeddings: bool = False,
        assumed_output_tokens: int = DEFAULT_ASSUMED_OUTPUT_TOKENS,
        tokens_per_media_part: int | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.assumed_output_tokens = assumed_output_tokens
        self.tokens_per_media_part = tokens_per_media_part
        self.requests = 0
        self.text_bytes = 0
        self.raw_bytes = 0
        self.media_parts = 0
        self.first_media_line = 0
        self.rows_bounded = 0
        self.bounded_output = 0
        self.rows_assumed = 0
        self.first_unread_line = 0
        self.number = 0  # lines seen (1-based number of the last one), as the validator counts
        self._tail: list[bytes] = []

    # -- feeding ---------------------------------------------------------------------------------

    def update(self, block: bytes) -> None:
        """Count every line ``block`` completes; keep its unfinished last line for the next block."""
        find = block.find
        pos = 0
        stop = len(block)
        if self._tail:
            newline = find(b"\n", 0, stop)
            if newline < 0:
                self._tail.append(block)
                return
            self._tail.append(block[:newline])
            joined, self._tail = b"".join(self._tail), []
            self._line(joined)
            pos = newline + 1
        last = block.rfind(b"\n", pos, stop)
        if last >= 0:
            if self.number == 0 and block.startswith(_BOM, pos):
                self._line(memoryview(block)[pos : find(b"\n", pos, stop)])
                pos = find(b"\n", pos, stop) + 1
            while pos <= last:
                # Whole lines about REGION bytes at a time (a longer line alone): one decoder
                # call per region, not per line (measured 2-3x cheaper on short lines).
                end = block.rfind(b"\n", pos, pos + REGION) if pos + REGION <= last else last
                if end < pos:
                    end = find(b"\n", pos, stop)
                self._region(block, pos, end + 1)
                pos = end + 1
        if pos < stop:
            self._tail = [block[pos:stop]]

    def _region(self, block: bytes, start: int, stop: int) -> None:
        """Count the whole lines of ``block[start:stop]`` (it ends with a newline)."""
        base = self.number
        view = memoryview(block)[start:stop]
        lines: list[Any]
        try:
            lines = _decode_lean_lines(view)
        except msgspec.DecodeError:
            lines = []
        if not lines:
            try:
                lines = _decode_lines(view)
            except msgspec.DecodeError:
                lines = []
        if not lines:
            # A line the decoder refuses (invalid JSON, a field of another type, a blank line
            # inside whitespace the decoder would skip): line by line, to number it exactly.
            view = memoryview(block)
            find = block.find
            pos = start
            while pos < stop:
                newline = find(b"\n", pos, stop)
                self._line(view[pos:newline])
                pos = newline + 1
            return
        # Blank lines (the decoder skips them) come only at the end of a file the validator
        # accepts, so the i-th value is on line base + i + 1.
        self.number = base + block.count(b"\n", start, stop)
        lean = type(lines[0]) is _LeanLine
        text = bounded = rows_bounded = rows_assumed = 0
        embeddings = self.embeddings
        for index, line in enumerate(lines, start=base + 1):
            request = line.request
            if request is None:
                continue
            config = request.generationConfig
            if (
                not lean
                or embeddings
                or request.systemInstruction is not None
                or request.system_instruction is not None
                or request.content is not None
                or request.tools
                or request.generation_config is not None
                or (
                    config is not None
                    and (
                        config.maxOutputTokens is None
                        or config.candidateCount is not None
                        or config.thinkingConfig is not None
                    )
                )
            ):
                self._count(request, index)  # every rule, for the less common shapes
                continue
            # The common line: text parts, and maxOutputTokens alone or no generationConfig.
            for turn in request.contents:
                for part in turn.parts:
                    text += len(part.text)
            if config is None:
                rows_assumed += 1
            else:
                rows_bounded += 1
                bounded += max(config.maxOutputTokens, 0)
        self.requests += rows_bounded + rows_assumed
        self.text_bytes += text
        self.rows_bounded += rows_bounded
        self.bounded_output += bounded
        self.rows_assumed += rows_assumed

    def finish(self) -> None:
        """Count the last line when the input did not end with a newline."""
        if self._tail:
            tail, self._tail = b"".join(self._tail), []
            self._line(tail)

    def add_request(self, request: Mapping[str, Any]) -> None:
        """Count one inline request body (``GenerateContentRequest``/``EmbedContentRequest``)."""
        self.number += 1
        try:
            self._count(_decode_request(_encode(request)), self.number)
        except (msgspec.DecodeError, TypeError):
            self.first_unread_line = self.first_unread_line or self.number

    def _line(self, raw: bytes | memoryview) -> None:
        self.number += 1
        if self.number == 1 and bytes(raw[:3]) == _BOM:
            raw = raw[3:]  # a byte order mark before the first line (the validator skips it too)
        try:
            line = _decode_line(raw)
        except msgspec.DecodeError:
            if not bytes(raw).strip():
                return  # a blank line: the validator decides whether it is allowed
            # The validator refuses most such lines with a precise message; one it accepts (a
            # number given as a string, say) makes the estimate refuse itself (see ``problem``).
            self.first_unread_line = self.first_unread_line or self.number
            return
        if line.request is not None:
            self._count(line.request, self.number)

    def _count(self, request: _Request | _LeanRequest, number: int) -> None:
        """Add one request (on line/position ``number``) to the counters."""
        self.requests += 1
        media = 0
        chars = len(request.title)
        raw_bytes = len(request.tools)
        turns: list[Any] = request.contents
        extra = (request.systemInstruction, request.system_instruction, request.content)
        if extra != (None, None, None):
            turns = [*turns, *(turn for turn in extra if turn is not None)]
        for turn in turns:
            for part in turn.parts:
                chars += len(part.text)
                if type(part) is _Part:
                    if part.inlineData or part.inline_data or part.fileData or part.file_data:
                        media += 1
                    raw_bytes += (
                        len(part.functionCall)
                        + len(part.function_call)
                        + len(part.functionResponse)
                        + len(part.function_response)
                    )
        self.text_bytes += chars
        self.raw_bytes += raw_bytes
        if media:
            self.media_parts += media
            self.first_media_line = self.first_media_line or number
        if self.embeddings:
            return
        config = request.generationConfig or request.generation_config
        limit = None if config is None else _first(config.maxOutputTokens, config.max_output_tokens)
        if limit is None:
            self.rows_assumed += 1
            return
        assert config is not None
        candidates = _first(config.candidateCount, config.candidate_count) or 1
        thinking = config.thinkingConfig or config.thinking_config
        budget = None if thinking is None else _first(thinking.thinkingBudget, thinking.thinking_budget)
        self.rows_bounded += 1
        self.bounded_output += max(limit, 0) * max(candidates, 1) + max(budget or 0, 0)

    # -- results ---------------------------------------------------------------------------------

    @property
    def input_tokens(self) -> int:
        """Estimated input tokens of the whole batch (see the module docstring)."""
        media = self.media_parts * (self.tokens_per_media_part or 0)
        text = math.ceil(self.text_bytes / CHARS_PER_TOKEN)
        return text + math.ceil(self.raw_bytes / CHARS_PER_TOKEN) + media

    @property
    def output_tokens(self) -> int:
        """Estimated output tokens: bounded rows plus assumed rows (0 for embeddings)."""
        return self.bounded_output + self.rows_assumed * self.assumed_output_tokens

    def problem(self, where: str) -> str | None:
        """Why no estimate can be made (a sentence naming ``where`` and the fix), or None."""
        if self.media_parts and self.tokens_per_media_part is None:
            return (
                f"{where} holds {self.media_parts} media part(s) (inlineData/fileData; the first in "
                f"{_unit(where)} {self.first_media_line}), whose token count depends on the image size or "
                f"media length, which the estimate cannot read. Set tokens_per_media_part (e.g. 258 per "
                f"image of up to 384x384 px; {TOKENS_PAGE}) or drop max_cost."
            )
        if self.first_unread_line:
            return (
                f"{where}, {_unit(where)} {self.first_unread_line}: the request could not be read for the "
                "cost estimate (a field of an unexpected type); fix the request or drop max_cost."
            )
        return None

    def method(self) -> str:
        """How the token counts were made, in one paragraph for the estimate and the error."""
        parts = [
            f"input: {self.text_bytes:,} characters of text (UTF-8 bytes as written) / {CHARS_PER_TOKEN} "
            f"(a token is about {CHARS_PER_TOKEN} characters, {TOKENS_PAGE})"
        ]
        if self.raw_bytes:
            parts.append(f"{self.raw_bytes:,} bytes of function calls and tools / {CHARS_PER_TOKEN}")
        if self.media_parts:
            per = self.tokens_per_media_part
            parts.append(f"{self.media_parts} media parts x tokens_per_media_part={per}")
        text = " + ".join(parts)
        if self.embeddings:
            return text + "; output: none (embeddings)"
        out = []
        if self.rows_bounded:
            out.append(
                f"{self.rows_bounded} requests at their maxOutputTokens x candidateCount (+ thinkingBudget) "
                f"= {self.bounded_output:,} tokens (an upper bound)"
            )
        if self.rows_assumed:
            out.append(
                f"{self.rows_assumed} requests without maxOutputTokens x assumed_output_tokens="
                f"{self.assumed_output_tokens:,} (an assumption, not a bound)"
            )
        return f"{text}; output: {' + '.join(out)}"


def _first(*values: int | None) -> int | None:
    for value in values:
        if value is not None:
            return value
    return None


def _unit(where: str) -> str:
    return "request" if where.startswith("requests") else "line"


def estimate_requests(requests: Sequence[Mapping[str, Any]], estimator: BatchEstimator) -> BatchEstimator:
    """Feed inline requests (the JSONL-line shape ``{"key", "request"}``, the wire shape
    ``{"request", "metadata"}`` or bare bodies) to ``estimator``; returns it."""
    for item in requests:
        body = item.get("request", item) if isinstance(item, Mapping) else item
        estimator.add_request(body if isinstance(body, Mapping) else {})
    return estimator
