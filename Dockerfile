# The production image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COGMILL_DATA_DIR=/data \
    COGMILL_REQUIRE_SECRET_KEY=1

# bubblewrap: the sandbox every model runs in (runner/sandbox.py). Its containers need
# --cap-add SYS_ADMIN and --security-opt seccomp=unconfined (or a profile that allows namespaces),
# as docker-compose.yml gives them; without a sandbox only staff may push (COGMILL_PUSH).
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
