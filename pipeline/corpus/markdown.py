"""Markdown files read as their plain text (``markdown_text``) and their title (``markdown_title``):
stored raw, their markup became sentences and evidence."""
from __future__ import annotations

import re


def markdown_title(text: str) -> str:
    match = re.match(r"\s*#\s+(.+)", text)
    return match.group(1).strip() if match else ""


def markdown_text(source: str) -> str:
    """The plain text of a Markdown document: stored raw, its markup became sentences and evidence
    (``# PolitiFact: …``, ``*Speaker:* **ted-cruz**``, ``[text](url)``). Parsed by markdown-it (CommonMark,
    with tables and strikethrough), not by patterns: a heading is a paragraph of its own, a list item,
    table row or code line a line, a link or image its text; emphasis and inline HTML marks go, an
    HTML comment too. Blocks are separated by a blank line (paragraph breaks are kept), the lines
    within a paragraph as they were (what the analyser saw before)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(source)
    blocks: list[str] = []
    lines: list[str] = []  # of the list or table being read
    cells: list[str] = []  # of the table row being read
    in_cell = False
    depth = 0  # of lists and tables open

    def inline(children) -> str:
        parts = []
        for child in children or []:
            if child.type in ("text", "text_special", "code_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append("\n")
            elif child.type == "image":
                parts.append(inline(child.children))  # its alt text
        return "".join(parts).strip()

    def put(text: str) -> None:
        if text.strip():
            (lines if depth else blocks).append(text.strip("\n"))

    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open", "table_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close", "table_close"):
            depth -= 1
            if depth == 0 and lines:
                blocks.append("\n".join(lines))
                lines = []
        elif token.type == "tr_open":
            cells = []
        elif token.type == "tr_close":
            put(" | ".join(cell for cell in cells if cell))
        elif token.type in ("th_open", "td_open", "th_close", "td_close"):
            in_cell = token.type.endswith("_open")
        elif token.type == "inline":
            if in_cell:
                cells.append(inline(token.children))
            else:
                put(inline(token.children))
        elif token.type in ("fence", "code_block"):
            put(token.content)
        elif token.type == "html_block" and not token.content.lstrip().startswith("<!--"):
            put(token.content)
    return "\n\n".join(blocks)
