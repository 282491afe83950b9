"""Finetune Workbench: page config and navigation, nothing else."""

import streamlit as st

# An emoji, drawn by the browser: a :material/ icon here is fetched from fonts.gstatic.com
# on every page load (the only request the app would make outside its own origin).
st.set_page_config(page_title="Finetune Workbench", page_icon="🛠️", layout="wide")
navigation = st.navigation([
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/rocket_launch:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/playground.py", title="Playground", icon=":material/view_column:"),
    st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/table_view:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
])
navigation.run()
