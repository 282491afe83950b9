"""The engine of the workbench: catalog, data, training methods, metrics and CLI.

Nothing here imports streamlit: the same code runs from the pages, the CLI and tests.
"""
