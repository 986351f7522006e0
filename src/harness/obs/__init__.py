"""Observability as code: the metrics catalogue, SLO-driven alert rules, Alertmanager routing,
Grafana dashboards, and the real Prometheus / Alertmanager servers that prove them."""
