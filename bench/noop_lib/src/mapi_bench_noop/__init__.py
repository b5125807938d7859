"""mapi-bench-noop: a test-only function library with one function, NOOP (native, does nothing).

It exists to measure the engine: a chain of k NOOPs costs the engine's per-function overhead k
times and nothing else.  Not for production use.
"""

__version__ = "0.1.0"
