"""Quiet, lazy access to TensorFlow and Keras.

TensorFlow writes oneDNN and CPU-feature notices to file descriptor 2 from
C++ before its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` alone does
not silence them. The first import therefore runs with descriptor 2 pointed
at a temporary file; if the import fails, what was written there is replayed
so that a broken installation still explains itself.

Every module that needs TensorFlow or Keras gets them from here, never with a
top-level import, so that loading the pytest plugin stays free.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

_LOG_LEVEL_VARIABLES = {
    # 2 hides INFO and WARNING lines from TensorFlow's C++ runtime.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # The same for XLA/absl, which reads its own variable.
    "TF_CPP_MAX_VLOG_LEVEL": "-1",
}


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the duration.

    Whatever was captured is written back to stderr if the body raises.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            captured = sink.read().decode("utf-8", "replace")
            if captured:
                sys.stderr.write(captured)
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow without its start-up notices; return the module."""
    # None in sys.modules blocks an import: ``import tensorflow`` below raises then.
    loaded = sys.modules.get("tensorflow")
    if loaded is not None:
        return loaded
    for name, value in _LOG_LEVEL_VARIABLES.items():
        os.environ.setdefault(name, value)
    with quiet_stderr():
        import tensorflow

        # absl's Python logger would otherwise repeat warnings on stderr.
        tensorflow.get_logger().setLevel("ERROR")
        # Device discovery logs at ERROR level on a machine with the CUDA
        # wheel but no GPU ("failed call to cuInit"); discover them now,
        # while descriptor 2 is captured. Visibility can still be set later.
        tensorflow.config.list_physical_devices()
    module: ModuleType = tensorflow
    return module


def import_keras() -> ModuleType:
    """Import Keras (TensorFlow backend unless KERAS_BACKEND says otherwise)."""
    loaded = sys.modules.get("keras")
    if loaded is not None:
        return loaded
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        import_tensorflow()
    with quiet_stderr():
        import keras
    module: ModuleType = keras
    return module
