"""Background jobs with their state in the database: queued, running, succeeded, or failed
with a reason — surviving restarts of the processes that run them.

:class:`~crowdalpha.jobs.queue.JobQueue` is the table (``jobs``) and its transitions;
:class:`~crowdalpha.jobs.runner.JobRunner` claims jobs and runs their handlers on a
:class:`~crowdalpha.compute.ComputeBackend` (a local pool by default, a Dask cluster with
``CROWDALPHA_DASK_SCHEDULER``).
"""

from crowdalpha.jobs.models import Job, JobState
from crowdalpha.jobs.queue import JobInfo, JobQueue
from crowdalpha.jobs.runner import JobRunner

__all__ = ["Job", "JobInfo", "JobQueue", "JobRunner", "JobState"]
