# tfstack's embedded server (and the one-shot `export` job of docker-compose.yml):
# slim Python, the project with all its extras (training, export, serving) and no
# test tools, run as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    TF_ENABLE_ONEDNN_OPTS=0

RUN useradd --create-home --uid 10001 tfstack

WORKDIR /src
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY models ./models
COPY export ./export
COPY serving ./serving
COPY clients ./clients
COPY tfstack ./tfstack
RUN pip install --no-cache-dir "./[all]"

USER 10001
WORKDIR /models
EXPOSE 8500 8501
# The health check asks the gRPC health service (grpc and protobuf only, no TensorFlow).
# Against a secured server set, as for the tfstack client commands:
#   TFSTACK_TLS_CA (PEM CA file), TFSTACK_TLS_SERVER_NAME (a name the certificate carries,
#   since the check dials 127.0.0.1), TFSTACK_TLS_CERT + TFSTACK_TLS_KEY (mutual TLS),
#   TFSTACK_TOKEN_FILE (bearer token); TFSTACK_HEALTH_TARGET if --port is not 8500.
ENV TFSTACK_HEALTH_TARGET=127.0.0.1:8500
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD ["python", "-m", "clients.healthcheck", "--timeout", "4"]
ENTRYPOINT ["tfstack", "serve"]
CMD ["--host=0.0.0.0", "--rest_api_port=8501", \
     "--model_config_file=/models/serving/tfserving/models.config"]
