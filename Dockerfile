# The service's image: the same `itsm` command the tests run, with exactly the locked dependencies.
# It takes the whole tree but what .dockerignore leaves out (tests/unit/test_image.py rebuilds the
# image's files from these steps and imports the app from them alone).
FROM python:3.11-slim
ENV UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# The dependencies first, in a layer of their own that a change of code does not rebuild.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
RUN uv sync --locked --no-dev && useradd --system --home /app itsm && mkdir /data \
    && chown itsm /data
USER itsm
ENV ITSM_DATA_DIR=/data
ENTRYPOINT ["/app/.venv/bin/itsm"]
