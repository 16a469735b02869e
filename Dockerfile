# tfstack's embedded server (and the one-shot `export` job of docker-compose.yml):
# slim Python, the project installed without test tools, run as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    TF_ENABLE_ONEDNN_OPTS=0

RUN useradd --create-home --uid 10001 tfstack

WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY export ./export
COPY serving ./serving
COPY clients ./clients
RUN pip install --no-cache-dir ./

USER 10001
WORKDIR /models
EXPOSE 8500 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD ["tfstack", "status", "classifier", "--deadline", "4"]
ENTRYPOINT ["tfstack", "serve"]
CMD ["--host=0.0.0.0", "--rest_api_port=8501", "--model_config_file=serving/models.config"]
