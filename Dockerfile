# partnerbot's container image: one image, two process types (see docs/deploy.md).
#   docker build -t partnerbot .
#   docker run ... partnerbot serve        the web server (Teams, Slack, /healthz, /readyz, /metrics)
#   docker run ... partnerbot worker       the delivery engine
#   docker run ... partnerbot db upgrade   the migrations, once per release, before the others
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/tmp/matplotlib

# The install CI runs (Makefile: pip upgrade, then pip install of this project), without -e:
# the image holds the built package, not the checkout.
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY config ./config
COPY storage ./storage
COPY dialogs ./dialogs
COPY scheduler ./scheduler
COPY bot ./bot
RUN python -m pip install --upgrade pip \
    && python -m pip install . \
    && python -m pip check

RUN useradd --system --uid 10001 --create-home --home-dir /srv/partnerbot partnerbot
WORKDIR /srv/partnerbot
USER partnerbot

ENV PARTNERBOT_ENV=production \
    PARTNERBOT_HOST=0.0.0.0 \
    PARTNERBOT_PORT=3978
EXPOSE 3978
STOPSIGNAL SIGTERM
ENTRYPOINT ["partnerbot"]
CMD ["serve"]
