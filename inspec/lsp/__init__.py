"""The language server (`inspec lsp`): diagnostics, hover, go to definition, completion and formatting
for .isp files, over LSP on stdio.

`analysis.py` holds what the server knows of a document (the elaborated network, its spans as LSP
ranges, the node under a position) and `features.py` the answer to each request; both are plain
functions over the IR. `server.py` wires them to pygls, which is imported only when the server runs
(the `lsp` extra: pip install inspec[lsp]).
"""
