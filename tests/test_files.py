"""The Files and Uploads APIs through the SDK: upload, list, download, delete, limits."""

import hashlib

import httpx
import openai
import pytest

from tests.docs import HANDBOOK, pdf
from tests.openapi_spec import check_spec


def test_upload_retrieve_download_list_and_delete(client, tmp_path):
    path = tmp_path / "handbook.md"
    path.write_text(HANDBOOK)
    created = client.files.create(file=path, purpose="assistants")
    assert created.id.startswith("file-") and created.filename == "handbook.md"
    assert created.bytes == len(HANDBOOK.encode()) and created.status == "processed"
    check_spec("OpenAIFile", created.model_dump(exclude_unset=True))
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).read() == path.read_bytes()

    other = client.files.create(file=("notes.txt", b"x" * 10), purpose="user_data")
    listed = [f.id for f in client.files.list()]
    assert listed.index(other.id) < listed.index(created.id)  # newest first
    assert created.id not in [f.id for f in client.files.list(purpose="user_data")]
    oldest_first = [f.id for f in client.files.list(order="asc")]
    assert oldest_first.index(created.id) < oldest_first.index(other.id)
    page = client.files.list(order="asc", limit=1, after=created.id)
    assert created.id not in [f.id for f in page.data]

    deleted = client.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created.id)
    client.files.delete(other.id)


def test_binary_bytes_come_back_exactly(client):
    data = bytes(range(256)) * 4096 + pdf("a page")
    created = client.files.create(file=("blob.bin", data), purpose="user_data")
    assert client.files.content(created.id).read() == data
    client.files.delete(created.id)


def test_bad_purpose_expiry_and_missing_file_are_400s(client, server):
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("a.txt", b"a"), purpose="nonsense")
    assert info.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(
            file=("a.txt", b"a"),
            purpose="assistants",
            expires_after={"anchor": "created_at", "seconds": 5},
        )
    assert info.value.body["param"] == "expires_after.seconds"
    reply = httpx.post(f"{server.url}/v1/files", data={"purpose": "assistants"}, files={})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "file"


def test_expires_after_sets_expires_at(client):
    created = client.files.create(
        file=("a.txt", b"a"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600
    client.files.delete(created.id)


def test_a_file_over_the_size_limit_is_a_413_and_leaves_nothing(make_client, tmp_path):
    c = make_client(max_file_size=1000)
    with pytest.raises(openai.APIStatusError) as info:
        c.files.create(file=("big.txt", b"x" * 5000), purpose="assistants")
    assert info.value.status_code == 413
    assert info.value.body["type"] == "invalid_request_error"
    assert c.files.list().data == []
    small = c.files.create(file=("ok.txt", b"x" * 500), purpose="assistants")
    assert c.files.content(small.id).read() == b"x" * 500
    leftovers = [
        p for p in (tmp_path / "data0").rglob("*") if p.is_file() and "incoming" in p.parts
    ]
    assert leftovers == []


def test_uploads_api_joins_parts_in_the_given_order(client, tmp_path):
    data = HANDBOOK.encode() * 300  # ~180 kB in three parts
    path = tmp_path / "big.md"
    path.write_bytes(data)
    upload = client.uploads.upload_file_chunked(
        file=path, mime_type="text/markdown", purpose="assistants", part_size=64 * 1024
    )
    assert upload.status == "completed" and upload.file is not None
    assert upload.file.bytes == len(data) and upload.file.filename == "big.md"
    stored = client.files.content(upload.file.id).read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()

    second = client.uploads.create(
        bytes=6, filename="ab.txt", mime_type="text/plain", purpose="assistants"
    )
    a = client.uploads.parts.create(second.id, data=b"abc")
    b = client.uploads.parts.create(second.id, data=b"def")
    with pytest.raises(openai.BadRequestError) as info:
        client.uploads.complete(second.id, part_ids=[b.id, a.id], md5="0" * 32)
    assert info.value.body["param"] == "md5"
    md5 = hashlib.md5(b"defabc").hexdigest()
    done = client.uploads.complete(second.id, part_ids=[b.id, a.id], md5=md5)
    assert client.files.content(done.file.id).read() == b"defabc"
    with pytest.raises(openai.BadRequestError):  # no longer pending
        client.uploads.parts.create(second.id, data=b"x")


def test_an_upload_whose_parts_do_not_add_up_is_refused_and_can_be_cancelled(client):
    upload = client.uploads.create(
        bytes=10, filename="x.txt", mime_type="text/plain", purpose="assistants"
    )
    part = client.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.BadRequestError) as info:
        client.uploads.complete(upload.id, part_ids=[part.id])
    assert info.value.body["param"] == "part_ids"
    with pytest.raises(openai.BadRequestError) as info:
        client.uploads.complete(upload.id, part_ids=["part_missing"])
    assert info.value.body["param"] == "part_ids[0]"
    cancelled = client.uploads.cancel(upload.id)
    assert cancelled.status == "cancelled" and cancelled.file is None
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel("upload_missing")
