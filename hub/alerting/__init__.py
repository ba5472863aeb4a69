"""Alerts that reach a person (docs/hub/alerts.md, decision 0045): the fleet's alerts in one place (fleet.py),
who hears of what (routing.py), when each level of a rule is due (escalation.py), the mail outbox and SMTP
(mailer.py), and the scheduled job that runs them in that order (job.py)."""
