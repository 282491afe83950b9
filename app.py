"""Finetune Workbench: page config and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Finetune Workbench", page_icon="🛠️", layout="wide")
navigation = st.navigation([
    st.Page("pages/train.py", title="Train", icon="🚀", default=True),
    st.Page("pages/runs.py", title="Runs", icon="📋"),
])
navigation.run()
