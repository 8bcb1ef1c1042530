"""A probe for the lmms-eval CLI test: what the language model of a video LLM was given.

Python imports ``sitecustomize`` at start-up from ``sys.path``; the CLI test puts this directory
on ``PYTHONPATH`` and sets ``ES_PREFILL_LOG`` to a file. Then, in the lmms-eval process, every
``generate`` call of a Hugging Face model appends one JSON line: the model class, the prompt length
and the number of video placeholder tokens of each row of the ``input_ids`` that reach the model's
own ``generate``, and the sequence length its language model prefilled (a forward hook on the text
model). It sits below entropy-select's patch (which calls the class's ``generate`` with the
shortened prompt), so it measures what the model ran, not what the plugin reports. Without
``ES_PREFILL_LOG`` it does nothing.
"""

import os

_LOG = os.environ.get("ES_PREFILL_LOG")

if _LOG:
    import json

    import torch
    from transformers.generation.utils import GenerationMixin

    _TEXT_MODELS = {"Qwen2Model", "Qwen2_5_VLTextModel", "Qwen3VLTextModel"}
    _prefill: list = []
    _original_generate = GenerationMixin.generate

    def _text_model_hook(module, args, output):
        hidden = getattr(output, "last_hidden_state", None)
        if type(module).__name__ in _TEXT_MODELS and hidden is not None and not _prefill:
            _prefill.append(int(hidden.shape[1]))  # the first forward of a generate call

    def _generate(self, *args, **kwargs):
        ids = args[0] if args else kwargs.get("input_ids")
        video = getattr(self.config, "video_token_id", None)
        _prefill.clear()
        out = _original_generate(self, *args, **kwargs)
        record = {
            "model": type(self).__name__,
            "prompt_length": int(ids.shape[1]),
            "video_tokens": [int((row == video).sum()) for row in ids],
            "prefill_length": _prefill[0] if _prefill else None,
        }
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return out

    GenerationMixin.generate = _generate
    torch.nn.modules.module.register_module_forward_hook(_text_model_hook)
