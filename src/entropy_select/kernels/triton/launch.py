"""Launch a Triton kernel without ``JITFunction.run`` once its specialisation has been seen.

``kernel[grid](*args, **kwargs)`` costs ~50 µs of host time per launch on the H200 machine
(``benchmarks/results/host_profile_h200_default.txt``): ``JITFunction.run`` binds the arguments,
specialises every one of them (``native_specialize_impl``), builds and looks up a string cache
key, builds launch metadata and only then calls the compiled kernel's launcher. For a call with
the same specialisation as an earlier one, all of that gives the same compiled kernel, so
:func:`launch` keeps it and calls its launcher directly, passing what ``JITFunction.run`` passes
(Triton 3.6, 3.8 and 3.9 read alike; ``triton/runtime/jit.py``, ``JITFunction.run``)::

    kernel.run(grid_0, grid_1, grid_2, stream, kernel.function, kernel.packed_metadata,
               launch_metadata, launch_enter_hook, launch_exit_hook, *bound_args.values())

``bound_args`` are every parameter of the kernel in signature order, constexprs included, with
defaults applied. ``launch_metadata`` is only read by launch hooks, so it is passed as None, and
only while both hook chains are empty (a profiler such as Proton adds hooks: then every launch
takes the normal path, which builds the metadata).

The key of a direct launch is coarser than the arguments and at least as fine as the key of
Triton's in-memory kernel cache (``compute_cache_key(specialization, options)``): the current
device, the knobs ``JITFunction.run`` adds to its options (``debug``, ``instrumentation_mode``,
``fpsan_homomorphic_casts``, the stages-inspection hook), the keyword arguments (constexprs and
options such as ``num_warps``, by value), and per positional argument: an int by its value (a
``do_not_specialize`` int by its integer type only, like Triton), a float by its type (Triton
does not specialise float values), a bool by its value, None, and a tensor by its dtype and
whether its address is a multiple of 16. Equal keys imply equal ``(specialisation, options)``
for Triton, hence the same compiled kernel. Computing it is a few attribute reads per argument,
against ``JITFunction.run``'s binder, specialisation, string key and metadata. (Like Triton's
cache key, it does not see knobs read only while compiling, such as ``override_arch``.) Not
repeated either: ``JITFunction.run``'s check that the kernel's global constants did not change
since it compiled (this package's kernels read module constants only).

Every doubt takes the normal path, ``kernel[grid](...)``: a Triton version whose ``run`` this
module was not checked against, the interpreter (``TRITON_INTERPRET=1``, the kernel is then not
a ``JITFunction``), launch hooks or ``pre_run_hooks``, a callable grid, an argument of another
type, a constexpr passed positionally, a keyword argument that is not a constexpr or an option.
A key whose first direct launch raises takes the normal path for good (the exception is not
lost: the normal launch raises it again if it is the caller's).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading

import torch

__all__ = ["launch", "Site", "direct_launch_supported", "normal_launches", "clear", "stats"]

#: Triton releases whose ``JITFunction.run`` / ``CompiledKernel`` / ``CudaLauncher.__call__``
#: were read for this module (the device runs 3.6; the CPU machine 3.9; 3.8 differs from 3.9
#: only in code not on this path). Any other release always takes the normal path.
SUPPORTED_TRITON = ("3.6", "3.8", "3.9")
#: Direct-launch entries kept per kernel (keys hold ints by value, e.g. K): oldest dropped first.
MAX_KEYS = 256

_NORMAL = object()  # a key that always takes the normal path
_NEVER: dict = {}  # id -> kernels that never launch directly (held, so ids are not reused)
_TRITON: list = []  # [knobs, driver] once a kernel launches directly (imported once)
# id(kernel) -> _Kernel (or _NORMAL when never direct); by id: JITFunction.__hash__ is Python
# code hashing the kernel's cache key (~1 µs). A _Kernel holds its kernel, so the id stays its.
_STATES: dict = {}
_LOCK = threading.Lock()
_COUNTS = {"direct": 0, "normal": 0}
_FORCED_NORMAL = [False]  # inside normal_launches()
_GENERATION = [0]  # clear() calls: a Site drops the entries it kept before


class _Unproven(tuple):
    """An entry bound after the key's normal launch, not yet launched directly."""


