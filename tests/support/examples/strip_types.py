"""Strip the TypeScript of Send AI's samples down to JavaScript that Node.js 20 runs, without a
TypeScript toolchain (Node 20 has no --experimental-strip-types).

It knows exactly what those samples use, and nothing more: `interface Name { ... }`
declarations, and the annotations of arrow-function and `function` parameters (`name: T`,
`name?: T`) and return types (`): Promise<any> =>`). It only ever deletes characters (each
interface's lines become empty lines, so line numbers stay), and anything else TypeScript-only
is left for Node to reject: the tests run `node --check` on the result.
"""

from __future__ import annotations

import re
import sys

_OPEN, _CLOSE = "([{<", ")]}>"
_INTERFACE = re.compile(r"^[ \t]*(export[ \t]+)?interface[ \t]+\w+[^{]*\{", re.MULTILINE)


def _skip_string(source: str, i: int) -> int:
    """The index after the string literal starting at source[i] (', " or `)."""
    quote, i = source[i], i + 1
    while source[i] != quote:
        i += 2 if source[i] == "\\" else 1
    return i + 1


def _matching(source: str, i: int) -> int:
    """The index of the bracket closing the one at source[i], strings skipped."""
    depth = 0
    while True:
        char = source[i]
        if char in "'\"`":
            i = _skip_string(source, i)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1


def _split_top_level(text: str, separator: str) -> list[tuple[int, int]]:
    """(start, end) of the parts of `text` between top-level `separator`s."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE and not (char == ">" and i and text[i - 1] == "="):
            depth -= 1
        elif char == separator and depth == 0:
            parts.append((start, i))
            start = i + 1
    parts.append((start, len(text)))
    return parts


def _strip_parameter(param: str) -> str:
    """`name?: T = d` -> `name = d`; a destructured `{a, b}: T` -> `{a, b}`."""
    depth = 0
    for i, char in enumerate(param):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        elif char == ":" and depth == 0:
            name = param[:i].rstrip()
            name = name[:-1] if name.endswith("?") else name
            default = next((j for j, c in enumerate(param[i:], i) if c == "=" and
                            param[j + 1: j + 2] != ">"), None)
            return name + (" " + param[default:] if default is not None else "")
    return param


def _is_type(text: str) -> bool:
    """Whether `text` can be a simple type annotation on one line (`Promise<any>`, `T[]`,
    `A | B`): not, say, the rest of a ternary's `: other)` across a call's closing bracket."""
    if not text.strip() or any(c in text for c in "\n;'\"`"):
        return False
    depth = 0
    for char in text:
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
        elif char in ",?:=" and depth == 0:
            return False
    return depth == 0


def _strip_interfaces(source: str) -> str:
    while match := _INTERFACE.search(source):
        end = _matching(source, match.end() - 1) + 1
        source = source[:match.start()] + "\n" * source.count("\n", match.start(), end) \
            + source[end:]
    return source


def strip_types(source: str) -> str:
    source = _strip_interfaces(source)
    out, i = [], 0
    while i < len(source):
        char = source[i]
        if char in "'\"`":
            end = _skip_string(source, i)
            out.append(source[i:end])
            i = end
            continue
        if char != "(":
            out.append(char)
            i += 1
            continue
        close = _matching(source, i)
        after = close + 1
        rest = source[after:]
        returns = re.match(r"\s*:\s*", rest)
        arrow = rest.find("=>") if returns else -1
        before = "".join(out).rstrip()
        is_function = re.search(r"\bfunction\s*\w*$", before) is not None
        if returns and arrow != -1 and _is_type(rest[returns.end():arrow]):
            tail = " "  # `(...): T =>` -> `(...) =>`
            after += arrow
        elif returns and is_function and _is_type(rest[returns.end():rest.find("{")]):
            after += rest.index("{")
            tail = " "
        elif re.match(r"\s*=>", rest) or is_function:
            tail = ""
        else:  # not a parameter list: leave it, and look inside it as usual
            out.append(char)
            i += 1
            continue
        inner = source[i + 1:close]
        params = [_strip_parameter(inner[a:b]) for a, b in _split_top_level(inner, ",")]
        out.append("(" + strip_types(",".join(params)) + ")" + tail)
        i = after
    return "".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as source:
        sys.stdout.write(strip_types(source.read()))
