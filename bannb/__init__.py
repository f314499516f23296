"""bannb: Born Again Neural Networks (Furlanello et al., ICML 2018) on fastai Learners."""
__version__ = "0.1.0"

import warnings as _warnings

# fastai's import touches torch.jit.script, which torch 2.14 deprecates; the warning is fastai's to fix, not ours.
_warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*is deprecated", category=FutureWarning)

# The kinds of run register themselves with the store (`bannb.runs.kinds`) when their packages load; loading them
# here means a stored run of any kind opens wherever bannb is imported. Neither loads fastai.
from bannb import image, lm  # noqa: E402,F401
