"""Triton backend: the networks run in an NVIDIA Triton server, reached with the async tritonclient.

One job per module:

- ``connection``: the one client, deadlines, retries of connection failures, what an error means (503 or 500);
- ``verify``: what Triton serves checked against the card (the shared card contract, batch limit, card version);
- ``request``: one batch as ``InferInput``s and requested outputs, in the request or through shared memory;
- ``shared_memory``: the pool of registered system shared-memory regions (``FIQA_TRITON_SHM=true``);
- ``backend``: ``TritonBackend``, the ``Backend`` protocol built from the four.
"""

from service.backends.triton.backend import TritonBackend

__all__ = ["TritonBackend"]
