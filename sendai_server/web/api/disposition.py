"""`Content-Disposition` for a stored file's download, as RFC 6266 has it.

An uploaded file's name is whatever the client sent: any script, quotes, semicolons, and
directory parts (`../../../etc/passwd.pdf`). The header carries

- only the base name: everything up to the last `/` or `\\` is dropped, so no client saves
  the file anywhere but where it was asked to;
- `filename*=UTF-8''…`, the base name percent-encoded (RFC 8187), which browsers and
  Python's email parser read whole: `Rechnung_Müller_€.pdf`, `résumé 2024;x=1.pdf`;
- `filename="…"`, an ASCII fallback for clients that read only that (curl's `-J`): accents
  dropped, a few letters and currency signs spelled out (ß as ss, € as EUR), anything else
  that is not printable ASCII, and `%` (RFC 6266 appendix D), as `_`; quotes and backslashes
  escaped as in any quoted-string.

`filename*` comes first. RFC 6266 tells recipients to prefer it wherever it is, and browsers
do; its appendix D suggests the fallback first for "some existing implementations" of 2011,
but Python's email parser (`get_filename()`) takes the first `filename` it meets, and would
return the fallback. curl reads `filename=` wherever it is.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

DEFAULT_NAME = "file"
# RFC 8187's attr-char beyond letters and digits (quote() keeps those and "_.-~" anyway).
_ATTR_CHAR = "!#$&+-.^_`|~"
_DIRECTORY = re.compile(r".*[/\\]", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What NFKD does not take apart into ASCII and a reader still wants to see.
_SPELLED_OUT = str.maketrans({
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "€": "EUR", "£": "GBP",
    "¥": "JPY", "–": "-", "—": "-", "‘": "'", "’": "'", "“": "'", "”": "'",
})


def base_name(name: str) -> str:
    """The name without any directory part (`/` or `\\`), or `file` when nothing is left."""
    base = _CONTROL.sub("_", _DIRECTORY.sub("", name)).strip()
    return base if base not in ("", ".", "..") else DEFAULT_NAME


def ascii_fallback(name: str) -> str:
    """`name` in printable ASCII: accents dropped, anything else that is not ASCII as `_`."""
    out = []
    for char in unicodedata.normalize("NFKD", name.translate(_SPELLED_OUT)):
        if unicodedata.combining(char):
            continue
        out.append(char if " " <= char <= "~" and char != "%" else "_")
    return "".join(out)


def content_disposition(name: str, disposition: str = "inline") -> str:
    """The header's value for a file called `name` (as the client uploaded it)."""
    base = base_name(name)
    fallback = ascii_fallback(base).replace("\\", "\\\\").replace('"', '\\"')
    encoded = quote(base, safe=_ATTR_CHAR, encoding="utf-8")
    return f"{disposition}; filename*=UTF-8''{encoded}; filename=\"{fallback}\""
