"""The hosts of the one frontend build, over one read model: the server (FastAPI), the notebook
widget (anywidget), the static exports (a folder, one HTML file), the snapshot command and the demo."""
