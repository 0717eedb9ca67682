"""The official google-genai SDK, pointed at the emulator, works unmodified.

Each test drives the SDK over a real socket and checks what the SDK sees: states, destinations,
contents. Batches are moved forward with the emulator clock, never by sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types

from airflow_provider_gemini_batch.emulator import EmulatorServer, fake_model


@pytest.fixture
def client(emulator: EmulatorServer) -> genai.Client:
    return genai.Client(
        api_key=emulator.api_key,
        http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1beta"),
    )


def _request(text: str) -> dict:
    return {"contents": [{"parts": [{"text": text}], "role": "user"}]}


def _write_jsonl(path: Path, prompts: list[str]) -> Path:
    with path.open("w") as handle:
        for index, prompt in enumerate(prompts):
            handle.write(json.dumps({"key": f"req-{index}", "request": _request(prompt)}) + "\n")
    return path


def _finish(emulator: EmulatorServer) -> None:
    """Move the emulator clock past the processing time of every batch created so far."""
    emulator.control.advance_clock(60)


def test_multi_chunk_upload_sends_8mib_chunks_and_stores_exact_bytes(
    client: genai.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"key": "k", "request": _request("x" * 1000)}) + "\n"
    with path.open("w") as handle:
        while handle.tell() < 9 * 1024 * 1024:
            handle.write(line)
    data = path.read_bytes()

    uploaded = client.files.upload(
        file=str(path), config={"mime_type": "application/jsonl", "display_name": "big"}
    )

    chunks = [e for e in emulator.control.journal() if "upload_id=" in e["query"]]
    assert [c["headers"]["x-goog-upload-offset"] for c in chunks] == ["0", str(8 * 1024 * 1024)]
    assert chunks[-1]["headers"]["x-goog-upload-command"] == "upload, finalize"
    assert all("x-goog-api-key" not in c["headers"] for c in chunks)
    assert uploaded.size_bytes == len(data)
    assert uploaded.sha256_hash == base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()
    assert uploaded.display_name == "big"
    assert uploaded.mime_type == "application/jsonl"
    assert uploaded.state == types.FileState.ACTIVE
    fetched = client.files.get(name=uploaded.name)
    assert fetched.size_bytes == len(data)
    assert fetched.source == types.FileSource.UPLOADED


def test_file_batch_runs_to_success_and_result_file_joins_on_key(
    client: genai.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    prompts = ["What is 2+2?", "Name a colour.", "Say hi."]
    uploaded = client.files.upload(
        file=str(_write_jsonl(tmp_path / "in.jsonl", prompts)), config={"mime_type": "application/jsonl"}
    )

    job = client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "file-job"}
    )
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.model == "models/gemini-2.5-flash"
    assert job.display_name == "file-job"
    _finish(emulator)
    done = client.batches.get(name=job.name)

    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None
    assert done.dest.file_name == "files/batch-" + job.name.removeprefix("batches/")
    lines = [json.loads(x) for x in client.files.download(file=done.dest.file_name).decode().splitlines()]
    assert {
        line["key"]: line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines
    } == {f"req-{i}": fake_model.expected_text(_request(p)) for i, p in enumerate(prompts)}
    result_file = client.files.get(name=done.dest.file_name)
    assert result_file.source == types.FileSource.GENERATED


def test_inline_batch_results_are_in_dest_with_metadata_echoed(
    client: genai.Client, emulator: EmulatorServer
) -> None:
    job = client.batches.create(
        model="gemini-2.5-flash",
        src=[
            {"contents": "Why is the sky blue?", "metadata": {"key": "sky"}},
            {
                "contents": [{"parts": [{"text": "Tell me a joke"}], "role": "user"}],
                "metadata": {"key": "joke"},
            },
        ],
        config={"display_name": "inline-job"},
    )
    _finish(emulator)
    done = client.batches.get(name=job.name)

    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None
    assert done.dest.inlined_responses is not None
    got = {r.metadata["key"]: r.response.text for r in done.dest.inlined_responses}
    assert got == {
        "sky": fake_model.expected_text(_request("Why is the sky blue?")),
        "joke": fake_model.expected_text(_request("Tell me a joke")),
    }
    usage = done.dest.inlined_responses[0].response.usage_metadata
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )


def test_inline_embeddings_batch_returns_vectors_of_requested_dimensionality(
    client: genai.Client, emulator: EmulatorServer
) -> None:
    job = client.batches.create_embeddings(
        model="gemini-embedding-001",
        src={
            "inlined_requests": types.EmbedContentBatch(
                contents=["alpha", "beta"], config=types.EmbedContentConfig(output_dimensionality=8)
            )
        },
    )
    _finish(emulator)
    done = client.batches.get(name=job.name)

    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    vectors = [r.response.embedding.values for r in done.dest.inlined_embed_content_responses]
    expected = [
        fake_model.expected_embedding({"content": {"parts": [{"text": t}]}, "outputDimensionality": 8})
        for t in ("alpha", "beta")
    ]
    assert vectors == expected
    assert all(len(v) == 8 for v in vectors)


def test_file_embeddings_batch_writes_embedding_lines(
    client: genai.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "emb.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {"key": k, "request": {"output_dimensionality": 4, "content": {"parts": [{"text": k}]}}}
            )
            for k in ("a", "b")
        )
        + "\n"
    )
    uploaded = client.files.upload(file=str(path), config={"mime_type": "application/jsonl"})
    job = client.batches.create_embeddings(model="gemini-embedding-001", src={"file_name": uploaded.name})
    _finish(emulator)
    done = client.batches.get(name=job.name)

    lines = [json.loads(x) for x in client.files.download(file=done.dest.file_name).decode().splitlines()]
    assert [(line["key"], len(line["response"]["embedding"]["values"])) for line in lines] == [
        ("a", 4),
        ("b", 4),
    ]


def test_list_batches_pages_through_every_job_newest_first(
    client: genai.Client, emulator: EmulatorServer
) -> None:
    """Newest first, like the live list (cookbook Batch_mode.ipynb cell 34 output)."""
    names = [
        client.batches.create(model="gemini-2.5-flash", src=[{"contents": f"q{i}"}]).name for i in range(3)
    ]

    listed = [job.name for job in client.batches.list(config={"page_size": 1})]

    assert listed == names[::-1]
    assert sum(1 for e in emulator.control.journal() if e["path"] == "/v1beta/batches") == 3


def test_list_files_pages_through_every_file(client: genai.Client, tmp_path: Path) -> None:
    names = []
    for i in range(3):
        path = tmp_path / f"f{i}.jsonl"
        path.write_text(json.dumps({"key": "k", "request": _request(str(i))}) + "\n")
        names.append(client.files.upload(file=str(path), config={"mime_type": "application/jsonl"}).name)

    assert [f.name for f in client.files.list(config={"page_size": 2})] == names


def test_cancel_moves_a_running_job_to_cancelled(client: genai.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=3600)
    job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "slow"}])

    client.batches.cancel(name=job.name)
    got = client.batches.get(name=job.name)

    assert got.state == types.JobState.JOB_STATE_CANCELLED
    assert got.done


def test_deleted_batch_is_gone_for_get_and_list(client: genai.Client) -> None:
    job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "x"}])

    client.batches.delete(name=job.name)

    with pytest.raises(errors.ClientError) as caught:
        client.batches.get(name=job.name)
    assert caught.value.code == 404
    assert job.name not in [j.name for j in client.batches.list()]


def test_deleted_file_is_gone(client: genai.Client, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    uploaded = client.files.upload(file=str(path), config={"mime_type": "application/jsonl"})

    client.files.delete(name=uploaded.name)

    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name=uploaded.name)
    # The service answers 403 PERMISSION_DENIED "... or it may not exist" for a deleted file
    # (python-genai #1218, deprecated-generative-ai-python #692), not 404.
    assert caught.value.code == 403
    assert "or it may not exist" in str(caught.value)


def test_failed_outcome_is_seen_as_job_state_failed(client: genai.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(next_outcome="FAILED")
    job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "x"}])
    _finish(emulator)

    got = client.batches.get(name=job.name)

    assert got.state == types.JobState.JOB_STATE_FAILED
    assert got.dest is None


def test_sdk_default_api_version_v1_is_routed(emulator: EmulatorServer) -> None:
    client = genai.Client(
        api_key=emulator.api_key, http_options=types.HttpOptions(base_url=emulator.base_url)
    )
    job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "v1"}])

    assert client.batches.get(name=job.name).name == job.name
    assert emulator.control.journal()[-1]["path"].startswith("/v1/batches/")


def test_structured_output_parses_for_every_answer(client: genai.Client, emulator: EmulatorServer) -> None:
    """The SDK's ``config.response_schema`` reaches the fake model, whose answers parse as JSON."""
    schema = {
        "type": "OBJECT",
        "properties": {"sentiment": {"type": "STRING", "enum": ["pos", "neg"]}, "n": {"type": "INTEGER"}},
        "required": ["sentiment", "n"],
    }
    config = {"response_mime_type": "application/json", "response_schema": schema}
    job = client.batches.create(
        model="gemini-2.5-flash",
        src=[{"contents": f"review {i}", "config": config, "metadata": {"key": f"r{i}"}} for i in range(3)],
    )
    _finish(emulator)
    done = client.batches.get(name=job.name)

    assert done.dest is not None
    assert done.dest.inlined_responses is not None
    answers = [json.loads(r.response.text) for r in done.dest.inlined_responses]
    assert all(a["sentiment"] in {"pos", "neg"} and isinstance(a["n"], int) for a in answers)
    assert all(r.response.usage_metadata.thoughts_token_count for r in done.dest.inlined_responses)


