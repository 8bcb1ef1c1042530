"""Importing entropy_select needs torch only (STYLE.md: attention-gym's import test)."""

import subprocess
import sys
import textwrap

BLOCKED = [
    "triton",
    "transformers",
    "lmms_eval",
    "matplotlib",
    "av",
    "safetensors",
    "numpy",
    "tqdm",
]


def test_core_imports_and_runs_without_optional_dependencies():
    code = textwrap.dedent(
        f"""
        import sys, importlib.abc
        import torch  # torch itself may use numpy; the blocker guards what entropy_select imports
        before = set(sys.modules)

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ModuleNotFoundError("blocked for this test: " + name, name=name)
                return None

        sys.meta_path.insert(0, Block())
        for name in list(sys.modules):  # forget what torch loaded, so a later import must find it
            if name.split(".")[0] in {BLOCKED!r}:
                del sys.modules[name]
        import entropy_select as es
        from entropy_select import selectors
        from entropy_select.cli import build_parser
        build_parser()
        x = torch.randn(3, 4, 4, 8)
        sel = es.select_tokens(x, retention=0.5)
        assert sel.budget == 24
        sel = selectors.get("entropy_select")(x, budget=5)
        assert sel.budget == 5
        leaked = [m for m in set(sys.modules) - before if m.split(".")[0] in {BLOCKED!r}]
        assert not leaked, leaked
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_missing_extra_names_the_pip_extra():
    from entropy_select.io import require

    try:
        require("surely_not_a_module_xyz", "video", "decoding videos")
    except ImportError as err:
        assert "pip install 'entropy-select[video]'" in str(err)
        assert "decoding videos" in str(err)
    else:  # pragma: no cover
        raise AssertionError("require() did not raise")
