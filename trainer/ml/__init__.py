"""The ML core: dataset, model training, the synthetic generator. No web or database
imports (import-linter holds it), so a worker process can run it alone."""
