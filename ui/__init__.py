"""Small helpers shared by the pages: database access per script run, charts, the run view."""
