"""What the built-in tool loop costs: one MCP call inside a response vs two plain turns.

Runs `responsd serve` as its own process (so its CPU can be read), and in this process the
scripted upstream (it calls `calc__add` unless the last message is a tool result, then
answers) and a real MCP server that answers at once. Measures, interleaved:
  - loop: one response = model turn → MCP call → model turn (the listing is passed in the
    input, so it is reused and not fetched);
  - plain: two plain responses back to back (the same two model turns, no tool);
  - mcp: the MCP call alone, made by this process with the same SDK (connect + call).
The loop's own overhead is loop - plain - mcp.

Usage: python -m bench.tools [--requests N]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time

import httpx
from mcp import Client

from bench.fake_upstream import Call, FakeUpstream, Reply
from bench.mcp_server import calc_server
from bench.overhead import _cpu_seconds, _pct, _process
from bench.servers import ServerThread, free_port


def _respond(body: dict) -> Reply:
    if body["messages"][-1]["role"] == "tool":
        return Reply(text="2 + 3 = 5")
    if body.get("tools"):
        return Reply(tool_calls=[Call("calc__add", '{"a": 2, "b": 3}')])
    return Reply(text="a plain answer")


async def measure(responsd: str, mcp_url: str, n: int, pid: int) -> None:
    tool = {"type": "mcp", "server_label": "calc", "server_url": mcp_url}
    tool["require_approval"] = "never"
    async with httpx.AsyncClient(timeout=30) as client:
        primer = await client.post(
            f"{responsd}/v1/responses",
            json={"model": "fake-model", "input": "hi", "tools": [tool], "store": False},
        )
        listing = primer.json()["output"][0]
        assert listing["type"] == "mcp_list_tools", primer.text
        loop_body = {
            "model": "fake-model",
            "tools": [tool],
            "input": [listing, {"role": "user", "content": "2 + 3?"}],
        }
        plain_body = {"model": "fake-model", "input": "2 + 3?"}

        async def loop() -> None:
            reply = await client.post(f"{responsd}/v1/responses", json=loop_body)
            assert [i["type"] for i in reply.json()["output"]] == ["mcp_call", "message"]

        async def plain() -> None:
            for _ in range(2):
                (await client.post(f"{responsd}/v1/responses", json=plain_body)).raise_for_status()

        async def direct_mcp() -> None:
            async with Client(mcp_url) as mcp:
                await mcp.call_tool("add", {"a": 2, "b": 3})

        samples: dict[str, list[float]] = {"loop": [], "plain": [], "mcp": []}
        cpu: dict[str, float] = {"loop": 0.0, "plain": 0.0}
        calls = {"loop": loop, "plain": plain, "mcp": direct_mcp}
        for i in range(n + 10):
            for name, call in calls.items():
                before = _cpu_seconds(pid)
                start = time.perf_counter()
                await call()
                if i >= 10:  # the first rounds warm connections and caches
                    samples[name].append(time.perf_counter() - start)
                    if name in cpu:
                        cpu[name] += _cpu_seconds(pid) - before
    print(f"samples: {n} of each, one request at a time")
    print(f"{'':44}{'p50 ms':>10}{'p99 ms':>10}")
    for label, name in (
        ("loop: 2 turns + 1 MCP call, one response", "loop"),
        ("plain: 2 responses of 1 turn", "plain"),
        ("mcp: the call alone (connect + call)", "mcp"),
    ):
        print(f"{label:44}{_pct(samples[name], 0.5):10.2f}{_pct(samples[name], 0.99):10.2f}")
    added = _pct(samples["loop"], 0.5) - _pct(samples["plain"], 0.5) - _pct(samples["mcp"], 0.5)
    print(f"{'loop overhead (loop - plain - mcp), p50':44}{added:10.2f}")
    for name in cpu:
        print(f"responsd CPU per {name} (ms): {cpu[name] / n * 1000:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    upstream = ServerThread(FakeUpstream(responder=_respond).app).start()
    calc = calc_server()
    mcp = ServerThread(calc.streamable_http_app()).start()
    port = free_port()
    responsd = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            env = {
                **os.environ,
                "RESPONSD_UPSTREAM_URL": f"{upstream.url}/v1",
                "RESPONSD_DATA_DIR": data_dir,
                "RESPONSD_PORT": str(port),
                "RESPONSD_LOG_LEVEL": "warning",
                "RESPONSD_ALLOW_PRIVATE_NETWORK": "true",
            }
            cmd = [sys.executable, "-m", "responsd", "serve"]
            with _process(cmd, env, f"{responsd}/healthz") as server:
                asyncio.run(measure(responsd, f"{mcp.url}/mcp", args.requests, server.pid))
    finally:
        upstream.stop()
        mcp.stop()


if __name__ == "__main__":
    main()
