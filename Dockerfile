# The service's image: the same `itsm` command the tests run, with exactly the locked dependencies.
FROM python:3.11-slim
ENV UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY consumers consumers
COPY infra infra
RUN uv sync --locked --no-dev && useradd --system --home /app itsm && mkdir /data \
    && chown itsm /data
USER itsm
ENV ITSM_DATA_DIR=/data
ENTRYPOINT ["/app/.venv/bin/itsm"]
