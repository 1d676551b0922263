"""The README's "Definitions" section, served to the admin's report pages.

One text defines every figure; the pages link to it rather than keep a
second copy that could drift. It is read from the README beside the
package (a checkout) or from the installed distribution's long
description (the README at build time), and rendered from the few
Markdown forms the section uses: paragraphs, "- " lists, **bold**,
*italics*, `code` and links.
"""
import functools
import html
import importlib.metadata
import re
from pathlib import Path

from django.utils.safestring import mark_safe

DISTRIBUTION = "iptv-viewstats"
HEADING = "## Definitions"


def _readme():
    checkout = Path(__file__).resolve().parent.parent / "README.md"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    try:
        return importlib.metadata.metadata(DISTRIBUTION).json.get("description") or ""
    except importlib.metadata.PackageNotFoundError:
        return ""


def section(text):
    """The lines of the Definitions section of `text`, without its heading."""
    lines = text.splitlines()
    try:
        first = lines.index(HEADING) + 1
    except ValueError:
        return []
    rest = lines[first:]
    end = next((i for i, line in enumerate(rest) if line.startswith("## ")), len(rest))
    return rest[:end]


def _inline(text):
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", text)
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)


def render(lines):
    """HTML for the section: blocks are paragraphs or list items, joined across wrapped lines."""
    blocks, current = [], None
    for line in lines + [""]:
        if not line.strip():
            if current:
                blocks.append(current)
            current = None
        elif line.startswith("- "):
            if current:
                blocks.append(current)
            current = ["li", line[2:]]
        elif current is None:
            current = ["p", line]
        else:
            current[1] += " " + line.strip()
    out, in_list = [], False
    for kind, text in blocks:
        if kind == "li" and not in_list:
            out.append("<ul>")
        if kind != "li" and in_list:
            out.append("</ul>")
        in_list = kind == "li"
        out.append(f"<{kind}>{_inline(text)}</{kind}>")
    if in_list:
        out.append("</ul>")
    return mark_safe("\n".join(out))


@functools.lru_cache(maxsize=1)
def definitions_html():
    lines = section(_readme())
    return render(lines) if lines else ""
