"""``semicycle serve``: a trained model behind HTTP (FastAPI), through the one inference path (:class:`api.Translator`),
so a served image is the PNG ``semicycle translate`` writes for the same file.

    GET  /            the page (pick or drop an image, output beside it, a legend for label maps; no external resources)
    GET  /healthz     200 {"status": "ok"}
    GET  /info        directions, what each takes and gives, palette, size rule, backend, limits, the model's source
    POST /translate   multipart field ``image`` [+ ``direction``, ``format`` as form fields or query parameters]
                      -> 200 image/png of the input's size; ``format=json``: {"image_png_base64", "classes": [...]}

Every refusal is a JSON ``{"error": "<one line>"}``: 400 bad upload or direction, 401 token, 413 over a limit,
503 queue full (at once). Uploads stay in memory; decoding, inference and encoding run in a thread pool, never on
the event loop; the token is compared in constant time; no request names a path or loads a model.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image

from ..api import Translator
from ..data.io import encode_image
from ..errors import SemicycleError
from ..version import __version__
from .limits import ServeLimits
from .uploads import RequestError, decode_image, parse_form

FORMATS = ("png", "json")


def describe(translator: Translator, source: str, backend: str, limits: ServeLimits, token_required: bool) -> dict:
    """The JSON of GET /info."""
    palette = translator.palette
    directions = {}
    for direction in translator.directions:
        net = translator.generators[direction]
        directions[direction] = {"input": kind_of(net, "in_channels"), "output": kind_of(net, "out_channels"),
                                 "size_multiple": int(getattr(net, "size_multiple", 1))}
    return {
        "model": source, "backend": backend, "version": __version__,
        "directions": directions, "default_direction": default_direction(translator),
        "palette": None if palette is None else {
            "name": palette.name,
            "classes": [{"name": n, "color": list(c)} for n, c in zip(palette.class_names, palette.colors)]},
        "size_rule": "any size: the network pads the image to its size multiple; the output has the input's size",
        "limits": {"max_upload_bytes": limits.max_upload_bytes, "max_pixels": limits.max_pixels, "queue": limits.queue},
        "token_required": token_required,
    }


def kind_of(net, side: str) -> str:
    """What a generator takes (``side="in_channels"``) or gives (``"out_channels"``): RGB "image" or "label_map"."""
    return "image" if net.arch.get("kwargs", {}).get(side, 3) == 3 else "label_map"


def default_direction(translator: Translator) -> str:
    """The only direction a model translates, or AtoB (as ``semicycle translate``)."""
    return translator.directions[0] if len(translator.directions) == 1 else "AtoB"


def class_fractions(image: np.ndarray, palette) -> list[dict]:
    """Each palette class's share of an output label map's pixels (its colours are exact palette colours)."""
    flat = image.reshape(-1, 3).astype(np.int64)
    codes = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    by_code = dict(zip(values.tolist(), counts.tolist()))
    total = max(len(codes), 1)
    return [{"name": name, "color": list(color), "fraction": by_code.get((color[0] << 16) | (color[1] << 8) | color[2], 0) / total}
            for name, color in zip(palette.class_names, palette.colors)]


def translate_upload(translator: Translator, body: bytes, content_type: str, query: dict, limits: ServeLimits):
    """A POST /translate body -> (media type, response bytes or JSON). Runs in the server's thread pool."""
    upload = parse_form(body, content_type)
    direction = query.get("direction") or upload.fields.get("direction") or default_direction(translator)
    if direction not in translator.generators:
        raise RequestError(400, f"direction {direction!r} is not served; choose one of: {', '.join(translator.directions)}")
    answer = query.get("format") or upload.fields.get("format") or "png"
    if answer not in FORMATS:
        raise RequestError(400, f"format {answer!r} is unknown; choose one of: {', '.join(FORMATS)}")
    array = decode_image(upload, limits.max_pixels)
    output = np.asarray(translator.translate(Image.fromarray(array), direction))
    png = encode_image(output)
    if answer == "png":
        return "image/png", png
    label_map = kind_of(translator.generators[direction], "out_channels") == "label_map"
    return "application/json", {
        "direction": direction, "width": int(output.shape[1]), "height": int(output.shape[0]),
        "image_png_base64": base64.b64encode(png).decode("ascii"),
        "classes": class_fractions(output, translator.palette) if label_map else None,
    }


def page_html() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def create_app(translator: Translator, source: str, backend: str, limits: ServeLimits = ServeLimits(),
               token: str | None = None):
    """The FastAPI application serving ``translator`` (``source``: the model as the user named it, shown by /info)."""
    pool = ThreadPoolExecutor(max_workers=limits.threads, thread_name_prefix="semicycle-inference")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="semicycle", version=__version__, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    admitted = [0]  # requests between admission and response; only the event loop touches it
    info = describe(translator, source, backend, limits, token is not None)
    page = page_html()

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(SemicycleError)
    async def not_translatable(request: Request, exc: SemicycleError):
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):  # the request fails; the server goes on serving
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server keeps serving"}, status_code=500)

    def authorize(request: Request) -> None:
        if token is None:
            return
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise RequestError(401, "missing or wrong token; send the header 'Authorization: Bearer TOKEN' (serve --token)")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_upload_bytes:
            raise RequestError(413, f"upload of {declared} bytes is over the limit of {limits.max_upload_bytes} "
                                    "(--max-upload-bytes); send a smaller file")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_upload_bytes:
                raise RequestError(413, f"upload is over the limit of {limits.max_upload_bytes} bytes "
                                        "(--max-upload-bytes); send a smaller file")
            chunks.append(chunk)
        return b"".join(chunks)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return HTMLResponse(page)

    @app.get("/info")
    async def get_info(request: Request):
        authorize(request)
        return info

    @app.post("/translate")
    async def translate(request: Request):
        authorize(request)
        if admitted[0] >= limits.queue:
            raise RequestError(503, f"the server is busy ({limits.queue} requests admitted, --queue); retry shortly")
        admitted[0] += 1
        try:
            body = await read_body(request)
            query = {key: request.query_params[key] for key in ("direction", "format") if key in request.query_params}
            loop = asyncio.get_running_loop()
            media, content = await loop.run_in_executor(
                pool, translate_upload, translator, body, request.headers.get("content-type", ""), query, limits)
        finally:
            admitted[0] -= 1
        if media == "image/png":
            return Response(content, media_type=media)
        return JSONResponse(content)

    return app
