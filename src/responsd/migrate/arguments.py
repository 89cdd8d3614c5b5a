"""Chat Completions arguments → Responses arguments, per the migration guide.

Every function here checks the shape it is given and raises `Unsafe` when the code is not
written in a form whose meaning is certain (a dict built elsewhere, a `**` splat, a
parameter Responses does not have). Unchanged parts keep their original nodes, so a diff
shows only what had to change.
"""

import libcst as cst

from responsd.migrate.syntax import Unsafe, dict_pairs, keyword, make_dict, string, string_value

SAME = frozenset(
    {
        "model",
        "temperature",
        "top_p",
        "user",
        "metadata",
        "store",
        "parallel_tool_calls",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "extra_headers",
        "extra_query",
        "extra_body",
        "timeout",
        "stream",
    }
)
NO_EQUIVALENT = {
    "n": "n > 1 (several choices) has no Responses equivalent",
    "logprobs": "logprobs are requested differently in Responses (include)",
    "top_logprobs": "logprobs are requested differently in Responses (include)",
    "logit_bias": "logit_bias has no Responses equivalent",
    "functions": "the deprecated `functions` parameter must first become `tools`",
    "function_call": "the deprecated `function_call` parameter must first become `tool_choice`",
    "audio": "audio output has no Responses equivalent",
    "modalities": "audio output has no Responses equivalent",
    "prediction": "predicted outputs have no Responses equivalent",
    "seed": "seed has no Responses equivalent",
    "stop": "stop sequences have no Responses equivalent",
    "web_search_options": "web search is a tool in Responses (tools=[{'type': 'web_search'}])",
    "presence_penalty": "presence_penalty is not a Responses parameter",
    "frequency_penalty": "frequency_penalty is not a Responses parameter",
}


def convert_message(node: cst.BaseExpression) -> cst.BaseExpression:
    """One message dict literal → an input item (unchanged when it already is one)."""
    pairs = dict_pairs(node, "a message")
    keys = dict(pairs)
    role = string_value(keys.get("role", cst.Name("None")))
    if role is None:
        raise Unsafe("a message's role is not a plain string")
    if "name" in keys:
        raise Unsafe("a message has a `name`, which Responses items cannot carry")
    if role == "tool":
        if set(keys) != {"role", "tool_call_id", "content"}:
            raise Unsafe("a tool message has fields other than tool_call_id and content")
        return make_dict(
            [
                ("type", string("function_call_output")),
                ("call_id", keys["tool_call_id"]),
                ("output", keys["content"]),
            ],
            node,  # type: ignore[arg-type]
        )
    if role not in ("system", "developer", "user", "assistant"):
        raise Unsafe(f"messages with role '{role}' have no Responses equivalent")
    if set(keys) - {"role", "content"}:
        extra = ", ".join(sorted(set(keys) - {"role", "content"}))
        raise Unsafe(f"a {role} message has `{extra}` (written by hand; migrate it by hand)")
    content = keys.get("content")
    if not isinstance(content, cst.List):
        return node
    parts = [_part(element, role) for element in content.elements]
    new_content = content.with_changes(
        elements=[e.with_changes(value=p) for e, p in zip(content.elements, parts, strict=True)]
    )
    return make_dict([(k, new_content if k == "content" else v) for k, v in pairs], node)  # type: ignore[arg-type]


def _part(element: cst.BaseElement, role: str) -> cst.BaseExpression:
    if not isinstance(element, cst.Element):
        raise Unsafe("message content built with * unpacking")
    pairs = dict_pairs(element.value, "a content part")
    keys = dict(pairs)
    kind = string_value(keys.get("type", cst.Name("None")))
    if kind == "text" and set(keys) == {"type", "text"}:
        text_type = "output_text" if role == "assistant" else "input_text"
        return make_dict([("type", string(text_type)), ("text", keys["text"])], element.value)  # type: ignore[arg-type]
    if kind == "image_url" and set(keys) == {"type", "image_url"}:
        image = dict(dict_pairs(keys["image_url"], "an image_url"))
        if "url" not in image or set(image) - {"url", "detail"}:
            raise Unsafe("an image part with fields other than url and detail")
        new = [("type", string("input_image")), ("image_url", image["url"])]
        if "detail" in image:
            new.append(("detail", image["detail"]))
        return make_dict(new, element.value)  # type: ignore[arg-type]
    raise Unsafe(f"a content part of type {kind!r} (migrate it by hand)")