def test_sdk_reads_a_shuffled_inline_batch_and_the_keys_still_join(
    client: genai.Client, emulator: EmulatorServer
) -> None:
    """Mode shuffle_inline (python-genai #1909): the SDK keeps the service's order."""
    emulator.control.set_modes("shuffle_inline")
    keys = [f"k{i}" for i in range(5)]
    job = client.batches.create(
        model="gemini-2.5-flash", src=[{"contents": k, "metadata": {"key": k}} for k in keys]
    )
    _finish(emulator)
    rows = client.batches.get(name=job.name).dest.inlined_responses

    got = [r.metadata["key"] for r in rows]
    assert got != keys
    assert sorted(got) == keys
    assert all(r.response.text == fake_model.expected_text(_request(r.metadata["key"])) for r in rows)


def test_sdk_sees_a_processing_file_then_active(
    client: genai.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Mode files_processing: files.get reports PROCESSING, create is refused, then ACTIVE."""
    emulator.control.configure(modes=["files_processing"], file_processing_seconds=3)
    uploaded = client.files.upload(
        file=_write_jsonl(tmp_path / "in.jsonl", ["a"]), config={"mime_type": "jsonl"}
    )

    assert client.files.get(name=uploaded.name).state == types.FileState.PROCESSING
    with pytest.raises(errors.ClientError) as caught:
        client.batches.create(model="gemini-2.5-flash", src=uploaded.name)
    assert caught.value.code == 400
    emulator.control.advance_clock(3)
    assert client.files.get(name=uploaded.name).state == types.FileState.ACTIVE


def test_sdk_maps_a_job_state_queued_spelling(client: genai.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=100, state_names={"PENDING": "JOB_STATE_QUEUED"})
    job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "x"}])
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_QUEUED
