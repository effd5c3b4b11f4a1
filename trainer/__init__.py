"""The ML core (dataset, model_trainer, generator: no web or database imports, so a worker
process can run it alone) and the job runners that execute training runs (jobs, runners,
worker_process, celery_app, reaper).

Nothing is re-exported here: importing `trainer.stages` must not pull in scikit-learn.
"""