def convert_messages(node: cst.List) -> cst.List:
    if any(not isinstance(e, cst.Element) for e in node.elements):
        raise Unsafe("the messages list is built with * unpacking")
    return node.with_changes(
        elements=[e.with_changes(value=convert_message(e.value)) for e in node.elements]
    )


def split_instructions(node: cst.List) -> tuple[cst.BaseExpression | None, cst.List]:
    """A leading system (or developer) message becomes `instructions`."""
    if not node.elements:
        return None, node
    first = node.elements[0]
    if not isinstance(first, cst.Element) or not isinstance(first.value, cst.Dict):
        return None, node
    keys = dict(dict_pairs(first.value, "a message"))
    role = string_value(keys.get("role", cst.Name("None")))
    content = keys.get("content")
    if role not in ("system", "developer") or set(keys) != {"role", "content"}:
        return None, node
    if isinstance(content, cst.List):
        return None, node
    rest = list(node.elements[1:])
    if rest:  # the old first element's separator formatting stays with the list
        last = rest[-1]
        rest[-1] = last.with_changes(comma=node.elements[-1].comma)
    return content, node.with_changes(elements=rest)


def convert_tool(node: cst.BaseExpression) -> cst.BaseExpression:
    pairs = dict_pairs(node, "a tool definition")
    keys = dict(pairs)
    kind = string_value(keys.get("type", cst.Name("None")))
    if kind != "function" or set(keys) != {"type", "function"}:
        raise Unsafe(f"a tool of type {kind!r} (migrate it by hand)")
    function = dict_pairs(keys["function"], "a function definition")
    names = [k for k, _ in function]
    if set(names) - {"name", "description", "parameters", "strict"}:
        raise Unsafe("a function definition with unexpected fields")
    flat = [("type", string("function")), *function]
    if "strict" not in names:
        # Chat Completions functions are not strict unless asked; Responses ones are.
        flat.append(("strict", cst.Name("False")))
    return make_dict(flat, node)  # type: ignore[arg-type]


def convert_tools(node: cst.BaseExpression) -> cst.BaseExpression:
    if not isinstance(node, cst.List) or any(not isinstance(e, cst.Element) for e in node.elements):
        raise Unsafe("the tools list is not written out as a list literal")
    return node.with_changes(
        elements=[e.with_changes(value=convert_tool(e.value)) for e in node.elements]
    )


def convert_tool_choice(node: cst.BaseExpression) -> cst.BaseExpression:
    if string_value(node) in ("auto", "none", "required"):
        return node
    keys = dict(dict_pairs(node, "tool_choice"))
    if string_value(keys.get("type", cst.Name("None"))) != "function" or set(keys) != {
        "type",
        "function",
    }:
        raise Unsafe("a tool_choice this tool cannot translate")
    function = dict(dict_pairs(keys["function"], "tool_choice.function"))
    if set(function) != {"name"}:
        raise Unsafe("a tool_choice this tool cannot translate")
    return make_dict([("type", string("function")), ("name", function["name"])])


def convert_format(node: cst.BaseExpression) -> cst.BaseExpression:
    """A `response_format` dict literal → the `format` of Responses' `text`."""
    keys = dict(dict_pairs(node, "response_format"))
    kind = string_value(keys.get("type", cst.Name("None")))
    if kind in ("text", "json_object") and set(keys) == {"type"}:
        return make_dict([("type", string(kind))])
    if kind == "json_schema" and set(keys) == {"type", "json_schema"}:
        schema = dict_pairs(keys["json_schema"], "response_format.json_schema")
        if {k for k, _ in schema} - {"name", "schema", "strict", "description"}:
            raise Unsafe("a json_schema response_format with unexpected fields")
        return make_dict([("type", string("json_schema")), *schema], keys["json_schema"])  # type: ignore[arg-type]
    raise Unsafe("a response_format this tool cannot translate")


