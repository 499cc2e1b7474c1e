"""Loaded at start by the Python of a model's Cog server, and of the worker process it runs the model
in (Cogmill puts this folder on PYTHONPATH for them, and for nothing else).

coglet reports a run that raised as `Type: message` only, with no traceback anywhere, so a model's
author cannot tell where it failed. Once `cog` is imported, each runner class a model defines has its
predict/run/train wrapped: an exception that leaves one prints its traceback to stderr, which lands
in that run's logs, and is raised on unchanged. A cancellation (a BaseException) passes untouched.
Standard library only: nothing of Cogmill is importable here, and the model's code is not changed.
"""

import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
import traceback

TRACED = ("predict", "run", "train")


def _report() -> None:
    traceback.print_exc(file=sys.stderr)
    sys.stderr.flush()


def _traced(fn):
    """`fn`, of the same kind (function, generator, coroutine, async generator), printing the traceback
    of an Exception that leaves it."""
    if inspect.isasyncgenfunction(fn):
        async def traced(*args, **kwargs):
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception:
                _report()
                raise
    elif inspect.iscoroutinefunction(fn):
        async def traced(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception:
                _report()
                raise
    elif inspect.isgeneratorfunction(fn):
        def traced(*args, **kwargs):
            try:
                return (yield from fn(*args, **kwargs))
            except Exception:
                _report()
                raise
    else:
        def traced(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception:
                _report()
                raise
    return functools.wraps(fn)(traced)


def _trace_subclasses(base: type) -> None:
    inherited = base.__dict__.get("__init_subclass__")

    def __init_subclass__(cls, **kwargs):
        if inherited is not None:
            inherited.__func__(cls, **kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)
        for name in TRACED:
            fn = cls.__dict__.get(name)
            if inspect.isfunction(fn) and not getattr(fn, "__cogmill_traced__", False):
                wrapped = _traced(fn)
                wrapped.__cogmill_traced__ = True
                setattr(cls, name, wrapped)

    base.__init_subclass__ = classmethod(__init_subclass__)


class _AfterCogPredictor(importlib.abc.MetaPathFinder):
    """Patches cog.predictor's BaseRunner as soon as it has been imported, then steps aside."""

    def find_spec(self, name, path, target=None):
        if name != "cog.predictor":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_trace(module):
            exec_module(module)
            base = getattr(module, "BaseRunner", None) or getattr(module, "BasePredictor", None)
            if isinstance(base, type):
                _trace_subclasses(base)

        spec.loader.exec_module = exec_and_trace
        return spec


sys.meta_path.insert(0, _AfterCogPredictor())
