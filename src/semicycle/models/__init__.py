"""Generators, discriminators and the registry that builds them by name."""

from semicycle.models.discriminators import PatchDiscriminator, PixelDiscriminator, receptive_field
from semicycle.models.generators import ResnetGenerator, UnetGenerator
from semicycle.models.layers import init_weights, norm_layer, run_padded
from semicycle.models.registry import (
    build_from_arch,
    create_discriminator,
    create_generator,
    discriminator_kwargs,
    generator_kwargs,
    list_discriminators,
    list_generators,
    register_discriminator,
    register_generator,
    registered_defaults,
)

__all__ = [
    "PatchDiscriminator",
    "PixelDiscriminator",
    "ResnetGenerator",
    "UnetGenerator",
    "build_from_arch",
    "create_discriminator",
    "create_generator",
    "discriminator_kwargs",
    "generator_kwargs",
    "init_weights",
    "list_discriminators",
    "list_generators",
    "norm_layer",
    "receptive_field",
    "register_discriminator",
    "register_generator",
    "registered_defaults",
    "run_padded",
]
