"""Which images to label: k-medoids on ImageNet features (Shukla et al. 2019), and more.

``select_pairs(data_dir, budget, method="kmedoids")`` returns a :class:`Selection`; with ``out="pairs.txt"``
it also writes the list that ``pairs.list=`` reads, a contact sheet (``pairs.png``) and details (``pairs.json``).
"""

from ..models.imagenet import MobileNetV2, ResNet50
from ..pretrained import MissingWeightsError, load_network, mobilenet_weights_path
from .features import EXTRACTORS, FeatureExtractor, default_cache_dir, extract_features
from .kmedoids import KMedoidsResult  # the functions: semicycle.selection.kmedoids.{kmedoids, kmeans}
from .strategies import METHODS, Selection, contact_sheet, read_name_list, select_pairs, write_selection

__all__ = [
    "EXTRACTORS", "METHODS", "FeatureExtractor", "KMedoidsResult", "MissingWeightsError", "MobileNetV2", "ResNet50",
    "Selection", "contact_sheet", "default_cache_dir", "extract_features", "load_network",
    "mobilenet_weights_path", "read_name_list", "select_pairs", "write_selection",
]