def check_names(call: cst.Call) -> None:
    """Unsafe when an argument has no Responses equivalent (checked before anything else, so
    the reason given is the one that matters most)."""
    for arg in call.args:
        if arg.star or arg.keyword is None:
            raise Unsafe("positional or ** arguments (their names are not visible here)")
        name = arg.keyword.value
        if name in NO_EQUIVALENT and not (name == "n" and _is_one(arg.value)):
            raise Unsafe(NO_EQUIVALENT[name])


def convert_arguments(
    call: cst.Call,
    method: str,
    messages: cst.BaseExpression | None = None,
    tools: cst.BaseExpression | None = None,
) -> list[cst.Arg]:
    """The Responses arguments of `call`. `messages` and `tools` name lists converted where
    they are built (kept as the argument); None: the literal is converted in place."""
    args: list[cst.Arg] = []
    text: list[tuple[str, cst.BaseExpression]] = []
    seen = set()
    check_names(call)
    for arg in call.args:
        assert arg.keyword is not None
        name, value = arg.keyword.value, arg.value
        seen.add(name)
        if name in SAME:
            args.append(arg)
        elif name in ("max_tokens", "max_completion_tokens"):
            args.append(keyword("max_output_tokens", value))
        elif name == "reasoning_effort":
            args.append(keyword("reasoning", make_dict([("effort", value)])))
        elif name == "verbosity":
            text.append(("verbosity", value))
        elif name == "response_format":
            if method in ("parse", "stream"):
                args.append(keyword("text_format", value))
            else:
                text.insert(0, ("format", convert_format(value)))
        elif name == "messages":
            if messages is not None:
                args.append(keyword("input", messages))
                continue
            if not isinstance(value, cst.List):
                raise Unsafe("`messages` is not a list literal or a list built in this function")
            instructions, rest = split_instructions(convert_messages(value))
            if instructions is not None:
                args.append(keyword("instructions", instructions))
            args.append(keyword("input", rest))
        elif name == "tools":
            args.append(arg if tools is not None else keyword("tools", convert_tools(value)))
        elif name == "tool_choice":
            args.append(keyword("tool_choice", convert_tool_choice(value)))
        elif name == "stream_options":
            continue  # usage comes with the final event in Responses
        elif name == "n":
            continue  # n=1 (check_names refused any other)
        else:
            raise Unsafe(f"the argument `{name}` is not one this tool knows")
    if text:
        args.append(keyword("text", make_dict(text)))
    if "store" not in seen:
        # Chat Completions keeps nothing unless asked; Responses stores by default.
        args.append(keyword("store", cst.Name("False")))
    return _commas(args, list(call.args))


def _is_one(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Integer) and node.value == "1"


def _commas(args: list[cst.Arg], original: list[cst.Arg]) -> list[cst.Arg]:
    """Separators for the new argument list in the call's own style: new and moved arguments
    take the separator of its first argument; the last keeps the call's trailing comma and
    the space before its closing parenthesis."""
    sep: cst.Comma | cst.MaybeSentinel = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if len(original) > 1 and isinstance(original[0].comma, cst.Comma):
        sep = original[0].comma
    trailing = original[-1].comma if original else cst.MaybeSentinel.DEFAULT
    closing = original[-1].whitespace_after_arg if original else cst.SimpleWhitespace("")
    out = []
    for i, arg in enumerate(args):
        if i == len(args) - 1:
            out.append(arg.with_changes(comma=trailing, whitespace_after_arg=closing))
            continue
        if arg.comma is cst.MaybeSentinel.DEFAULT or arg.comma is trailing:
            arg = arg.with_changes(comma=sep)
        if arg.whitespace_after_arg is closing:
            arg = arg.with_changes(whitespace_after_arg=cst.SimpleWhitespace(""))
        out.append(arg)
    return out
