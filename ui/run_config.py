"""A run as the file and the command that reproduce it (Train page before launch, run pages after)."""

import streamlit as st

from core.config import TrainConfig, to_yaml
from core.launch import command_line


def config_panel(config: TrainConfig, key: str, expanded: bool = False,
                 repeat: dict | None = None) -> None:
    """The run.yaml (copy with the code block's button, or download) and the exact command;
    with `repeat` (an experiment's sweep and seeds), the experiment's."""
    with st.expander("Run config (YAML) and command line", expanded=expanded):
        text = to_yaml(config, repeat)
        st.code(text, language="yaml")
        st.download_button("Download run.yaml", text, "run.yaml", mime="application/x-yaml",
                           key=f"yaml-{key}")
        st.caption("Reproduce it from a terminal, in the project folder:")
        st.code(command_line(config), language="bash")
