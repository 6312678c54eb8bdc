"""Weights in and out: load a checkpoint into a module built from a spec, port one across names, write
one for the reference, and verify a spec against its reference model.

    plan.py        the key map between two state_dicts: by key, by order, or both (no torch)
    report.py      keys told by the spec row that made them: error lists, key maps (no torch)
    checkpoint.py  reading .pt/.pth/.safetensors checkpoints; writing marked ones (fileio's rules)
    load.py        load_into (inspec.build(spec, weights=...)) and port (`inspec weights`)
    reference.py   REF strings: torchvision:NAME, timm:NAME, package.module:factory, imported when asked
    verify.py      `inspec verify`: both models on the same input, and the first layer that diverges

Only plan.py, report.py and errors.py may be imported without torch; nothing in `inspec check`,
`table`, `compile` or `diagram` imports this package.
"""

from inspec.weights.errors import ReferenceUnavailable, WeightsError

__all__ = ["ReferenceUnavailable", "WeightsError"]
