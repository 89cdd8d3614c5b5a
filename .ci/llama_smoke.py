"""Exit non-zero (or die) if the installed llama-cpp-python cannot run on this CPU.

A native llama.cpp build uses every instruction set the CPU reports; some virtual machines
report AMX but trap on it (SIGILL) as soon as a prompt of a few hundred tokens is evaluated.
Run in a subprocess by .ci/run, which then rebuilds the library portably.
"""

from llama_cpp import Llama

from responsd.providers.local import default_model_path

model = Llama(str(default_model_path()), n_ctx=1024, verbose=False)
model.create_completion("Hello world, " * 100, max_tokens=2)
print("llama-cpp-python runs on this CPU")
