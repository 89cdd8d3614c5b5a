"""Object ids with the hosted API's prefixes, e.g. `resp_…`, `msg_…`, `fc_…`."""

import os

# Prefixes for the items this server mints; ids the client made up are kept as they are.
ITEM_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
    "mcp_list_tools": "mcpl",
    "mcp_call": "mcp",
    "mcp_approval_request": "mcpr",
    "mcp_approval_response": "mcpa",
    "file_search_call": "fs",
    "web_search_call": "ws",
    "image_generation_call": "ig",
    "tool_search_call": "tsc",
    "tool_search_output": "tso",
    "apply_patch_call": "apc",
    "apply_patch_call_output": "apco",
    "shell_call": "sh",
    "shell_call_output": "sho",
    "local_shell_call": "lsh",
    "local_shell_call_output": "lsho",
    "computer_call": "cu",
    "computer_call_output": "cuo",
}


def new_id(prefix: str) -> str:
    # 24 random bytes, hex: unguessable and the same length as the hosted API's ids.
    # (os.urandom is what secrets.token_hex calls, without its two frames per id.)
    return f"{prefix}_{os.urandom(24).hex()}"


def new_item_id(item_type: str) -> str:
    return new_id(ITEM_PREFIXES.get(item_type, "item"))


def new_call_id() -> str:
    return new_id("call")


def new_chat_completion_id() -> str:
    return f"chatcmpl-{os.urandom(24).hex()}"
