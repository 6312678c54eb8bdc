"""The PyTorch backend: readable, runnable modules from a checked network (see source.py)."""

from inspec.backends.torch.classes import CodegenError
from inspec.backends.torch.source import (
    build_module,
    export_modules,
    export_paths,
    export_state_dict,
    generate,
    load_source,
    module_paths,
    network_class_name,
)

__all__ = [
    "CodegenError",
    "build_module",
    "export_modules",
    "export_paths",
    "export_state_dict",
    "generate",
    "load_source",
    "module_paths",
    "network_class_name",
]
