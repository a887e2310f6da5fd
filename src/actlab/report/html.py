"""The report's HTML, built from small helpers that escape every piece of text they are given.

Nothing reaches a page unescaped except markup these helpers produce themselves: a name, a
title, a summary or a note a user registered is always text, never HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NAV = (
    ("index.html", "Catalog", "catalog"),
    ("index.html#guide", "Decision guide", "guide"),
    ("index.html#speed", "Speed", "speed"),
    ("phenomena.html", "Phenomena", "phenomena"),
    ("experiments.html", "Experiments", "experiments"),
    ("search.html", "Search", "search"),
)


@dataclass(frozen=True)
class Markup:
    """HTML that the helpers made (already safe): it is inserted as is, everything else is escaped."""

    text: str

    def __str__(self) -> str:
        return self.text

    def __add__(self, other: object) -> Markup:
        return Markup(self.text + str(render(other)))


def esc(value: object) -> str:
    """Escape text for HTML content and attribute values (quotes included)."""
    return html.escape(str(value), quote=True)


def render(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    if isinstance(value, (list, tuple)):
        return join(value)
    return Markup(esc(value))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    return Markup(esc(sep).join(render(p).text for p in parts))


def tag(name: str, *children: object, **attrs: object) -> Markup:
    """``<name attrs>children</name>``; attribute names end in ``_`` where Python needs it (``class_``)."""
    text = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None and v is not False
    )
    return Markup(f"<{name}{text}>{join(children).text}</{name}>")


def link(href: str, *children: object, **attrs: object) -> Markup:
    return tag("a", *children, href=href, **attrs)


def external(url: str | None, text: object) -> Markup:
    """A link to a paper, only for http(s) addresses; anything else is shown as text."""
    if url and url.lower().startswith(("https://", "http://")):
        return tag("a", text, href=url, rel="noopener noreferrer", class_="external")
    return render(text) + (Markup(" ") + tag("code", url) if url else Markup(""))


def table(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Sequence[int] = (),
    caption: object = None,
    class_: str | None = None,
) -> Markup:
    """A table; the columns in ``numeric`` are right-aligned in tabular figures."""
    head = tag("tr", *[tag("th", h, class_="num" if i in numeric else None) for i, h in enumerate(header)])
    body = [tag("tr", *[tag("td", c, class_="num" if i in numeric else None) for i, c in enumerate(r)]) for r in rows]
    return tag(
        "div",
        tag("table", tag("caption", caption) if caption is not None else None, tag("thead", head), tag("tbody", *body)),
        class_="table-wrap " + (class_ or ""),
    )


def figure(src: str, alt: str, caption: object) -> Markup:
    return tag("figure", Markup(f'<img src="{esc(src)}" alt="{esc(alt)}" loading="eager">'), tag("figcaption", caption))


def definitions(items: Iterable[tuple[object, object]]) -> Markup:
    return tag("dl", *[tag("dt", k) + tag("dd", v) for k, v in items])


def page(title: str, body: Markup, *, root: str = "", active: str = "", subtitle: object = None) -> str:
    """A whole page: head with the local stylesheet, the nav bar, the body and a footer."""
    nav = tag(
        "nav",
        link(root + "index.html", "actlab", class_="brand"),
        *[link(root + href, text, class_="active" if key == active else None) for href, text, key in NAV],
    )
    header = tag("header", tag("h1", title), tag("p", subtitle, class_="subtitle") if subtitle is not None else None)
    footer = tag(
        "footer",
        "Every number, table and figure here was computed by ",
        tag("code", "actlab report"),
        "; run it again to regenerate them.",
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)} — actlab report</title>\n"
        f'<link rel="stylesheet" href="{esc(root)}style.css">\n'
        '<link rel="icon" href="data:,">\n'
        "</head>\n<body>\n"
        f"{nav.text}\n<main>\n{header.text}\n{body.text}\n</main>\n{footer.text}\n</body>\n</html>\n"
    )
