"""Run tf2onnx's command line after restoring ``numpy.product``.

tf2onnx 1.17 still calls ``numpy.product``, which NumPy 2 removed; aliasing it here keeps
the fix out of site-packages. Run as a subprocess so TensorFlow's memory and threads are
released when each conversion ends.
"""

import numpy as np

if not hasattr(np, "product"):
    np.product = np.prod  # type: ignore[attr-defined]

if __name__ == "__main__":
    from tf2onnx.convert import main

    main()
