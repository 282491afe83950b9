"""What a form's user typed survives a change of method or adapter.

Streamlit drops a widget's value on any run that does not draw it, and a widget keyed by the
method would start again from its default: both silently undid what the user typed (a user
who typed "3 steps" trained by epochs after choosing another adapter). Here each widget keeps
its value beside Streamlit's, and a value left at its default follows the next default (a
LoRA run's learning rate is not a full fine-tune's); the form says what moved.
"""

import streamlit as st

KEPT = "form-kept"  # {widget key: the value it last held}, kept while it is not drawn
OFFERED = "form-offered"  # {widget key: the default it was last drawn with}
DRAWN = "form-drawn"  # {scope: every label drawn in it}, to say which settings are not now


class Tracker:
    """One run of a form: its widgets, and the defaults that moved under untouched values.
    `scope` names the form's starting point (a preset): a new one starts afresh."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.moved: list[str] = []
        self.drawn: list[str] = []

    def key(self, name: str) -> str:
        return f"{name}-{self.scope}"

    def __call__(self, widget, label: str, name: str, default, **kwargs):
        """`widget(label, **kwargs)` keyed by `name`, holding what the user typed, else
        `default`."""
        key = self.key(name)
        kept = st.session_state.setdefault(KEPT, {})
        offered = st.session_state.setdefault(OFFERED, {})
        value = st.session_state[key] if key in st.session_state else kept.get(key, default)
        if key in offered and value == offered[key] != default:
            self.moved.append(f"{label} {shown(offered[key])} → {shown(default)}")
            value = default
        offered[key] = default
        st.session_state[key] = value
        kept[key] = widget(label, key=key, **kwargs)
        self.drawn.append(label)
        return kept[key]

    def gone(self) -> list[str]:
        """Settings drawn earlier in this scope and not on this run (their values kept)."""
        before = st.session_state.setdefault(DRAWN, {}).setdefault(self.scope, [])
        before.extend(label for label in self.drawn if label not in before)
        return [label for label in before if label not in self.drawn]


def shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
