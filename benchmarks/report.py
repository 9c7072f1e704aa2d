"""Writing benchmark tables into docs/benchmarks.md, one ``## section`` per benchmark."""

from __future__ import annotations

import pathlib


def replace_section(path: pathlib.Path, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a markdown file, keeping the others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    header = f"## {title}"
    lines = text.splitlines()
    out, skipping, found = [], False, False
    for line in lines:
        if line.strip() == header:
            out.extend([header, "", body.rstrip(), ""])
            skipping, found = True, True
            continue
        if skipping and line.startswith("## "):
            skipping = False
        if not skipping:
            out.append(line)
    if not found:
        out.extend(["", header, "", body.rstrip(), ""])
    path.write_text("\n".join(out).rstrip() + "\n")
