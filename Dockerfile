# The production image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COGMILL_DATA_DIR=/data

# bubblewrap: the sandbox every model runs in (runner/sandbox.py). A worker container needs
# --security-opt seccomp=unconfined (or a profile allowing unshare/clone of namespaces) and
# --cap-add SYS_ADMIN, or unprivileged user namespaces on the host; the web image does not.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cogmill cogmill
COPY accounts accounts
COPY playground playground
COPY api api
COPY runner runner
COPY examples examples
COPY templates templates
COPY static static
COPY manage.py ./
RUN pip install --no-cache-dir -e . && mkdir -p /data

EXPOSE 8000
CMD ["uvicorn", "cogmill.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
