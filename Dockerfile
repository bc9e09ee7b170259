# The sendai-server image (docs/container.md). `make image`, or on any machine with Docker:
#
#   docker build -t sendai-server .
#   docker run -p 8000:8000 sendai-server
#
# PYTHON_IMAGE is the base: any image with python3 (3.11 or newer, with venv) on its PATH.
# Where none can be pulled, `docker/local-base` makes one from Debian's packages.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- 1. wheels, resolved and built by the base's own Python, installed into /opt/sendai ----------
# The base's interpreter resolves the dependencies, so environment markers are evaluated for
# the Python that will run them (bookworm's 3.11.2 needs async-timeout for redis; 3.11.7 does
# not) and binary wheels are picked for its platform. Only this stage reaches the network.
FROM ${PYTHON_IMAGE} AS wheels
# A machine that reaches the package index through a TLS-inspecting proxy passes that
# proxy's CA certificates as PEM text (make image does, from /usr/local/share/ca-certificates),
# and PIP_INDEX_URL for an index other than PyPI. Neither reaches the final image.
ARG PIP_EXTRA_CA_CERTS
ARG PIP_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=/build/ca.pem
RUN python3 -m venv /build \
 && /build/bin/python -c "import pip._vendor.certifi as c, sys; sys.stdout.write(open(c.where()).read())" > /build/ca.pem \
 && printf '%s\n' "${PIP_EXTRA_CA_CERTS:-}" >> /build/ca.pem \
 && /build/bin/pip install "setuptools>=68" wheel
WORKDIR /src
# Dependencies first, from setup.cfg alone: this layer is rebuilt only when they change.
COPY setup.cfg pyproject.toml ./
RUN /build/bin/python -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); print(c['options']['install_requires'])" > requirements.txt \
 && /build/bin/pip wheel --wheel-dir /wheels -r requirements.txt
COPY README.md ./
COPY migrations migrations
COPY sendai_server sendai_server
# The project's wheel, then a virtual environment from /wheels alone (--no-index: a
# dependency missing there fails the build here, not the container at run time), without pip.
RUN /build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python3 -m venv /opt/sendai \
 && /opt/sendai/bin/pip install --no-index --find-links /wheels sendai-server \
 && /opt/sendai/bin/pip uninstall --yes pip setuptools

# --- 2. the image: the base, a user, the virtual environment, the entrypoint ---------------------
# No compiler, no pip, no cache, no wheels, no test dependency; needs no network.
FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin sendai \
 && mkdir -p /data \
 && chown sendai:sendai /data
COPY --from=wheels /opt/sendai /opt/sendai
COPY docker/entrypoint /opt/sendai/bin/sendai-entrypoint
# The SQLite database and the files live in the volume; every other variable of docs/configuration.md
# works as on a host (DATABASE_URL=postgresql://..., SENDAI_STORAGE_URL=s3://...).
ENV PATH=/opt/sendai/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/sendai.db \
    SENDAI_STORAGE_URL=/data/files \
    SENDAI_BIND=0.0.0.0:8000 \
    SENDAI_PUBLIC_URL=http://127.0.0.1:8000
WORKDIR /home/sendai
VOLUME /data
USER sendai
EXPOSE 8000
# The standard library's urllib: no curl in the image. A 503 (database unreachable, schema
# not migrated) raises HTTPError, so the probe fails.
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('SENDAI_BIND', ':8000').rpartition(':')[2], timeout=3)"]
# What `make run` does, or the command given (`docker run IMAGE sendai-server worker`); a
# `docker stop` ends either with status 0 (docker/entrypoint says how).
ENTRYPOINT ["sendai-entrypoint"]
