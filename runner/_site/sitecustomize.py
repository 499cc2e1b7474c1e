"""Loaded at start by the Python of a model's Cog server, and of the worker process it runs the model
in (Cogmill puts this folder on PYTHONPATH for them, and for nothing else).

coglet reports a run that raised as `Type: message` only, with no traceback anywhere, so a model's
author cannot tell where it failed. Once `cog` is imported, each runner class a model defines has its
predict/run/train wrapped by a function of the same kind, with the same parameters and the very same
default objects: an exception that leaves one prints its traceback to stderr, which lands in that
run's logs, and is raised on unchanged. A cancellation (a BaseException) passes untouched. Any
sitecustomize this one hides still runs. Standard library only: nothing of Cogmill is importable
here, and the model's code is not changed.
"""

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import traceback

TRACED = ("predict", "run", "train")


def _report(exc: Exception) -> None:
    """Its traceback, once (a method that calls its parent's passes it through two of these)."""
    if getattr(exc, "__cogmill_reported__", False):
        return
    traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()
    try:
        exc.__cogmill_reported__ = True
    except AttributeError:  # an exception type with __slots__
        pass


_BODIES = {
    "function": "def {name}({params}):\n    try:\n        return __fn({call})\n"
                "    except Exception as exc:\n        __report(exc)\n        raise\n",
    "generator": "def {name}({params}):\n    try:\n        return (yield from __fn({call}))\n"
                 "    except Exception as exc:\n        __report(exc)\n        raise\n",
    "coroutine": "async def {name}({params}):\n    try:\n        return await __fn({call})\n"
                 "    except Exception as exc:\n        __report(exc)\n        raise\n",
    "asyncgen": "async def {name}({params}):\n    inner = __fn({call})\n    try:\n"
                "        async for item in inner:\n            yield item\n"
                "    except Exception as exc:\n        __report(exc)\n        raise\n"
                "    finally:\n        await inner.aclose()\n",
}


def _kind(fn) -> str:
    if inspect.isasyncgenfunction(fn):
        return "asyncgen"
    if inspect.iscoroutinefunction(fn):
        return "coroutine"
    return "generator" if inspect.isgeneratorfunction(fn) else "function"


def _traced(fn):
    """`fn` as a function of the same kind with the same parameters and the very same default objects
    (coglet passes only the inputs it was given and lets the defaults fill the rest), which prints the
    traceback of an Exception that leaves it."""
    namespace = {"__fn": fn, "__report": _report}
    params, call, marked = [], [], False
    for i, param in enumerate(inspect.signature(fn).parameters.values()):
        default = ""
        if param.default is not inspect.Parameter.empty:
            namespace[f"__default{i}"] = param.default
            default = f"=__default{i}"
        if param.kind is param.VAR_POSITIONAL:
            params.append(f"*{param.name}")
            call.append(f"*{param.name}")
            marked = True
        elif param.kind is param.VAR_KEYWORD:
            params.append(f"**{param.name}")
            call.append(f"**{param.name}")
        elif param.kind is param.KEYWORD_ONLY:
            if not marked:
                params.append("*")
                marked = True
            params.append(f"{param.name}{default}")
            call.append(f"{param.name}={param.name}")
        else:
            params.append(f"{param.name}{default}")
            call.append(param.name)
            if param.kind is param.POSITIONAL_ONLY and not any(
                    p.kind is p.POSITIONAL_ONLY for p in list(inspect.signature(fn).parameters.values())[i + 1:]):
                params.append("/")
    source = _BODIES[_kind(fn)].format(name=fn.__name__, params=", ".join(params), call=", ".join(call))
    exec(compile(source, f"<traced {fn.__qualname__}>", "exec"), namespace)
    return functools.update_wrapper(namespace[fn.__name__], fn)


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


def _chain() -> None:
    """Run the sitecustomize this one hides (a distribution's, a venv's), as Python would have."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(os.path.abspath(entry or "."), "sitecustomize.py")
        if os.path.dirname(candidate) == here or not os.path.isfile(candidate):
            continue
        spec = importlib.util.spec_from_file_location("_hidden_sitecustomize", candidate)
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except Exception:
            traceback.print_exc()  # as Python reports an error in sitecustomize, and goes on
        return


sys.meta_path.insert(0, _AfterCogPredictor())
_chain()
