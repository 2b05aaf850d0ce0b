"""Fetch one binary frame from a test client of the server, as the app reads it."""

from __future__ import annotations

from typing import Any

from attentionviz.readmodel.frames import decode


def frame(client: Any, url: str) -> tuple[dict, dict]:
    """(metadata, named arrays) of the frame at `url`; fails unless it is a 200 binary frame."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    return decode(response.content)
