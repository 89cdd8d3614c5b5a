"""Lark grammars (custom tools with `syntax: "lark"`) as llama.cpp GBNF, for the embedded model.

Clients send the subset of Lark that describes a language without a lexer's help — Codex's
`apply_patch` grammar is the case that matters. Covered: rules and terminals
(`name: …`, `NAME: …`, with `?`/`!` modifiers and `.N` priorities, which do not change the
language), alternatives (also on `|` continuation lines), grouping `( )`, optional `[ ]`,
`?` `*` `+`, `~ n` and `~ n..m` repetition, string literals, character ranges
`"a".."z"`, regular expressions without flags (compiled by llama-cpp-python's regex
converter; `.` does not match a newline, as in Lark), `-> alias` (a parse-tree name: no
effect on the language) and `%import common.X` for the common terminals in COMMON.

Outside the subset, and answered with a 400 naming the construct: `%ignore` (Lark would
skip that text between tokens, which a character grammar cannot do without rewriting every
rule), templates, case-insensitive literals, regex flags, `%declare`/`%override`/`%extend`,
imports from elsewhere than `common`.
"""

import re

import orjson
from llama_cpp.llama_grammar import SchemaConverter

PREFIX = "lark-"

COMMON = {
    "LF": '"\\n"',
    "CR": '"\\r"',
    "NEWLINE": '("\\r"? "\\n")+',
    "WS_INLINE": "[ \\t]+",
    "WS": "[ \\t\\f\\r\\n]+",
    "DIGIT": "[0-9]",
    "HEXDIGIT": "[a-fA-F0-9]",
    "LETTER": "[a-zA-Z]",
    "LCASE_LETTER": "[a-z]",
    "UCASE_LETTER": "[A-Z]",
    "WORD": "[a-zA-Z]+",
    "INT": "[0-9]+",
    "SIGNED_INT": "[+-]? [0-9]+",
    "DECIMAL": '[0-9]+ "." [0-9]* | "." [0-9]+',
    "NUMBER": '[+-]? ([0-9]+ ("." [0-9]*)? | "." [0-9]+) ([eE] [+-]? [0-9]+)?',
    "CNAME": "[a-zA-Z_] [a-zA-Z0-9_]*",
    "ESCAPED_STRING": '"\\"" ([^"\\\\\\n] | "\\\\" [^\\n])* "\\""',
}

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t]+|//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"i?)
  | (?P<regex>/(?:[^/\\\n]|\\.)+/[imslux]*)
  | (?P<arrow>->)
  | (?P<range>\.\.)
  | (?P<number>\d+)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>[()\[\]|?*+~{},:.])
    """,
    re.VERBOSE,
)


class LarkError(ValueError):
    """The grammar uses something outside the supported subset (the message names it)."""


def lark_to_gbnf(grammar: str, name: str) -> tuple[str, dict[str, str]]:
    """(the GBNF rule for `start`, every rule it needs) for a Lark grammar."""
    return _Translator(name).translate(grammar)


class _Translator:
    def __init__(self, name: str):
        self.prefix = PREFIX + re.sub(r"[^A-Za-z0-9-]", "-", name) + "-"
        self.rules: dict[str, str] = {}
        self.regexes = SchemaConverter(
            prop_order={}, allow_fetch=False, dotall=False, raw_pattern=True
        )
        self.defined: set[str] = set()
        self.used: set[str] = set()
        self.imported: dict[str, str] = {}
        self._count = 0

    def translate(self, grammar: str) -> tuple[str, dict[str, str]]:
        for statement in _statements(grammar):
            if statement.startswith("%"):
                self._directive(statement)
            else:
                self._definition(statement)
        for lark_name, common in self.imported.items():
            self.rules[self._ref(lark_name)] = COMMON[common]
            self.defined.add(lark_name)
        missing = sorted(self.used - self.defined)
        if missing:
            raise LarkError(f"the grammar uses '{missing[0]}' but never defines it")
        if "start" not in self.defined:
            raise LarkError("the grammar has no 'start' rule")
        rules = dict(self.rules)
        rules.update(self.regexes._rules)
        return self._ref("start"), rules

    def _directive(self, statement: str) -> None:
        words = statement.split()
        if words[0] != "%import":
            raise LarkError(f"'{words[0]}' is not supported (only %import common.X)")
        rest = statement[len("%import") :].strip()
        if match := re.fullmatch(r"common\.([A-Z_]+)(?:\s*->\s*([A-Za-z_]\w*))?", rest):
            self._import(match.group(1), match.group(2) or match.group(1))
        elif match := re.fullmatch(r"common\s*\(([^)]*)\)", rest):
            for common in (n.strip() for n in match.group(1).split(",") if n.strip()):
                self._import(common, common)
        else:
            raise LarkError(f"'%import {rest}' is not supported (only %import common.X)")

    def _import(self, common: str, alias: str) -> None:
        if common not in COMMON:
            raise LarkError(f"common.{common} is not supported; known: {', '.join(COMMON)}")
        self.imported[alias] = common

    def _definition(self, statement: str) -> None:
        head, sep, body = statement.partition(":")
        match = re.fullmatch(r"\s*[?!]?([A-Za-z_]\w*)(?:\.-?\d+)?\s*", head)
        if not sep or match is None:
            if "{" in head:
                raise LarkError(f"templates ('{head.strip()}') are not supported")
            raise LarkError(f"cannot read the definition '{statement[:60]}'")
        lark_name = match.group(1)
        self.defined.add(lark_name)
        tokens = _tokens(body)
        expression, rest = self._alternatives(tokens)
        if rest:
            raise LarkError(f"unexpected '{rest[0]}' in '{lark_name}'")
        self.rules[self._ref(lark_name)] = expression

    def _ref(self, lark_name: str) -> str:
        return self.prefix + lark_name.replace("_", "-")

    # expansions := sequence ('->' NAME)? ('|' sequence ('->' NAME)?)*
    def _alternatives(self, tokens: list[str]) -> tuple[str, list[str]]:
        options = []
        while True:
            sequence, tokens = self._sequence(tokens)
            if tokens and tokens[0] == "->":
                tokens = tokens[2:]  # an alias names the parse-tree node only
            options.append(sequence or '""')
            if not tokens or tokens[0] != "|":
                break
            tokens = tokens[1:]
        return " | ".join(options), tokens

    def _sequence(self, tokens: list[str]) -> tuple[str, list[str]]:
        items = []
        while tokens and tokens[0] not in ("|", ")", "]", "->"):
            item, tokens = self._item(tokens)
            items.append(item)
        return " ".join(items), tokens

    def _item(self, tokens: list[str]) -> tuple[str, list[str]]:
        atom, tokens = self._atom(tokens)
        if tokens and tokens[0] in ("?", "*", "+"):
            return f"{atom}{tokens[0]}", tokens[1:]
        if tokens and tokens[0] == "~":
            if len(tokens) < 2 or not tokens[1].isdigit():
                raise LarkError("'~' must be followed by a count")
            low, tokens = tokens[1], tokens[2:]
            high = low
            if tokens[:1] == [".."]:
                if len(tokens) < 2 or not tokens[1].isdigit():
                    raise LarkError("'~ n..' must be followed by a count")
                high, tokens = tokens[1], tokens[2:]
            return f"{atom}{{{low},{high}}}", tokens
        return atom, tokens

    def _atom(self, tokens: list[str]) -> tuple[str, list[str]]:
        if not tokens:
            raise LarkError("an expression ends too early")
        token, rest = tokens[0], tokens[1:]
        if token in ("(", "["):
            inner, rest = self._alternatives(rest)
            closer = ")" if token == "(" else "]"
            if not rest or rest[0] != closer:
                raise LarkError(f"'{token}' is not closed")
            return f"({inner})" + ("?" if token == "[" else ""), rest[1:]
        if token.startswith('"'):
            if token.endswith('"i'):
                raise LarkError(f"case-insensitive literals ({token}) are not supported")
            text = _string(token)
            if rest[:1] == [".."] and len(rest) > 1 and rest[1].startswith('"'):
                return self._char_range(text, _string(rest[1])), rest[2:]
            return orjson.dumps(text).decode(), rest
        if token.startswith("/"):
            return self._regex(token), rest
        if token[0].isalpha() or token[0] == "_":
            self.used.add(token)
            return self._ref(token), rest
        raise LarkError(f"'{token}' is not supported here")

    def _char_range(self, low: str, high: str) -> str:
        if len(low) != 1 or len(high) != 1:
            raise LarkError(f'a range needs single characters, not "{low}".."{high}"')
        return f"[{_class_char(low)}-{_class_char(high)}]"

    def _regex(self, token: str) -> str:
        body, _, flags = token[1:].rpartition("/")
        if flags:
            raise LarkError(f"regular expression flags ('{flags}' in {token}) are not supported")
        self._count += 1
        pattern = "^" + body + "$"  # the converter takes anchored patterns
        try:
            return self.regexes._visit_pattern(pattern, f"{self.prefix}re{self._count}")
        except Exception as exc:  # the converter's own errors are plain exceptions
            raise LarkError(f"cannot compile the regular expression {token}: {exc}") from exc


def _statements(grammar: str) -> list[str]:
    """Definitions and directives, with `|` continuation lines joined to their definition."""
    statements: list[str] = []
    for raw in grammar.splitlines():
        line = re.sub(r"^\s*//.*$", "", raw).rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith("|") and statements:
            statements[-1] += " " + line.strip()
        else:
            statements.append(line.strip())
    return statements


def _tokens(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise LarkError(f"cannot read '{text[at : at + 20]}'")
        at = match.end()
        if match.lastgroup == "op" and match.group() in "{},":
            raise LarkError("templates ('{…}') are not supported")
        if match.lastgroup != "space":
            tokens.append(match.group())
    return tokens


def _string(token: str) -> str:
    try:
        return orjson.loads(token)
    except orjson.JSONDecodeError:
        # Lark strings follow Python's escapes; the few JSON lacks are unlikely in a grammar.
        raise LarkError(f"cannot read the string {token}") from None


def _class_char(char: str) -> str:
    return f"\\x{ord(char):02X}" if ord(char) < 0x100 else char
