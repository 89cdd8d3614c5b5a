"""Built-in tools: the tools of a request that this server runs itself, inside one response.

What belongs here: one module per tool type (`mcp.py`, later `file_search.py`, …), each
implementing `base.BuiltinTool`; `registry.py`, which maps a request's `tools[i].type` to
its implementation and shows stored tool items to the model; and the outbound guard every
tool that fetches a URL on a user's behalf uses (`netguard.py`).

What does not: the loop (engine/), model backends (providers/), HTTP routes (api/). A tool
never imports a provider; it sees the model only as the functions it declares.
"""
