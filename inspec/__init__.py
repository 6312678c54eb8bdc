"""inspec: write a convolutional network as its paper's table; check it, count it, draw it, compile it."""

__version__ = "0.1.0"

from inspec.api import Spec, SpecErrors, build, load

__all__ = ["Spec", "SpecErrors", "__version__", "build", "load"]
