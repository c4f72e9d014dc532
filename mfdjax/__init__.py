"""mfdjax: the MFD loss, POD loss and W-Softmax papers in JAX/Flax.

Sub-packages: :mod:`mfdjax.losses` (pure loss functions), :mod:`mfdjax.models`
(Flax backbones that sow their features), :mod:`mfdjax.data` (data sources and
loaders), :mod:`mfdjax.train` (the data-parallel trainer) and
:mod:`mfdjax.configs` (one config per paper table). None is imported here, so
``import mfdjax`` stays cheap.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("mfdjax")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
