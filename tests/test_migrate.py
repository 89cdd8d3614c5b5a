"""`responsd migrate`: the rewrite of real programs, run before and after against responsd.

Every program in tests/migrate_corpus/ runs as it is (Chat Completions) and as migrated
(Responses) against one responsd on a scripted upstream that answers from what it is sent;
the two must print the same. Its first line says how many calls should migrate and stay.
"""

import io
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench.fake_upstream import Call, FakeUpstream, Reply
from bench.servers import ServerThread
from responsd.app import create_app
from responsd.cli import main as cli_main
from responsd.config import Settings
from responsd.migrate.codemod import MARK, migrate_source
from responsd.migrate.command import migrate_paths

CORPUS = Path(__file__).parent / "migrate_corpus"
PROGRAMS = sorted(CORPUS.glob("*.py"))


def _sample(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value that follows `schema` (enough of JSON Schema for pydantic models)."""
    if "$ref" in schema:
        return _sample(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _sample(sub, defs) for name, sub in props.items()}
    if kind == "array":
        return [_sample(schema.get("items", {}), defs)]
    return {"integer": 3, "number": 2, "boolean": True, "string": "sample"}.get(kind, "sample")


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def corpus_reply(body: dict[str, Any]) -> Reply:
    """Answers that depend on everything the migration must keep: the messages (roles, order,
    text), the tools and the format asked for."""
    messages = body["messages"]
    last = messages[-1]
    tools = body.get("tools") or []
    if tools and last["role"] != "tool" and body.get("tool_choice") != "none":
        function = tools[0]["function"]
        arguments = _sample(function.get("parameters") or {}, {})
        return Reply(tool_calls=[Call(function["name"], json.dumps(arguments))])
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = fmt["json_schema"]["schema"]
        return Reply(text=json.dumps(_sample(schema, schema.get("$defs", {}))))
    if fmt.get("type") == "json_object":
        return Reply(text='{"answer": 1, "ok": true}')
    roles = ",".join(m["role"] for m in messages)
    system = [_text(m["content"]) for m in messages if m["role"] == "system"]
    parts = sum(isinstance(m.get("content"), list) for m in messages)
    return Reply(
        text=f"[{roles}; system={system}; parts={parts}] reply to {_text(last['content'])!r}",
        chunk_size=5,
    )


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory):
    fake = FakeUpstream(models=("fake-model",), responder=corpus_reply)
    upstream = ServerThread(fake.app).start()
    settings = Settings(
        _env_file=None,
        upstream_url=f"{upstream.url}/v1",
        data_dir=tmp_path_factory.mktemp("migrate"),
    )
    server = ServerThread(create_app(settings)).start()
    yield server, fake
    server.stop()
    upstream.stop()


def _run(path: Path, url: str) -> str:
    env = {**os.environ, "OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": "unused"}
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, f"{path.name} failed:\n{done.stderr}"
    return done.stdout


def _expected(code: str) -> tuple[int, int]:
    found = re.match(r"# expect: migrated=(\d+) left=(\d+)", code)
    assert found, "each corpus program starts with '# expect: migrated=N left=M'"
    return int(found[1]), int(found[2])


def test_the_corpus_is_large_enough():
    assert len(PROGRAMS) >= 20


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_a_migrated_program_prints_what_the_original_printed(program, corpus_server, tmp_path):
    server, fake = corpus_server
    code = program.read_text()
    new, reports = migrate_source(code)
    compile(new, program.name, "exec")  # the rewrite is valid Python
    migrated = sum(r.migrated for r in reports)
    left = [r for r in reports if not r.migrated]
    assert (migrated, len(left)) == _expected(code), reports
    assert new.count(MARK) == len({r.line for r in left})
    if not left:
        assert "chat.completions" not in new
    rewritten = tmp_path / program.name
    rewritten.write_text(new)
    with ThreadPoolExecutor(2) as pool:
        before, after = pool.map(lambda p: _run(p, server.url), [program, rewritten])
    assert before.strip(), "the program printed nothing"
    assert after == before
    assert migrate_source(new)[0] == new  # running it again changes nothing


def test_the_rewrite_follows_the_guide():
    code = """
from openai import OpenAI
client = OpenAI()
tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
r = client.chat.completions.create(
    model="m",
    messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
    max_tokens=5,
    reasoning_effort="high",
    tools=tools,
    tool_choice={"type": "function", "function": {"name": "f"}},
    response_format={"type": "json_object"},
    verbosity="low",
    stream_options=None,
)
print(r.choices[0].message.content, r.usage.prompt_tokens, r.usage.completion_tokens)
"""
    new, reports = migrate_source(code)
    assert [r.migrated for r in reports] == [True]
    assert "client.responses.create(" in new
    assert 'instructions="sys"' in new and 'input=[{"role": "user", "content": "hi"}]' in new
    assert "max_output_tokens=5" in new and 'reasoning={"effort": "high"}' in new
    assert 'tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}, ' in new
    assert '"strict": False' in new
    assert 'tool_choice={"type": "function", "name": "f"}' in new
    assert 'text={"format": {"type": "json_object"}, "verbosity": "low"}' in new
    assert "stream_options" not in new and "store=False" in new
    assert "print(r.output_text, r.usage.input_tokens, r.usage.output_tokens)" in new


@pytest.mark.parametrize(
    ("snippet", "reason"),
    [
        ("r = client.chat.completions.create(model='m', messages=m, n=3)", "n > 1"),
        ("r = client.chat.completions.create(model='m', messages=[], logprobs=True)", "logprobs"),
        ("r = client.chat.completions.create(**kwargs)", "positional or **"),
        ("r = client.chat.completions.create(model='m', messages=msgs)", "not built as one list"),
        (
            "msgs = [{'role': 'user', 'content': 'x'}]\nmsgs.insert(0, x)\n"
            "r = client.chat.completions.create(model='m', messages=msgs)",
            "used in ways",
        ),
        (
            "r = client.chat.completions.create(model='m', messages=[{'role': 'user', "
            "'content': 'x', 'name': 'ada'}])",
            "`name`",
        ),
        (
            "r = client.chat.completions.create(model='m', messages=[])\nprint(r.choices)",
            "`….choices`",
        ),
        (
            "r = client.chat.completions.create(model='m', messages=[])\n"
            "print(r.choices[0].finish_reason)",
            "finish_reason",
        ),
        (
            "s = client.chat.completions.create(model='m', messages=[], stream=True)\n"
            "for c in s:\n    print(c.usage)",
            "`….usage`",
        ),
        (
            "r = client.chat.completions.create(model='m', messages=[], stream=flag)",
            "not a literal",
        ),
    ],
)
def test_what_is_not_safe_is_left_with_a_comment(snippet, reason):
    new, reports = migrate_source(snippet + "\n")
    (report,) = reports
    assert not report.migrated and reason in report.reason
    assert "chat.completions.create" in new
    assert f"{MARK} left as Chat Completions: " in new
    assert migrate_source(new)[0] == new  # the comment is not added twice


def test_the_command_diffs_writes_and_checks(tmp_path, capsys):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / ".venv").mkdir()
    source = (CORPUS / "basic_sync.py").read_text()
    (project / "pkg" / "app.py").write_text(source)
    (project / ".venv" / "ignored.py").write_text(source)
    (project / "plain.py").write_text("print('no calls here')\n")
    (project / "broken.py").write_text("client.chat.completions.create(\n")

    out, err = io.StringIO(), io.StringIO()
    summary = migrate_paths([project], out=out, err=err)
    diff = out.getvalue()
    assert summary.files == 3 and len(summary.changed) == 1
    assert "-    messages=" in diff and "+    input=" in diff and "client.responses.create" in diff
    assert f"{project}/pkg/app.py" in err.getvalue()
    assert "could not parse" in err.getvalue()
    assert "3 files scanned, 1 would change; 1 calls migrated, 0 left." in err.getvalue()
    assert (project / "pkg" / "app.py").read_text() == source  # a diff changes nothing

    (project / "broken.py").unlink()
    with pytest.raises(SystemExit) as check:
        cli_main(["migrate", "--check", str(project)])
    assert check.value.code == 1
    with pytest.raises(SystemExit) as write:
        cli_main(["migrate", "--write", str(project)])
    assert write.value.code == 0
    assert "client.responses.create" in (project / "pkg" / "app.py").read_text()
    assert (project / ".venv" / "ignored.py").read_text() == source
    with pytest.raises(SystemExit) as clean:
        cli_main(["migrate", "--check", str(project)])
    assert clean.value.code == 0
    capsys.readouterr()
