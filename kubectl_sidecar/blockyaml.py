"""The YAML kubeconfigs are written in, read without PyYAML; None for any other YAML.

kubectl (client-go's clientcmd), kind, minikube and the clouds' CLIs write kubeconfigs as block
mappings and sequences of plain or simply quoted scalars (some tools write JSON, which YAML
reads too). Importing PyYAML to read that was 14% of a small cluster's `status` as krew
installs it (97 of 701 million instructions, BENCHMARKS.md). This reads exactly that subset and
gives what PyYAML's safe_load gives for it; for anything else (comments after a value, flow
collections other than {} and [], escapes, multi-line scalars, anchors, tags, non-ASCII text, a
scalar PyYAML would read as a float or a date...) it gives None and the caller asks PyYAML, so a
file outside the subset is read, or refused, exactly as before. tests/unit/test_blockyaml.py
holds the two readers to the same answers over generated and mangled documents.
"""

from __future__ import annotations

import json
import re

# Outside ASCII's printable characters and the newline: tabs, carriage returns, control and
# non-ASCII characters are PyYAML's to judge.
_UNUSUAL = re.compile(r"[^\n\x20-\x7e]")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*\Z")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
# A line break between a JSON key and its colon: JSON allows it, a YAML key must be on one line.
# (Without escapes a JSON string holds no quote and no line break, so this is between tokens.)
_KEY_SPLIT = re.compile(r'"[ \n]*\n[ \n]*:')
# PyYAML's implicit resolvers, as it keys them by first character: a plain scalar starting with
# none of these is a string; yYnNtTfFoO start its booleans and nulls, the rest numbers, dates,
# ~, << and =.
_RESOLVED_FIRST = frozenset("yYnNtTfFoO-+0123456789.~<=")
_TRUE = frozenset(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
_FALSE = frozenset(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))
_NULL = frozenset(("~", "null", "Null", "NULL"))
# Characters a plain scalar may not start with (YAML's indicators), besides the quotes.
_INDICATORS = frozenset("-?:,[]{}#&*!|>%@`")


class _Outside(Exception):
    """The text is outside the subset: PyYAML reads it."""


def parse(text: str) -> dict | None:
    """The mapping a kubeconfig's text holds, or None when the text is outside the subset."""
    if _UNUSUAL.search(text):
        return None
    if text.lstrip(" \n").startswith("{"):
        return _json(text)
    if "#" in text:
        return None  # comments are rare in kubeconfigs, and only PyYAML reads them right
    lines = []
    for line in text.split("\n"):
        content = line.strip(" ")
        if content:
            lines.append((len(line) - len(line.lstrip(" ")), content))
    if lines and lines[0] == (0, "---"):
        del lines[0]
    if not lines or lines[0][0] != 0:
        return None
    try:
        value, end = _block(lines, 0, 0)
    except (_Outside, RecursionError):
        return None
    if end != len(lines) or not isinstance(value, dict):
        return None
    return value


def _json(text):
    """A kubeconfig written as JSON (which YAML reads too), when PyYAML would read it the same:
    no escapes (YAML 1.1 has other ones), no floats (PyYAML reads 1e3 as a string), each key
    on one line with its colon and no longer than the 1024 characters PyYAML allows."""
    if "\\" in text or _KEY_SPLIT.search(text):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict) or not _json_as_yaml(document):
        return None
    return document


def _json_as_yaml(value):
    if isinstance(value, dict):
        return all(len(key) <= 1024 and _json_as_yaml(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_json_as_yaml(item) for item in value)
    return value is None or isinstance(value, (str, bool, int))


def _is_item(content):
    return content == "-" or content.startswith("- ")


def _block(lines, i, indent):
    if _is_item(lines[i][1]):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _nested(lines, i, indent, in_mapping):
    """The value on the lines after `key:` or a bare `-` at indent: a deeper block, a sequence
    at the same indent (after a key only), or null."""
    if i < len(lines) and lines[i][0] > indent:
        return _block(lines, i, lines[i][0])
    if in_mapping and i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
        return _sequence(lines, i, indent)
    return None, i


def _mapping(lines, i, indent):
    mapping: dict = {}
    while i < len(lines) and lines[i][0] == indent and not _is_item(lines[i][1]):
        content = lines[i][1]
        if content.endswith(":"):
            key, rest = content[:-1], ""
        else:
            key, colon, rest = content.partition(": ")
            if not colon:
                raise _Outside
            rest = rest.lstrip(" ")
        if not _KEY.match(key) or not isinstance(_plain(key), str):
            raise _Outside
        i += 1
        if rest:
            mapping[key] = _scalar(rest)
            if i < len(lines) and lines[i][0] > indent:
                raise _Outside  # a scalar continued on the next line
        else:
            mapping[key], i = _nested(lines, i, indent, in_mapping=True)
    return mapping, i


def _sequence(lines, i, indent):
    items = []
    while i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
        rest = lines[i][1][1:]
        content = rest.lstrip(" ")
        if not content:
            value, i = _nested(lines, i + 1, indent, in_mapping=False)
        elif _is_item(content):
            raise _Outside  # - - a: a sequence in a sequence
        elif ": " in content or content.endswith(":"):
            # `- key: value`: a mapping whose keys line up with this first one.
            inner = indent + 1 + len(rest) - len(content)
            lines[i] = (inner, content)
            value, i = _mapping(lines, i, inner)
        else:
            value = _scalar(content)
            i += 1
            if i < len(lines) and lines[i][0] > indent:
                raise _Outside
        items.append(value)
    return items, i


def _scalar(text):
    """A value written on one line: {} or [], a quoted string without escapes, or a plain
    scalar as PyYAML's resolver reads it."""
    if text in ("{}", "[]"):
        return {} if text == "{}" else []
    if text[0] == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise _Outside
        return inner
    if text[0] == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise _Outside
        return inner.replace("''", "'")
    if ": " in text or text.endswith(":"):
        raise _Outside  # PyYAML refuses a mapping here
    return _plain(text)


def _plain(text):
    first = text[0]
    if first in _INDICATORS:
        # `--flag` and `-v` are strings; a lone `-`, `- x` or any other indicator is not ours.
        if first == "-" and len(text) > 1 and (text[1].isalpha() or text[1] == "-"):
            return text
        raise _Outside
    if first not in _RESOLVED_FIRST:
        return text
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NULL:
        return None
    if first in "yYnNtTfFoO":
        return text
    if _DECIMAL.match(text):
        return int(text)
    raise _Outside  # maybe a float, an octal, a date, a merge key: PyYAML's to read
