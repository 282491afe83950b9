"""Project tools: the docs generator (gen_cli_docs.py) and the mypy baseline check
(mypy_baseline.py). Not part of the installed package."""
