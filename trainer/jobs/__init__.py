"""Where training runs execute: the job, the local pool and Celery runners, worker
processes, the fair queue, the reaper of lost runs, the watcher behind subscriptions."""
