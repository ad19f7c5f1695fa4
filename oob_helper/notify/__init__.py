"""Notifications of lifecycle events: a webhook and email, throttled across the deployment.

- ``settings``: the ``notify_*`` settings, checked at the edge (pure, imported with the config);
- ``notifier``: ``Notifier``, the lifecycle subscriber, and its store-held throttle;
- ``webhook`` and ``email``: the two channels; ``delivery``: their bounded retries.

Nothing is imported here, so loading the settings does not load smtplib, ssl or httpx.
"""
