# kubeheal's container image: slim Python, a virtualenv with kubeheal and its runtime
# dependencies only, running as an unprivileged user (uid 65532) on a read-only root
# filesystem (the Deployment mounts /tmp as an emptyDir).
#
#   docker build -t ghcr.io/kubeheal/kubeheal:0.1.0 .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/kubeheal \
 && /opt/kubeheal/bin/pip install --upgrade pip \
 && /opt/kubeheal/bin/pip install .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="kubeheal" \
      org.opencontainers.image.description="A self-healing operator for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/kubeheal/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/kubeheal /opt/kubeheal
RUN groupadd --system --gid 65532 kubeheal \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin kubeheal
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["kubeheal"]
CMD ["run", "--leader-elect"]
