"""What the token admins share: who reads client ids, and a refused form as one message."""

from __future__ import annotations

from typing import Any

from django import forms

from tokens.editor import EditorError
from tokens.errors import DocumentError

EDIT_ERRORS = (EditorError, DocumentError)


def may_read_client_ids(user: Any) -> bool:
    """Client ids are credentials (a client-id-only API mints tokens for whoever sends one): users who may
    change consumer apps read them; auditors, who only read, do not need them."""
    return bool(user.has_perm("tokens.change_consumerapp"))


def masked_client_id(client_id: str) -> str:
    """What an auditor sees of a client id: its last four characters, enough to tell apps apart in a log."""
    return f"••••{client_id[-4:]}"


def form_problems(form: forms.BaseForm) -> str:
    """A refused form's errors as one line, each after its field's label."""
    return "; ".join(
        f"{'' if name == '__all__' else (form.fields[name].label or name) + ': '}{' '.join(str(m) for m in e)}"
        for name, e in form.errors.items()
    )
