"""Reports: report.md and a self-contained report.html from one list of blocks.

A recipe builds a :class:`Report` of sections holding text, tables, figures and the
command that produced them; :func:`Report.write` renders both files. The HTML embeds
every figure as a base64 data URI, so it opens offline with nothing loaded from the
network. Text blocks, table cells and captions are Markdown (CommonMark plus tables),
rendered to HTML by markdown-it-py with raw HTML disabled: ``**clean_accuracy**`` becomes
``<strong>``, while ``<script>`` or ``<b>`` in the source is shown as text, never injected.

Example:
    >>> rep = Report("My run", command="advlab train ...", config={"seed": 0})
    >>> sec = rep.section("Results")
    >>> sec.table(["model", "acc"], [["cnn", 0.98]], caption="Test accuracy")
    >>> sec.figure("figures/curve.png", "Accuracy per epoch")
    >>> rep.write("runs/x")
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from advlab.store import atomic_write_text, to_jsonable


def fmt(v: Any, digits: int = 3) -> str:
    """Format a table cell: floats to ``digits`` decimals, None as an em dash."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


@dataclass
class Block:
    kind: str  # "text" | "table" | "figure" | "code"
    data: dict[str, Any]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def text(self, markdown: str) -> Section:
        """Markdown text (CommonMark + tables; raw HTML is shown as text in report.html)."""
        self.blocks.append(Block("text", {"text": markdown}))
        return self

    def table(self, headers: list[str], rows: list[list[Any]], caption: str = "") -> Section:
        self.blocks.append(Block("table", {"headers": headers, "rows": rows, "caption": caption}))
        return self

    def figure(self, path: str | os.PathLike[str], caption: str = "") -> Section:
        """A PNG figure; ``path`` relative to the run folder (e.g. ``figures/x.png``)."""
        self.blocks.append(Block("figure", {"path": str(path), "caption": caption}))
        return self

    def code(self, text: str, caption: str = "") -> Section:
        self.blocks.append(Block("code", {"text": text, "caption": caption}))
        return self

    def provenance(self, command: str, config: dict[str, Any] | None = None, seed: int | None = None) -> Section:
        """The command (and seed/config) that produced the numbers of this section."""
        body = f"$ {command}"
        if seed is not None:
            body += f"\n# seed: {seed}"
        if config:
            body += "\n# config: " + json.dumps(to_jsonable(config), sort_keys=True)
        return self.code(body, caption="Produced by")


class Report:
    """A report: a title, the producing command, and sections."""

    def __init__(self, title: str, command: str = "", config: dict[str, Any] | None = None) -> None:
        self.title = title
        self.command = command
        self.config = config or {}
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    # ------------------------------------------------------------ markdown
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        if self.command:
            out += ["```", f"$ {self.command}", "```", ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            for b in s.blocks:
                out += _md_block(b) + [""]
        if self.config:
            out += ["## Configuration", "", "```json", json.dumps(to_jsonable(self.config), indent=2), "```", ""]
        return "\n".join(out)

    # ------------------------------------------------------------ html
    def to_html(self, root: Path) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.command:
            body.append(f"<pre class='cmd'>$ {html.escape(self.command)}</pre>")
        toc = "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(self.sections))
        if toc:
            body.append(f"<nav><ol>{toc}</ol></nav>")
        for i, s in enumerate(self.sections):
            body.append(f"<section id='s{i}'><h2>{html.escape(s.title)}</h2>")
            body += [_html_block(b, root) for b in s.blocks]
            body.append("</section>")
        if self.config:
            cfg = html.escape(json.dumps(to_jsonable(self.config), indent=2))
            body.append(f"<section><h2>Configuration</h2><pre>{cfg}</pre></section>")
        return _HTML_PAGE.format(title=html.escape(self.title), body="\n".join(body))

    def write(self, root: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``report.md`` and ``report.html`` into ``root``; return their paths."""
        root = Path(root)
        md, page = root / "report.md", root / "report.html"
        atomic_write_text(md, self.to_markdown())
        atomic_write_text(page, self.to_html(root))
        return md, page


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with tables; raw HTML off (escaped), unsafe link schemes refused."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def md_html(text: str) -> str:
    """Markdown blocks -> HTML (paragraphs, lists, emphasis, code, tables)."""
    return _markdown().render(text)


def md_inline(text: str) -> str:
    """Inline Markdown (a table cell, a caption) -> HTML without a paragraph."""
    return _markdown().renderInline(text)


def _md_block(b: Block) -> list[str]:
    d = b.data
    if b.kind == "text":
        return [d["text"]]
    if b.kind == "table":
        lines = [f"*{d['caption']}*", ""] if d["caption"] else []
        lines.append("| " + " | ".join(d["headers"]) + " |")
        lines.append("|" + "---|" * len(d["headers"]))
        lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in d["rows"]]
        return lines
    if b.kind == "figure":
        return [f"![{d['caption']}]({d['path']})", f"*{d['caption']}*" if d["caption"] else ""]
    if b.kind == "code":
        return ([f"*{d['caption']}:*", ""] if d["caption"] else []) + ["```", d["text"], "```"]
    raise ValueError(f"unknown block kind {b.kind!r}")


def _html_block(b: Block, root: Path) -> str:
    d = b.data
    if b.kind == "text":
        return md_html(d["text"])
    if b.kind == "table":
        head = "".join(f"<th>{md_inline(str(h))}</th>" for h in d["headers"])
        rows = "".join(
            "<tr>" + "".join(f"<td>{md_inline(fmt(v))}</td>" for v in row) + "</tr>" for row in d["rows"]
        )
        cap = f"<caption>{md_inline(d['caption'])}</caption>" if d["caption"] else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if b.kind == "figure":
        p = root / d["path"]
        if not p.is_file():
            return f"<p class='missing'>figure missing: {html.escape(d['path'])}</p>"
        data = base64.b64encode(p.read_bytes()).decode()
        alt = html.escape(d["caption"])
        return (f"<figure><img alt='{alt}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{md_inline(d['caption'])}</figcaption></figure>")
    if b.kind == "code":
        cap = f"<div class='cap'>{md_inline(d['caption'])}</div>" if d["caption"] else ""
        return f"{cap}<pre>{html.escape(d['text'])}</pre>"
    raise ValueError(f"unknown block kind {b.kind!r}")


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
h1 {{ border-bottom: 2px solid #345; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }} caption {{ text-align: left; font-style: italic; padding: .3em 0; }}
th, td {{ border: 1px solid #bbb; padding: .3em .7em; text-align: right; }} th {{ background: #eef2f6; }}
td:first-child, th:first-child {{ text-align: left; }}
pre {{ background: #f5f5f5; padding: .6em; overflow-x: auto; font-size: .85em; }}
.cap {{ font-size: .8em; color: #555; }} figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
figcaption {{ font-size: .9em; color: #444; }} .missing {{ color: #a00; }}
code {{ background: #f0f0f0; padding: 0 .2em; font-size: .9em; }} pre code {{ background: none; padding: 0; }}
</style></head>
<body>
{body}
</body></html>
"""
