"""urllib3's HTTP/2 package, its own code run only when something asks for a name it defines.

urllib3 2.x imports `urllib3.http2.probe` whenever it is imported, and the package's `__init__`
imports importlib.metadata at the top, only to check h2's version when `inject_into_urllib3()`
is called (we never call it). With what it imports in turn (zipfile, csv, tempfile, pathlib,
importlib.resources) that was 4% of a small cluster's `status` as krew installs it (27 of 737
million instructions, callgrind: BENCHMARKS.md). Installed before urllib3 is
first imported, the package is created as usual (its `__path__`, its submodules such as `probe`
import as before) and its `__init__` runs the first time a name it defines is asked for: nothing
that uses it can tell, only when importlib.metadata is imported.

Only the standard import machinery is used, and only for this one package, found where it always
is: a urllib3 without it, or one that is not plain source or bytecode files, imports as usual.
"""

from __future__ import annotations

import importlib.machinery
import sys
import threading
import types
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

PACKAGE = "urllib3.http2"
_LOCK = threading.RLock()  # two threads asking at once run the code once


class _Deferred(types.ModuleType):
    """The package, until a name that it doesn't hold yet is asked for."""

    def __getattr__(self, name):
        # Called only for names the module doesn't hold. A submodule that isn't imported yet is
        # one of them: `from urllib3.http2 import probe` asks first, and must then import it.
        with _LOCK:
            loader = self.__dict__.get("_real_loader")
            if name not in self.__dict__ and loader is not None and not _is_submodule(self, name):
                del self.__dict__["_real_loader"]
                loader.exec_module(self)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


def _is_submodule(module, name):
    search = module.__dict__.get("__path__")
    spec = importlib.machinery.PathFinder.find_spec(f"{module.__name__}.{name}", search)
    return spec is not None


class _DeferringLoader:
    """The package's own loader, with running its code put off (see _Deferred)."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        module = _Deferred(spec.name)
        # Held, as None, so that the import machinery setting them finds them without asking
        # __getattr__; it sets each from the spec next.
        module.__dict__.update(__path__=None, __file__=None, __cached__=None)
        module.__dict__["_real_loader"] = self.loader
        return module

    def exec_module(self, module):
        if "_real_loader" in module.__dict__:
            return  # the first import: the package's code runs when first needed
        self.loader.exec_module(module)  # importlib.reload: run it now

    def __getattr__(self, name):  # get_source, get_resource_reader...: the real loader's
        return getattr(self.loader, name)


class _Finder:
    """Finds urllib3.http2 where the path finder would, and defers its code."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        loaders = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)
        if spec is None or spec.submodule_search_locations is None:
            return spec
        if not isinstance(spec.loader, loaders):
            return spec
        # Duck-typed: importlib.abc, to subclass its Loader, costs what this module saves.
        spec.loader = cast("Loader", _DeferringLoader(spec.loader))
        return spec


_FINDER = _Finder()


def install():
    """Defer urllib3.http2's code from the next import of urllib3 on; nothing when urllib3 is
    already imported (its http2 package is then imported too)."""
    if PACKAGE in sys.modules or _FINDER in sys.meta_path:
        return
    sys.meta_path.insert(0, _FINDER)
