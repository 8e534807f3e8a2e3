"""The HTML pages: the sign-up form and the answer page that shows what was stored."""

from __future__ import annotations

import html
from importlib import resources
from string import Template

from store import Submission, new_id

LABELS = {"name": "Full name", "email": "Email address", "phone": "Phone number"}


def _template(name: str) -> Template:
    return Template(resources.files("origin").joinpath("templates", name).read_text(encoding="utf-8"))


_FORM = _template("form.html")
_STORED = _template("stored.html")
_FIND = _template("find.html")
_FOUND = _template("found.html")


def form_page() -> str:
    """The form, with a fresh submission id so that posting it twice stores it once."""
    return _FORM.substitute(submission_id=new_id())


def _row(item: Submission, name: str, value: str) -> str:
    encrypted = name in item.encrypted_fields
    label = html.escape(LABELS.get(name, name))
    badge = (
        '<span class="badge encrypted">ciphertext</span>'
        if encrypted
        else '<span class="badge plain">as typed</span>'
    )
    return (
        f'<tr><th scope="row">{label}<br><code class="name">{html.escape(name)}</code></th>'
        f'<td class="value" data-field="{html.escape(name)}">{html.escape(value)}</td><td>{badge}</td></tr>'
    )


def stored_page(item: Submission, *, repeated: bool = False, extra: str = "") -> str:
    """The answer page: every field as stored, with which of them arrived as ciphertext; `extra` is HTML
    placed under the table (the demo's charge button), made by our code, never from a request."""
    rows = "\n".join(_row(item, name, value) for name, value in item.fields.items())
    count = len(item.encrypted_fields)
    note = (
        "This form was submitted before; this is what was stored the first time."
        if repeated
        else "Thank you. This is exactly what the application stored."
    )
    return _STORED.substitute(
        id=html.escape(item.id),
        received_at=html.escape(item.received_at),
        rows=rows,
        note=note,
        extra=extra,
        encrypted_summary=(
            f"{count} field{'s' if count != 1 else ''} arrived encrypted at the edge"
            if count
            else "no field arrived encrypted: is the form served through the edge proxy?"
        ),
    )


def find_page(field: str) -> str:
    """The search form: one input named after the field searched by, so the edge protects it and adds
    its beacon like any field of that name."""
    label = LABELS.get(field, field)
    return _FIND.substitute(field=html.escape(field), label=html.escape(label))


def found_page(field: str, ids: list[str], *, capped: bool, limit: int) -> str:
    """The candidates: links to the items whose beacon for `field` is the term's (never the term)."""
    links = "\n".join(
        f'<li><a href="/submissions/{html.escape(i)}"><code>{html.escape(i)}</code></a></li>' for i in ids
    )
    if not ids:
        summary = "No submission has this beacon: none holds the value searched for."
    else:
        summary = f"{len(ids)} candidate{'s' if len(ids) != 1 else ''}"
        if capped:
            summary = f"More than {limit} candidates; the first {limit}"
    return _FOUND.substitute(
        field=html.escape(field),
        label=html.escape(LABELS.get(field, field)),
        summary=summary,
        links=links,
        capped="capped" if capped else "complete",
    )
