# One image for every Python process (api, worker, beat, flower); compose picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Compilers for packages that build from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# The CPU build of torch first, so sentence-transformers does not pull the CUDA one (GBs).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r requirements.txt
COPY . .
# The project itself (editable, like `make install`): console scripts import it from any directory.
RUN pip install --no-deps --no-build-isolation -e .
RUN useradd --create-home --uid 1000 app && mkdir -p /app/instance && chown -R app /app/instance
USER app

EXPOSE 8000
CMD ["gunicorn", "wsgi:app", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8", "--access-logfile", "-"]
