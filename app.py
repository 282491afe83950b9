"""Finetune Workbench: page config and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Finetune Workbench", page_icon=":material/construction:", layout="wide")
navigation = st.navigation([
    st.Page("app_pages/train.py", title="Train", icon=":material/rocket_launch:", default=True),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/playground.py", title="Playground", icon=":material/view_column:"),
    st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/table_view:"),
])
navigation.run()
