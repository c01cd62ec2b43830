"""HTTP serving of a trained model (``semicycle serve``; needs ``pip install 'semicycle[serve]'``): the app in
:mod:`.app`, uploads in :mod:`.uploads`, the page in ``page.html``."""

from __future__ import annotations

import importlib.util
import ipaddress
import sys
from pathlib import Path

from ..errors import ConfigError
from .limits import ServeLimits

__all__ = ["ServeLimits", "serve", "is_loopback"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(checkpoint: str, host: str = "127.0.0.1", port: int = 8000, backend: str = "auto", device: str = "auto",
          token: str | None = None, limits: ServeLimits = ServeLimits()) -> None:
    """Load ``checkpoint`` (a run folder, a .pt file or an exported .onnx file) and serve it until interrupted."""
    missing = [name for name in ("fastapi", "uvicorn", "python_multipart") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"semicycle serve needs {', '.join(missing)}: pip install 'semicycle[serve]'")
    import uvicorn

    from ..api import load
    from .app import create_app

    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port; choose one in 1-65535")
    translator = load(checkpoint, device=device, backend=backend)
    resolved = "onnxruntime" if Path(checkpoint).suffix == ".onnx" else "pytorch"
    app = create_app(translator, str(checkpoint), resolved, limits, token or None)
    if not is_loopback(host) and not token:
        print(f"warning: serving on {host} without --token: anyone who reaches this address can use the model",
              file=sys.stderr)
    print(f"serving {checkpoint} ({resolved}; {', '.join(translator.directions)}) on http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
