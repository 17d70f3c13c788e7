FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vocab vocab
COPY router router
COPY classifiers classifiers
COPY connectors connectors
RUN pip install --no-cache-dir .
CMD ["router", "worker"]
