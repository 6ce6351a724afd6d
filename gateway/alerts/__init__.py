"""Alerts: tell administrators by e-mail and webhook what went wrong since the last run, in one digest each.

What is alerted: a message that failed or was dead-lettered, a process past its deadline, an XTA peer or a
DMS adapter that is down, a certificate close to its expiry. One run (:func:`gateway.alerts.run.run_alerts`,
from ``xgw serve`` / ``xgw worker`` every ``alerts.interval_seconds`` and from ``xgw alerts run``):

1. :mod:`~gateway.alerts.collect` turns what happened into ``alert_item`` rows -- failures by a cursor over
   ``message_event`` ids, standing conditions once while they last (``alert_condition``) -- in the
   transaction that moves the cursor, so a restart neither repeats nor loses anything;
2. :mod:`~gateway.alerts.recipients` says who receives which items (global addresses and gateway admins
   everything, a participant admin its participant's);
3. :mod:`~gateway.alerts.digest` makes one digest per recipient: counts per kind and the first examples;
4. :mod:`~gateway.alerts.send_mail` (SMTP with STARTTLS) and :mod:`~gateway.alerts.send_webhook` (HTTPS
   POST of JSON, HMAC-signed) deliver it; each recipient's cursor (``alert_recipient``) moves only when
   its digest was accepted, so a mail server that is down gets everything at the next run.

The package reads the store and the pipeline; only the faces and the wiring (the CLI) import it.
"""
