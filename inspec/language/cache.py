"""The parser cache: lark's built LALR tables, kept as JSON data in the user's cache folder so that
`inspec check` need not rebuild them (about 0.1 s). parser._parser decides when it is used."""

from __future__ import annotations

from pathlib import Path

from lark import Lark

# The cache holds lark's own serialised form of the parser (Lark.memo_serialize: the data lark's
# standalone generator embeds) written as JSON. That data is nested dicts, lists and tuples of str,
# int, bool and None. JSON keeps lists and str-keyed dicts; a tuple is written {"__tuple__": [...]} and
# any other dict (lark's have int keys) {"__items__": [[key, value], ...]}. Reading it back builds only
# those containers; Lark._load then instantiates only lark's own grammar classes (Rule, TerminalDef,
# patterns). Nothing in the file can name a function or class to call, as a pickle can.
_SCALARS = (str, int, bool, type(None))
_TAGS = ("__tuple__", "__items__")


def _encode(x):
    if isinstance(x, _SCALARS):
        return x
    if type(x) is list:
        return [_encode(v) for v in x]
    if type(x) is tuple:
        return {"__tuple__": [_encode(v) for v in x]}
    if type(x) is dict:
        if all(type(k) is str for k in x) and not any(t in x for t in _TAGS):
            return {k: _encode(v) for k, v in x.items()}
        return {"__items__": [[_encode(k), _encode(v)] for k, v in x.items()]}
    raise TypeError(f"cannot cache a {type(x).__name__}")


def _decode_object(d: dict):
    """json's object_hook: the inverse of _encode for the tagged objects (their contents are already
    decoded). A list as a key (a damaged or planted file) raises TypeError: the parser is built."""
    if len(d) == 1:
        if "__tuple__" in d:
            return tuple(d["__tuple__"])
        if "__items__" in d:
            return {k: v for k, v in d["__items__"]}
    return d


def load(path: Path, key: str, runtime: dict) -> Lark:
    """The parser cached at `path` if its key is `key` (else an exception); `runtime` holds the
    transformer and post-lexer objects, which are not cached."""
    import json

    _check_owner(path.parent)
    _check_owner(path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f, object_hook=_decode_object)
    if not isinstance(doc, dict) or doc.get("key") != key:
        raise ValueError("stale parser cache")
    data, memo = doc["data"], doc["memo"]
    if not isinstance(data, dict) or not isinstance(memo, dict):
        raise ValueError("damaged parser cache")
    return Lark._load_from_dict(data, memo, **runtime)


def _check_owner(path: Path) -> None:
    """Use only a cache directory and file of this user's that other users cannot write (POSIX)."""
    import os

    if hasattr(os, "getuid"):
        st = os.stat(path)
        if st.st_uid != os.getuid() or st.st_mode & 0o002:
            raise PermissionError(f"{path} is not this user's own")


def save(parser: Lark, path: Path, key: str, runtime: tuple[str, ...]) -> None:
    """Write the parser's tables to `path` (0600, in a 0700 folder); nothing on any failure."""
    import json
    import os
    import tempfile

    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    try:
        data, memo = parser.memo_serialize([TerminalDef, Rule])
        # the transformer and post-lexer are objects: passed again when loading
        data["options"] = {k: v for k, v in data["options"].items() if k not in runtime}
        doc = {"key": key, "data": _encode(data), "memo": _encode(memo)}
        text = json.dumps(doc, separators=(",", ":"))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_owner(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".parser-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # no cache (read-only home, full disk, an option lark adds): build each time
        pass
