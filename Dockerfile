# One image for the API and the workers; the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY workers workers
COPY pipeline pipeline
COPY core core
COPY cli cli
COPY migrations migrations
ARG EXTRAS=""
RUN pip install ".${EXTRAS}"
RUN useradd --create-home deepfake
USER deepfake
EXPOSE 8000
CMD ["deepfake", "api", "--host", "0.0.0.0", "--port", "8000"]