class _Kernel:
    """What a direct launch of one ``JITFunction`` needs that does not change between calls."""

    __slots__ = ("fn", "names", "constexpr", "positional", "dns", "defaults", "entries")

    def __init__(self, fn) -> None:
        self.fn = fn  # keeps id(fn) from being reused while the entry lives
        params = fn.params
        self.names = [p.name for p in params]
        self.constexpr = {p.name for p in params if p.is_constexpr}
        # positional arguments may cover the leading non-constexpr parameters only
        self.positional = next((i for i, p in enumerate(params) if p.is_constexpr), len(params))
        self.dns = tuple(i for i, p in enumerate(params) if p.do_not_specialize)
        self.defaults = {
            name: p.default
            for name, p in fn.signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        self.entries: dict = {}  # key -> (launcher, function, packed_metadata, tail) | _NORMAL


def direct_launch_supported() -> tuple[bool, str]:
    """``(ok, why)``: whether this Triton can launch compiled kernels directly."""
    try:
        import triton
        from triton import knobs
        from triton.runtime.jit import JITFunction  # noqa: F401
    except Exception as err:  # an old Triton without knobs, or none
        return False, f"triton import: {type(err).__name__}: {err}"
    version = ".".join(triton.__version__.split(".")[:2])
    if version not in SUPPORTED_TRITON:
        return (
            False,
            f"triton {triton.__version__} (direct launches checked for {SUPPORTED_TRITON})",
        )
    if knobs.runtime.interpret:
        return False, "TRITON_INTERPRET=1"
    return True, ""


def _state(kernel):
    """The kernel's :class:`_Kernel`, or ``_NORMAL`` when it never launches directly."""
    with _LOCK:
        state = _STATES.get(id(kernel))
        if state is not None and (state is _NORMAL or state.fn is kernel):
            return state
        ok = direct_launch_supported()[0] and not _FORCED_NORMAL[0]
        if ok:
            from triton.runtime.jit import JITFunction

            ok = type(kernel) is JITFunction and not getattr(kernel, "pre_run_hooks", None)
        if ok:
            try:
                from triton import knobs
                from triton.runtime import driver

                state = _Kernel(kernel)
                _TRITON[:] = [knobs, driver]
            except Exception:  # an API that does not look as read: never direct
                state = _NORMAL
        else:
            state = _NORMAL
        if state is _NORMAL:
            _NEVER[id(kernel)] = kernel  # keep it alive, so that its id stays its own
        _STATES[id(kernel)] = state
        return state


def _hooks_idle(hook) -> bool:
    """Whether a launch hook does nothing: None, or an empty ``HookChain``."""
    return hook is None or (type(hook).__name__ == "HookChain" and not hook.calls)


def _idle_hooks(runtime, kernel):
    """``(enter, exit_)``, Triton's launch hook chains, when neither does anything and the
    kernel has no ``pre_run_hooks`` (a direct launch may go ahead); else None (normal path)."""
    enter, exit_ = runtime.launch_enter_hook, runtime.launch_exit_hook
    if not (_hooks_idle(enter) and _hooks_idle(exit_)) or kernel.pre_run_hooks:
        return None
    return enter, exit_


def _options(knobs, device) -> tuple:
    """What ``JITFunction.run`` adds to its options / specialisation key (the module docstring):
    every direct-launch key starts with it."""
    runtime, compilation = knobs.runtime, knobs.compilation
    return (
        device,
        runtime.debug,
        compilation.instrumentation_mode,
        getattr(compilation, "fpsan_homomorphic_casts", None),  # 3.8+
        runtime.add_stages_inspection_hook,
    )


def _int_type(value: int) -> str:
    """Triton's type of an int argument (``do_not_specialize`` ints are keyed by it only)."""
    if -(2**31) <= value < 2**31:
        return "i32"
    return "u64" if value >= 2**63 else "i64"


def _key(device, args, kwargs, state):
    """The direct-launch key of a call (see the module docstring), or None: not keyable."""
    parts = [device, tuple(kwargs.items())]
    append = parts.append
    for a in args:
        t = type(a)
        if t is int or t is bool or a is None:
            append(a)  # bool and None by value: finer than Triton's ``u1`` / constexpr None
        elif t is float:
            append(float)
        elif t is torch.Tensor or isinstance(a, torch.Tensor):
            append((a.dtype, a.data_ptr() & 15 == 0))
        else:
            return None
    for i in state.dns:
        if i < len(args) and type(args[i]) is int:
            parts[2 + i] = _int_type(args[i])
    return tuple(parts)


def _entry(compiled, args, kwargs, state):
    """``(launcher, function, packed_metadata, tail)`` of a compiled kernel, or ``_NORMAL``.

    ``tail`` is the values of the parameters after the positional arguments (constexprs from
    ``kwargs`` or their defaults): with the positional ones, ``bound_args.values()``."""
    if len(args) > state.positional:
        return _NORMAL  # a constexpr given positionally would be keyed by type
    tail = []
    for name in state.names[len(args) :]:
        if name in kwargs:
            if name not in state.constexpr:
                return _NORMAL  # a runtime argument by keyword: not keyed by its specialisation
            tail.append(kwargs[name])
        elif name in state.defaults:
            tail.append(state.defaults[name])
        else:
            return _NORMAL
    if hasattr(compiled, "result"):  # an asynchronous compile's future (3.6)
        return _NORMAL
    try:
        launcher = compiled.run  # the property readies the module (done by the launch already)
        function, metadata = compiled.function, compiled.packed_metadata
    except Exception:
        return _NORMAL
    if function is None or not callable(launcher):
        return _NORMAL
    return (launcher, function, metadata, tuple(tail))


def launch(kernel, grid, *args, **kwargs):
    """``kernel[grid](*args, **kwargs)``, launched directly when an earlier call had the same
    specialisation (see the module docstring). Same arguments, same result on the GPU.

    Args:
        kernel: a ``@triton.jit`` function (anything else, e.g. the interpreter's, is launched
            normally).
        grid: a tuple of 1-3 ints.
        *args: the kernel's runtime arguments, positional, in order; **kwargs: constexprs and
            launch options (``num_warps``, ``num_stages``).
    """
    state = _STATES.get(id(kernel))
    if state is None or (state is not _NORMAL and state.fn is not kernel):
        state = _state(kernel)
    if state is _NORMAL or type(grid) is not tuple:
        return _normal(kernel, grid, args, kwargs)
    knobs, driver = _TRITON
    hooks = _idle_hooks(knobs.runtime, kernel)
    if hooks is None:
        return _normal(kernel, grid, args, kwargs)
    enter, exit_ = hooks
    active = driver.active
    device = active.get_current_device()
    try:
        key = _key(_options(knobs, device), args, kwargs, state)
        entry = state.entries.get(key, None) if key is not None else _NORMAL
    except TypeError:  # an unhashable keyword value
        key, entry = None, _NORMAL
    if entry is _NORMAL:
        return _normal(kernel, grid, args, kwargs)
    if entry is None:  # first call of this key: the normal path compiles, launches and binds
        compiled = _normal(kernel, grid, args, kwargs)
        entries = state.entries
        if len(entries) >= MAX_KEYS:
            entries.pop(next(iter(entries)), None)
        bound = _entry(compiled, args, kwargs, state)
        entries[key] = bound if bound is _NORMAL else _Unproven(bound)
        return compiled
    stream = active.get_current_stream(device)
    n = len(grid)
    g1 = grid[1] if n > 1 else 1
    g2 = grid[2] if n > 2 else 1
    launcher, function, metadata, tail = entry
    if type(entry) is _Unproven:  # the key's first direct launch: any surprise -> normal for good
        try:
            launcher(grid[0], g1, g2, stream, function, metadata, None, enter, exit_, *args, *tail)
        except Exception:
            state.entries[key] = _NORMAL
            return _normal(kernel, grid, args, kwargs)
        state.entries[key] = tuple(entry)
        _COUNTS["direct"] += 1
        return None
    launcher(grid[0], g1, g2, stream, function, metadata, None, enter, exit_, *args, *tail)
    _COUNTS["direct"] += 1
    return None


class Site:
    """A launch site whose arguments other than tensors are fixed: :func:`launch` for the launch
    plans the wrappers cache per shape (``frame_select._launch_plan`` and its kin), with less
    host work a call.

    ``site(grid, *args)`` is ``launch(kernel, grid, *args, **kwargs)``. A site is created with
    its kernel and keyword arguments and must be called with the same non-tensor arguments at
    the same positions every time (the plan that holds the site computed them; tests check it
    with :data:`CHECK_SITES`). So its direct-launch key is, besides what every launch reads
    (device, Triton's knobs: see the module docstring), each tensor's dtype and 16-byte
    alignment only, found by their positions, not a walk over every argument. The first call of
    each key, and any call the module docstring sends down the normal path, goes through
    :func:`launch`; the site keeps an entry only once :func:`launch` has launched it directly.
    """

    __slots__ = ("kernel", "kwargs", "positions", "fixed", "entries", "generation")

    def __init__(self, kernel, **kwargs) -> None:
        self.kernel = kernel
        self.kwargs = kwargs
        self.positions = None  # of the tensor arguments (from the first call)
        self.fixed = None  # the other arguments of the first call
        self.entries: dict = {}  # key -> (launcher, function, packed_metadata, tail)
        self.generation = _GENERATION[0]  # entries kept since this clear()

    def __call__(self, grid, *args):
        return _launch_site(self, grid, args)


#: Check that every :class:`Site` call passes its first call's non-tensor arguments (the test
#: suite sets ``ENTROPY_SELECT_CHECK_SITES=1``; subprocesses inherit it).
CHECK_SITES = [os.environ.get("ENTROPY_SELECT_CHECK_SITES", "0") not in ("", "0")]
#: On by default (``ENTROPY_SELECT_RAW_POINTERS=0`` turns it off): a :class:`Site`'s direct
#: launches pass each tensor's address as an int, which Triton's launcher takes as the pointer as
#: it is, skipping its ``data_ptr()`` call and its ``cuPointerGetAttribute`` check per pointer
#: argument (the check that turns a CPU tensor, or one on another GPU than the current, into an
#: error: a site's key holds each tensor's device index as well as the current device, so such a
#: tensor takes the normal path and its error instead). Measured on
#: an H200's host (``benchmarks/results/host_costs_raw_ab_h200.log``): the eager pipeline's host
#: time 0.89-0.98x; every CUDA test passes with it (``cuda_tests_h200_1304849_raw_pointers.log``).
RAW_POINTERS = [os.environ.get("ENTROPY_SELECT_RAW_POINTERS", "1") not in ("", "0")]


def _launch_site(site, grid, args):
    kernel = site.kernel
    positions = site.positions
    if positions is None:
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, torch.Tensor))
        site.fixed = tuple(a for a in args if not isinstance(a, torch.Tensor))
        site.positions = positions
    elif CHECK_SITES[0]:
        fixed = tuple(a for a in args if not isinstance(a, torch.Tensor))
        if fixed != site.fixed or len(args) != len(positions) + len(fixed):
            raise AssertionError(f"a Site of {kernel} called with other arguments: {fixed}")
    if site.generation != _GENERATION[0]:  # clear() since: bind again, as launch() does
        site.entries.clear()
        site.generation = _GENERATION[0]
    state = _STATES.get(id(kernel))
    if state is None or state is _NORMAL or state.fn is not kernel or type(grid) is not tuple:
        return launch(kernel, grid, *args, **site.kwargs)
    knobs, driver = _TRITON
    hooks = _idle_hooks(knobs.runtime, kernel)
    if hooks is None:
        return launch(kernel, grid, *args, **site.kwargs)
    enter, exit_ = hooks
    active = driver.active
    device = active.get_current_device()
    options = _options(knobs, device)
    key = list(options)
    raw = RAW_POINTERS[0]
    call = list(args) if raw else args  # what the launcher gets: tensors, or their addresses
    for i in positions:
        a = args[i]
        ptr = a.data_ptr()
        key.append(a.dtype)
        key.append(ptr & 15 == 0)
        key.append(a.get_device())  # -1 on the CPU: a proven launch's device, exactly
        if raw:
            call[i] = ptr
    try:
        key = tuple(key)
        entry = site.entries.get(key)
    except TypeError:  # an unhashable knob
        return launch(kernel, grid, *args, **site.kwargs)
    if entry is None:  # launch's own path; keep its entry once it is proven
        out = launch(kernel, grid, *args, **site.kwargs)
        try:
            own = state.entries.get(_key(options, args, site.kwargs, state))
        except TypeError:
            own = None
        if type(own) is tuple and len(site.entries) < MAX_KEYS:
            site.entries[key] = own
        return out
    stream = active.get_current_stream(device)
    n = len(grid)
    launcher, function, metadata, tail = entry
    launcher(
        grid[0], grid[1] if n > 1 else 1, grid[2] if n > 2 else 1, stream, function, metadata,
        None, enter, exit_, *call, *tail,
    )  # fmt: skip
    _COUNTS["direct"] += 1
    return None


def _normal(kernel, grid, args, kwargs):
    _COUNTS["normal"] += 1
    return kernel[grid](*args, **kwargs)


@contextlib.contextmanager
def normal_launches():
    """Every launch inside takes the normal path, ``kernel[grid](...)`` (the path before direct
    launches; benchmarks and tests compare the two). Entries are forgotten on entry and exit."""
    clear()
    _FORCED_NORMAL[0] = True
    try:
        yield
    finally:
        _FORCED_NORMAL[0] = False
        clear()


def clear() -> None:
    """Forget every kernel's direct-launch entries (the next call of each key binds again)."""
    with _LOCK:
        _STATES.clear()
        _NEVER.clear()
        _COUNTS.update(direct=0, normal=0)
        _GENERATION[0] += 1


def stats() -> dict[str, int]:
    """Launches since the last :func:`clear`: ``{"direct": n, "normal": n}`` (for tests)."""
    return dict(_COUNTS)
