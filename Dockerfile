# The one image of the runtime (infra/runtime.yaml): the code location's gRPC server (the default
# command), the webserver and the daemon, and each run's task. Build it from the repository root:
#   docker build -t covid-assets .
FROM python:3.11-slim

# As `make` installs: uv resolves pyproject.toml's pinned dependencies, with the deploy extra
# (dagster-postgres) for the PostgreSQL storage, compiled at install.
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /opt/dagster/app
COPY pyproject.toml README.md ./
COPY covid_assets ./covid_assets
RUN uv pip install --system --no-cache --compile-bytecode '.[deploy]'

# The instance every service and run shares: the production example, configured by the
# environment the task definitions set (DAGSTER_PG_*, DAGSTER_RUN_*, the COVID_* settings).
ENV DAGSTER_HOME=/opt/dagster/home
COPY infra/dagster.yaml.example /opt/dagster/home/dagster.yaml
COPY infra/workspace.yaml ./infra/workspace.yaml

RUN useradd --system --uid 10001 dagster && chown -R dagster /opt/dagster/home
USER dagster
EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "covid_assets.code_location", "--location-name", "covid_assets"]
