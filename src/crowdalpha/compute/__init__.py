"""Where heavy work runs: in this process (the default), a local process pool, or a Dask
cluster (``CROWDALPHA_DASK_SCHEDULER=tcp://…``) — see :mod:`crowdalpha.compute.backend`.

Dask is an optional dependency (``pip install crowdalpha[dask]``), imported only when a
scheduler is configured.
"""

from crowdalpha.compute.backend import ComputeBackend, InProcess, LocalPool, open_backend

__all__ = ["ComputeBackend", "InProcess", "LocalPool", "open_backend"]
