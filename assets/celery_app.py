"""The Celery app the workers of ``LAPS_EXECUTOR=celery`` run: ``dagster_celery``'s tasks on
the broker, backend and settings the executor uses (``assets.executors.celery_app_args``, from
``LAPS_CELERY_BROKER`` and ``LAPS_CELERY_BACKEND``)::

    LAPS_CELERY_BROKER=redis://127.0.0.1:6379/0 celery -A assets.celery_app worker -n w1@%h

Each worker loads the code location (``assets.definitions``) for the steps it is handed, so it
needs the same ``LAPS_*`` environment as the run (store, landing, executor)."""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from assets.executors import celery_app_args

app = make_app(CeleryExecutor.for_cli(**celery_app_args()).app_args())

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
