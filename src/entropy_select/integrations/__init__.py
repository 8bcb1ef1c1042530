"""Integrations with evaluation frameworks.

``entropy_select.integrations.lmms_eval``: an lmms-eval (0.7.3) plugin that wraps lmms-eval's own
LLaVA-OneVision, Qwen2.5-VL and Qwen3-VL model classes with :func:`entropy_select.patch`. It is
discovered by lmms-eval through the ``lmms_eval.models`` entry-point group; nothing here is
imported by ``import entropy_select``.
"""
