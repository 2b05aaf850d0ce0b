"""`attentionviz.Widget`: the web app inside a notebook (Jupyter, JupyterLab, VS Code, Colab).

    import attentionviz as av
    w = av.Widget("runs/minilm", layer=2, head=3)   # display it: the last expression of a cell
    w.layer, w.head = 4, 1                          # moves the view; clicks in it update these
    w.selection                                     # DataFrame of the clicked token
    av.Widget("runs/step-0010", compare="runs/step-0000")   # compare mode: two runs side by side
    av.Widget("runs/series", scrub="steps")                 # a training series, scrubbed through

The frontend is the same build as the served app's (`hosts/static/embed/`, shipped in the wheel:
no CDN, works offline). Its data requests travel over the widget comm as custom messages and
are answered here by the server's own routes (`widget.asgi`), binary frames as message buffers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from attentionviz.embed.reducers import REDUCERS
from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.hosts.widget.asgi import InProcessClient
from attentionviz.store.reader import Run

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

EMBED_DIR = Path(__file__).resolve().parents[1] / "static" / "embed"
VIEWS = ("matrix", "single", "headmap")
SCRUB = ("", "layers", "heads", "steps")
THEMES = ("light", "dark")
SELECTION_COLUMNS = ("sequence", "position", "token", "kind", "layer", "head")


def _bundle(name: str) -> Path | str:
    path = EMBED_DIR / name
    if path.exists():
        return path
    # A checkout whose frontend is not built: the widget says so instead of showing nothing.
    return "export default { render({ el }) { el.textContent = 'attentionviz: the web app is not built; run `npm ci && npm run build` in frontend/ and reinstall.'; } };"


class Widget(anywidget.AnyWidget):  # type: ignore[misc]
    """The attentionviz app over one run, as a notebook widget.

    `run` (the id of the run shown), `compare` (the id of the run shown beside it, "" for none),
    `scrub` ("", "layers", "heads" or "steps"), `layer`, `head`, `view` ("matrix", "single" or
    "headmap"), `projection` (a layout method: "tsne", ...), `dim` (2 or 3), `color` (a colour mode,
    e.g. "query_key", "position"), `theme` ("light", "dark") and `metric` (the head metric the
    Matrix View is coloured by, "" for none) sync both ways: setting one moves the view, and
    navigating in the view updates them. `selection` holds what was clicked in the Single View.
    `run` may be a folder of runs (a training series); `compare` another run folder.
    """

    _esm = _bundle("attentionviz.js")
    _css = _bundle("attentionviz.css") if (EMBED_DIR / "attentionviz.css").exists() else ""

    run_id = traitlets.Unicode("").tag(sync=True)
    compare = traitlets.Unicode("").tag(sync=True)
    scrub = traitlets.Unicode("").tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    view = traitlets.Unicode("matrix").tag(sync=True)
    projection = traitlets.Unicode(next(iter(REDUCERS))).tag(sync=True)
    dim = traitlets.Int(2).tag(sync=True)
    color = traitlets.Unicode("query_key").tag(sync=True)
    theme = traitlets.Unicode("light").tag(sync=True)
    metric = traitlets.Unicode("").tag(sync=True)
    height = traitlets.Int(640).tag(sync=True)
    _selection = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(
        self,
        run: str | Path | Run,
        *,
        compare: str | Path | Run | None = None,
        scrub: str = "",
        layer: int | None = None,
        head: int | None = None,
        view: str | None = None,
        projection: str | None = None,
        dim: int = 2,
        color: str = "query_key",
        theme: str = "light",
        metric: str = "",
        height: int = 640,
    ) -> None:
        from attentionviz.hosts.server import create_app
        from attentionviz.readmodel.registry import RunRegistry

        paths = [run.path if isinstance(run, Run) else Path(run)]
        if compare is not None:
            paths.append(compare.path if isinstance(compare, Run) else Path(compare))
        self._registry = RunRegistry(paths)
        try:
            shown = self._registry.id_of(paths[0])
        except RunNotFound:  # a folder of runs (a training series): show its first
            shown = self._registry.ids()[0]
        self.run = self._registry.get(shown)
        if view is None:
            view = "single" if layer is not None or head is not None else "matrix"
        self._client = InProcessClient(create_app(self._registry, static_dir=None))
        super().__init__(
            run_id=shown,
            compare="" if compare is None else self._registry.id_of(paths[-1]),
            scrub=scrub,
            layer=layer or 0,
            head=head or 0,
            view=view,
            projection=projection or next(iter(REDUCERS)),
            dim=dim,
            color=color,
            theme=theme,
            metric=metric,
            height=height,
        )
        self.on_msg(self._on_message)

    @property
    def selection(self) -> pd.DataFrame:
        """The tokens selected in the view: sequence, position, token, kind (query/key), layer, head."""
        import pandas as pd

        return pd.DataFrame(list(self._selection), columns=list(SELECTION_COLUMNS))

    def on_select(self, callback: Callable[[pd.DataFrame], None]) -> None:
        """Call `callback(selection)` each time the selection in the view changes."""
        self.observe(lambda _change: callback(self.selection), names="_selection")

    def close(self) -> None:
        self._client.close()
        super().close()

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> int:
        return self._in_range("layer", int(proposal["value"]), self.run.info.layers)

    @traitlets.validate("head")
    def _valid_head(self, proposal: dict[str, Any]) -> int:
        return self._in_range("head", int(proposal["value"]), self.run.info.heads)

    @traitlets.validate("run_id", "compare")
    def _valid_run(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value and value not in self._registry.ids():
            raise AttentionVizError(f"no run {value!r} here; the runs are {', '.join(self._registry.ids())}")
        if proposal["trait"].name == "run_id" and value:
            self.run = self._registry.get(value)
        return value

    @traitlets.validate("scrub")
    def _valid_scrub(self, proposal: dict[str, Any]) -> str:
        return self._one_of("scrub", str(proposal["value"]), SCRUB)

    @traitlets.validate("view")
    def _valid_view(self, proposal: dict[str, Any]) -> str:
        return self._one_of("view", str(proposal["value"]), VIEWS)

    @traitlets.validate("projection")
    def _valid_projection(self, proposal: dict[str, Any]) -> str:
        return self._one_of("projection", str(proposal["value"]), tuple(REDUCERS))

    @traitlets.validate("theme")
    def _valid_theme(self, proposal: dict[str, Any]) -> str:
        return self._one_of("theme", str(proposal["value"]), THEMES)

    @traitlets.validate("dim")
    def _valid_dim(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value not in (2, 3):
            raise AttentionVizError(f"dim must be 2 or 3, not {value}")
        return value

    @staticmethod
    def _in_range(name: str, value: int, limit: int) -> int:
        if not 0 <= value < limit:
            raise AttentionVizError(
                f"{name} {value} is out of range; the run has {limit} {name}s (0-{limit - 1})"
            )
        return value

    @staticmethod
    def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise AttentionVizError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def _on_message(self, _widget: object, content: dict[str, Any], _buffers: list[bytes]) -> None:
        """A request of the frontend: {type: "avz:get", id, path} -> {type: "avz:answer", ...} + body."""
        if not isinstance(content, dict) or content.get("type") != "avz:get":
            return
        path = "/" + str(content.get("path", "")).lstrip("/")
        try:
            answer = self._client.get(path)
            status, content_type, body = answer.status, answer.content_type, answer.body
        except AttentionVizError as exc:
            status, content_type, body = 404, "application/json", json.dumps({"detail": str(exc)}).encode()
        except Exception as exc:  # the frontend shows the error; the kernel keeps running
            log.exception("widget request %s failed", path)
            status, content_type, body = 500, "application/json", json.dumps({"detail": repr(exc)}).encode()
        self.send(
            {"type": "avz:answer", "id": content.get("id"), "status": status, "content_type": content_type},
            buffers=[body],
        )
