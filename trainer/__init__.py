"""Training: ml/ is the ML core (dataset, model_trainer, generator, catalogue, stages,
errors: no web or database imports, so a worker process can run it alone); jobs/ is where
runs execute (the job, runners, worker processes, Celery, the reaper, the run watcher);
artifacts.py and model_files.py are the artifacts folder both use; logs.py the logging.

Nothing is re-exported here: importing `trainer.ml.stages` must not pull in scikit-learn.
"""
